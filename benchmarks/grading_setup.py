"""What both grading benchmarks do first: require bubblewrap, forget any real class's grading settings, and grade
in the smoke profile with nbgrader's log quiet (as `autograde grade` does)."""

import os
import sys

from autograde.preprocessors import sandbox_unavailable
from autograde.runner import quiet_nbgrader
from utils.settings import GRADING_VARIABLES


def prepare(script: str) -> None:
    """Exit with one line if bubblewrap cannot run here; otherwise set up grading as `autograde grade` does."""
    unavailable = sandbox_unavailable("bwrap")
    if unavailable:
        sys.exit(f"{script}: {unavailable}")
    for name in GRADING_VARIABLES:  # scratch folders and a scratch SQLite gradebook, never a real class's
        os.environ.pop(name, None)
    os.environ.setdefault("CNN_COURSE_PROFILE", "smoke")
    quiet_nbgrader()
