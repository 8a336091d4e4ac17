"""Every setting the course reads from the environment, with its default, in one place.

    python -m utils.settings          # each variable: what it sets, its default, and its value here

Each setting is a function that reads the environment when it is called, so a variable set later (by a
notebook, a test, the grader) is heard. Nothing here imports torch: nbgrader_config.py reads it too.
Paths default to folders of the repository (REPO_ROOT), all git-ignored; nbgrader's settings take the
course's root, which is this repository unless a course was copied elsewhere (the tests do that).
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# name: (what it sets, its default in words). Documentation only: the defaults themselves are in the
# functions below, one function per variable.
VARIABLES = {
    "CNN_COURSE_DATA": ("where datasets are found, and downloaded to", "<repo>/data"),
    "CNN_COURSE_CACHE": ("where decoded image folders are cached (the data root may be read-only)",
                         "<repo>/data/cache"),
    "CNN_COURSE_CHECKPOINTS": ("where fit(checkpoint=True) and the command line keep runs", "<repo>/checkpoints"),
    "CNN_COURSE_PROFILE": ("how much notebooks train: smoke, cpu or full",
                           "smoke under nbgrader, full with a CUDA GPU, else cpu"),
    "CNN_COURSE_DEVICE": ("the device to train on: cuda, cuda:1, mps or cpu", "the fastest present"),
    "CNN_COURSE_FULL_TRACEBACKS": ("1: show the checks' own frames in learners' tracebacks", "hidden"),
    "CNN_COURSE_GRADING": ("the grading directory (submitted/, autograded/, feedback/, gradebook)", "<repo>/grading"),
    "CNN_COURSE_DB_URL": ("the gradebook as an SQLAlchemy URL, e.g. postgresql+psycopg2://user@host/db",
                          "sqlite in the grading directory"),
    "CNN_COURSE_CELL_TIMEOUT": ("seconds one cell may run while grading", "120"),
    "CNN_COURSE_KERNEL_MEMORY_MB": ("memory one grading kernel may allocate, in MiB", "half of this machine's"),
    "CNN_COURSE_COURSE_ID": ("the course's id in nbgrader's exchange", "cnn-course"),
    "CNN_COURSE_EXCHANGE": ("nbgrader's exchange, shared by the instructor and every learner",
                            "<grading directory>/exchange"),
    "CNN_COURSE_FETCHED": ("where a learner's fetched lessons and feedback go", "<repo>/fetched"),
}  # fmt: skip


# The settings of a class's grading: a test or a benchmark that grades a course of its own unsets them, so that
# it never grades into a real class's gradebook or exchange set in the developer's shell.
GRADING_VARIABLES = (
    "CNN_COURSE_GRADING", "CNN_COURSE_DB_URL", "CNN_COURSE_CELL_TIMEOUT", "CNN_COURSE_KERNEL_MEMORY_MB",
    "CNN_COURSE_COURSE_ID", "CNN_COURSE_EXCHANGE", "CNN_COURSE_FETCHED",
)  # fmt: skip


def _get(name: str) -> str | None:
    """The variable's value, or None when it is unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def _path(name: str, default: Path) -> Path:
    value = _get(name)
    return Path(value).expanduser() if value else default


def _whole_number(name: str, unit: str) -> int | None:
    value = _get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise ValueError(f"{name}={value!r} is not a positive whole number of {unit}; set it to e.g. 120, or unset it.")
    return number


# ---- data, training, notebooks


def data_root() -> Path:
    return _path("CNN_COURSE_DATA", REPO_ROOT / "data")


def cache_dir() -> Path:
    return _path("CNN_COURSE_CACHE", REPO_ROOT / "data" / "cache")


def checkpoint_root() -> Path:
    return _path("CNN_COURSE_CHECKPOINTS", REPO_ROOT / "checkpoints")


def profile_name() -> str | None:
    """The run profile asked for, lower-cased, or None (utils.profiles decides and checks the name)."""
    value = _get("CNN_COURSE_PROFILE")
    return value.lower() if value else None


def device_name() -> str | None:
    """The device asked for, or None (utils.device picks the fastest present)."""
    return _get("CNN_COURSE_DEVICE")


def full_tracebacks() -> bool:
    return (_get("CNN_COURSE_FULL_TRACEBACKS") or "").lower() not in ("", "0", "false", "no")


# ---- grading (read by nbgrader_config.py)


def grading_dir(course_root: Path = REPO_ROOT) -> Path:
    return _path("CNN_COURSE_GRADING", Path(course_root) / "grading").resolve()


def database_url(course_root: Path = REPO_ROOT) -> str:
    return _get("CNN_COURSE_DB_URL") or f"sqlite:///{grading_dir(course_root) / 'gradebook.db'}"


def cell_timeout() -> int:
    return _whole_number("CNN_COURSE_CELL_TIMEOUT", "seconds") or 120


def kernel_memory_mb() -> int | None:
    """None: the grader's own default (half of this machine's memory, see autograde.kernel_guard)."""
    return _whole_number("CNN_COURSE_KERNEL_MEMORY_MB", "MiB")


def course_id() -> str:
    return _get("CNN_COURSE_COURSE_ID") or "cnn-course"


def exchange_dir(course_root: Path = REPO_ROOT) -> Path:
    return _path("CNN_COURSE_EXCHANGE", grading_dir(course_root) / "exchange").resolve()


def fetched_dir(course_root: Path = REPO_ROOT) -> Path:
    return _path("CNN_COURSE_FETCHED", Path(course_root) / "fetched").resolve()


def describe() -> str:
    """A table of every variable: what it sets, its default, and its value in this environment."""
    lines = []
    for name, (meaning, default) in VARIABLES.items():
        value = os.environ.get(name)
        lines += [f"{name}", f"    {meaning}", f"    default: {default}; here: {value if value else '(unset)'}"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
