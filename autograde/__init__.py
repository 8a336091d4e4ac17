"""Grading for the course, on top of nbgrader: the `autograde` command and the protections nbgrader lacks.

See autograde/__main__.py for the commands, nbgrader_config.py for the configuration, and
autograde/preprocessors.py for how grading stays fair when a notebook misbehaves.
"""
