"""The course as nbgrader sees it: its configuration, its assignments and the exercises in each.

An assignment is solutions/NN_name/NN_name.ipynb (one notebook per assignment). An exercise is an
autograded answer cell (nbgrader "solution" cell) with the test cells ("grade" cells) that follow it;
its name is the answer cell's grade_id.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.coursedir import CourseDirectory
from traitlets import Unicode
from traitlets.config import Config, Configurable, PyFileConfigLoader

from utils import settings

CONFIG_FILE = "nbgrader_config.py"


class CourseError(Exception):
    """A problem with the user's input or the course's files: the CLI prints it as one line."""


class CourseSettings(Configurable):
    """Our own settings in nbgrader_config.py (nbgrader ignores this section)."""

    grading_directory = Unicode("", help="Where submissions, feedback and the gradebook live.").tag(config=True)


@dataclass(frozen=True)
class Exercise:
    name: str  # the answer cell's grade_id
    answer_id: str | None  # None for test cells that precede every answer cell
    test_ids: list[str] = field(default_factory=list)
    max_points: float = 0.0


def nbgrader_meta(cell) -> dict:
    """A cell's nbgrader metadata, or {} when absent or not a dict (learners can write anything there)."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def exercises_of(notebook) -> list[Exercise]:
    """The exercises of a source (or released) notebook, in order."""
    exercises: list[Exercise] = []
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if meta.get("solution") and not meta.get("grade"):
            exercises.append(Exercise(grade_id, grade_id))
        elif meta.get("grade"):
            if not exercises or (meta.get("solution")):  # a manually graded answer is its own exercise
                exercises.append(Exercise(grade_id, None))
            current = exercises[-1]
            exercises[-1] = Exercise(current.name, current.answer_id, current.test_ids + [grade_id],
                                     current.max_points + float(meta.get("points", 0)))
    return exercises


def read_notebook(path: Path, fix: str = "restore it from a checkpoint (File > Revert) or git"):
    """The notebook at path, or a CourseError that says what is wrong with the file (and, for a file that is
    not JSON, `fix`: what to do about it)."""
    path = Path(path)
    if not path.exists():
        raise CourseError(f"{path}: no such file")
    if path.is_dir() or path.suffix != ".ipynb":
        raise CourseError(f"{path}: not a notebook (expected a .ipynb file)")
    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
    except nbformat.reader.NotJSONError:
        raise CourseError(f"{path}: not valid JSON; {fix}") from None
    except (nbformat.ValidationError, AttributeError, KeyError, TypeError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CourseError(f"{path}: not a valid notebook ({first_line})") from None
    return notebook


class Course:
    """A course directory: its nbgrader configuration, assignments and grading directory."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root or _default_root()).resolve()
        if not (self.root / CONFIG_FILE).is_file():
            raise CourseError(f"{self.root}: no {CONFIG_FILE} here; run the command from the course repository")
        self.config = PyFileConfigLoader(CONFIG_FILE, path=str(self.root)).load_config()
        # The config file places the course where it lives; a copy of it in another directory (tests)
        # describes that directory.
        self.config.CourseDirectory.root = str(self.root)
        grading = CourseSettings(config=self.config).grading_directory
        self.grading_dir = Path(grading or self.root / "grading")
        coursedir = self.coursedir()
        self.source_dir = Path(coursedir.root) / coursedir.source_directory
        self.release_dir = Path(coursedir.root) / coursedir.release_directory
        self.db_url = coursedir.db_url

    def coursedir(self, **overrides) -> CourseDirectory:
        """nbgrader's CourseDirectory for this course, with some settings replaced (e.g. another gradebook)."""
        config = Config(self.config)
        for name, value in overrides.items():
            setattr(config.CourseDirectory, name, value)
        return CourseDirectory(config=config)

    def assignments(self) -> list[str]:
        """Every assignment: a folder of solutions/ holding a notebook of the same name."""
        if not self.source_dir.is_dir():
            return []
        return sorted(path.name for path in self.source_dir.iterdir() if (path / f"{path.name}.ipynb").is_file())

    def require(self, assignment: str) -> str:
        """assignment itself if the course has it, else a CourseError listing the ones it has."""
        if assignment not in self.assignments():
            known = ", ".join(self.assignments()) or "none yet"
            raise CourseError(f"no assignment named {assignment!r} in {self.source_dir} (the course has: {known})")
        return assignment

    def source_notebook(self, assignment: str) -> Path:
        return self.source_dir / assignment / f"{assignment}.ipynb"

    def release_notebook(self, assignment: str) -> Path:
        return self.release_dir / assignment / f"{assignment}.ipynb"

    def assignment_for(self, notebook: Path) -> str:
        """The assignment a learner's notebook belongs to: by file name, else by its folder's name."""
        notebook = Path(notebook)
        for name in (notebook.stem, notebook.resolve().parent.name):
            if name in self.assignments():
                return name
        known = ", ".join(self.assignments()) or "none yet"
        raise CourseError(
            f"{notebook}: not one of the course's assignments ({known}); grade the notebook in "
            "lessons/NN_name/NN_name.ipynb, or a copy named like it"
        )


def _default_root() -> Path:
    """The course in the current directory if there is one (as nbgrader does), else this repository."""
    here = Path.cwd()
    return here if (here / CONFIG_FILE).is_file() else settings.REPO_ROOT


def kernel_readable(course_root: Path) -> list[str]:
    """What a sandboxed grading kernel reads from the course besides Python: the packages it imports and the
    datasets (utils.data reads $CNN_COURSE_DATA and $CNN_COURSE_CACHE, by default the data/ folder beside
    utils/). Nothing else of the course, solutions/ and grading/ least of all."""
    roots = dict.fromkeys([Path(course_root).resolve(), settings.REPO_ROOT])
    folders = [root / name for root in roots for name in ("utils", "autograde", "data")]
    folders += [settings.data_root(), settings.cache_dir()]
    return [str(folder) for folder in dict.fromkeys(folders) if folder.is_dir()]


def kernel_pythonpath(course_root: Path) -> str:
    """PYTHONPATH for grading kernels: the course (for `utils`) and this package, before anything else."""
    inherited = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    entries = [str(course_root), str(settings.REPO_ROOT), *inherited]
    return os.pathsep.join(dict.fromkeys(entries))
