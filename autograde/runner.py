"""Running nbgrader itself (its Python API, in this process) for a course, with one-line errors."""

import logging
import os
import sys
import warnings
from pathlib import Path

from nbgrader.apps.api import NbGraderAPI
from nbgrader.converters import GenerateAssignment
from nbgrader.utils import capture_log, temp_attrs
from traitlets.config import Config

from .course import Course, CourseError


def quiet_nbgrader() -> None:
    """nbgrader logs through the 'traitlets' logger; we keep its log in files and print our own summary."""
    logger = logging.getLogger("traitlets")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    # SQLAlchemy 2.x warns about nbgrader's session use; harmless, and it would clutter every command.
    warnings.filterwarnings("ignore", module="sqlalchemy")
    warnings.filterwarnings("ignore", message=".*not in session.*")
    # nbgrader creates a gradebook by running the `alembic` command, found on PATH: make it find the one
    # installed next to this Python even when its environment is not activated.
    scripts = os.path.dirname(sys.executable)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


class NbGrader:
    """nbgrader's API for one course, with some CourseDirectory settings replaced (e.g. a private gradebook)."""

    def __init__(self, course: Course, log_file: Path, **coursedir_overrides):
        self.course = course
        self.coursedir = course.coursedir(**coursedir_overrides)
        self.api = NbGraderAPI(coursedir=self.coursedir, config=self.coursedir.config)
        self.log_file = Path(log_file)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)

    def _run(self, what: str, result: dict) -> None:
        with self.log_file.open("a") as log:
            log.write(f"==== {what}\n{result.get('log', '')}\n{result.get('error') or ''}\n")
        if not result["success"]:
            lines = [line for line in (result.get("log", "") + "\n" + (result.get("error") or "")).splitlines()
                     if line.startswith("[ERROR]") or "Error:" in line]
            reason = lines[0].removeprefix("[ERROR] ") if lines else "see the log"
            raise CourseError(f"nbgrader could not {what}: {reason} (full log: {self.log_file})")

    def generate_assignment(self, assignment: str, with_database: bool = True) -> None:
        """nbgrader generate_assignment --force (and --no-db unless with_database)."""
        with temp_attrs(self.coursedir, assignment_id=assignment):
            app = GenerateAssignment(coursedir=self.coursedir, parent=self.api)
            app.force = True
            app.create_assignment = True
            if not with_database:  # what `nbgrader generate_assignment --no-db` sets
                app.update_config(Config(SaveCells={"enabled": False}, GenerateAssignment={"no_database": True}))
            self._run(f"generate the assignment {assignment}", capture_log(app))

    def autograde(self, assignment: str, student: str, force: bool = True) -> None:
        self._run(f"autograde {student}/{assignment}", self.api.autograde(assignment, student, force=force))

    def generate_feedback(self, assignment: str, student: str | None = None) -> None:
        self._run(f"generate feedback for {assignment}", self.api.generate_feedback(assignment, student, force=True))

    def path(self, kind: str, student: str, assignment: str) -> Path:
        """A notebook's path in the submitted/autograded/feedback folder (kind) of this run."""
        folder = getattr(self.coursedir, f"{kind}_directory")
        extension = ".html" if kind == "feedback" else ".ipynb"
        return Path(self.coursedir.format_path(folder, student, assignment)) / f"{assignment}{extension}"
