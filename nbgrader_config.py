"""nbgrader configuration of the course (nbgrader, its JupyterLab extension and `autograde` read this file).

nbgrader looks for nbgrader_config.py in the directory it starts in: start JupyterLab and `nbgrader ...`
commands in the repository root. Paths below are absolute, so the course works from there whatever the
current directory of a later command.

    solutions/NN_name/NN_name.ipynb   instructor source (solutions, hidden tests)   -> source_directory
    lessons/NN_name/NN_name.ipynb     released learner notebooks (generated)       -> release_directory
    grading/                          submitted/, autograded/, feedback/, gradebook.db (git-ignored)
    grading/exchange/                 nbgrader's exchange: released lessons, submissions, feedback
    fetched/NN_name/                  a learner's lessons fetched from the exchange, with their feedback

Environment variables (CNN_COURSE_GRADING, CNN_COURSE_DB_URL, CNN_COURSE_CELL_TIMEOUT, ...): utils/settings.py
reads and documents every one; `python -m utils.settings` lists them with their defaults.
"""

import sys
from pathlib import Path

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader import preprocessors as nbgrader_steps

c = get_config()  # noqa: F821 (nbgrader's config loader provides get_config)

ROOT = Path(__file__).resolve().parent
# The settings and the grading protections live in the repository's packages; make them importable even where
# the course was not pip-installed (a JupyterLab started from the repository root).
try:
    import autograde.policy as policy
    import autograde.preprocessors as guards
    from utils import settings
except ImportError:
    sys.path.insert(0, str(ROOT))
    import autograde.policy as policy
    import autograde.preprocessors as guards
    from utils import settings

GRADING = settings.grading_dir(ROOT)
# grading/ is git-ignored, so a fresh clone lacks it, and sqlite cannot create the gradebook in a missing folder.
GRADING.mkdir(parents=True, exist_ok=True)

c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "lessons"
c.CourseDirectory.submitted_directory = str(GRADING / "submitted")
c.CourseDirectory.autograded_directory = str(GRADING / "autograded")
c.CourseDirectory.feedback_directory = str(GRADING / "feedback")
c.CourseDirectory.db_url = settings.database_url(ROOT)
c.CourseSettings.grading_directory = str(GRADING)

# The exchange (`nbgrader release_assignment`, `fetch_assignment`, `submit`, `collect`, `release_feedback`,
# `fetch_feedback`, the formgrader's Release and Collect buttons, the Assignment List). nbgrader's default,
# /usr/local/share/nbgrader/exchange, needs root to create, so the formgrader of a fresh clone had no exchange;
# a class on JupyterHub points CNN_COURSE_EXCHANGE at a folder every account can reach.
EXCHANGE = settings.exchange_dir(ROOT)
if not EXCHANGE.exists():
    try:
        EXCHANGE.mkdir(parents=True)
        EXCHANGE.chmod(0o777)  # what nbgrader requires of an exchange (its course folders guard the submissions)
    except OSError:
        pass  # e.g. a shared folder not mounted here: nbgrader's own commands say so
c.CourseDirectory.course_id = settings.course_id()
c.Exchange.root = str(EXCHANGE)
# Fetched lessons go to one git-ignored folder under JupyterLab's root, not into the repository's top level.
# The Assignment List changes into that folder before it lists anything, so it must exist, and reads this file
# again from there: `./course` puts the repository on Jupyter's config path for that.
FETCHED = settings.fetched_dir(ROOT)
FETCHED.mkdir(parents=True, exist_ok=True)
c.Exchange.assignment_dir = str(FETCHED)

# Learners keep their work in lessons/NN_name/NN_name.ipynb; the stub an answer cell starts with.
c.ClearSolutions.code_stub = {"python": policy.ANSWER_STUB}

# Per cell. Graded cells finish in seconds, but lessons also train small models (the smoke profile while
# grading), and a laptop CPU may be several times slower than CI.
c.Execute.timeout = settings.cell_timeout()

# Autograde = nbgrader's own pipeline with our preprocessors (see autograde/preprocessors.py):
# NormalizeSubmission repairs the nbgrader metadata a learner may have edited and puts deleted test cells
# back, before nbgrader's checks read them; GuardedExecute runs the notebook in a kernel sandboxed by
# bubblewrap, skips answer cells that the static scan flags and regrades around a cell that kills or hangs
# the kernel. Where bubblewrap cannot run, it refuses to grade unless told otherwise:
#     c.GuardedExecute.allow_unsandboxed = True   (or `nbgrader autograde --GuardedExecute.allow_unsandboxed=True`)
c.Autograde.sanitize_preprocessors = [
    nbgrader_steps.ClearOutput,
    guards.NormalizeSubmission,
    nbgrader_steps.DeduplicateIds,
    nbgrader_steps.OverwriteKernelspec,
    nbgrader_steps.OverwriteCells,
    nbgrader_steps.CheckCellMetadata,
]
c.Autograde.autograde_preprocessors = [
    guards.GuardedExecute,
    nbgrader_steps.IgnorePattern,
    ClearMetadataPreprocessor,
    nbgrader_steps.LimitOutput,
    nbgrader_steps.SaveAutoGrades,
    nbgrader_steps.AssignLatePenalties,
    nbgrader_steps.CheckCellMetadata,
]
if settings.kernel_memory_mb():
    c.GuardedExecute.memory_limit_mb = settings.kernel_memory_mb()
