"""utils.settings: every CNN_COURSE_* variable is read there and nowhere else, with the documented defaults."""

import re
from pathlib import Path

import pytest

from utils import settings

# Found from this file's place, unlike the other test modules, which use settings.REPO_ROOT: this one checks it.
REPO = Path(__file__).resolve().parent.parent
# The course's own code: the packages and the nbgrader configuration (tests and benchmarks set variables).
SOURCES = [*REPO.glob("utils/**/*.py"), *REPO.glob("autograde/**/*.py"), REPO / "nbgrader_config.py"]


@pytest.fixture
def clean(monkeypatch):
    for name in settings.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_are_folders_of_the_repository(clean):
    assert settings.REPO_ROOT == REPO
    assert settings.data_root() == REPO / "data"
    assert settings.cache_dir() == REPO / "data" / "cache"
    assert settings.checkpoint_root() == REPO / "checkpoints"
    assert settings.grading_dir() == REPO / "grading"
    assert settings.database_url() == f"sqlite:///{REPO / 'grading' / 'gradebook.db'}"
    assert settings.exchange_dir() == REPO / "grading" / "exchange"
    assert settings.fetched_dir() == REPO / "fetched"
    assert (settings.profile_name(), settings.device_name(), settings.kernel_memory_mb()) == (None, None, None)
    assert (settings.cell_timeout(), settings.course_id(), settings.full_tracebacks()) == (120, "cnn-course", False)


def test_a_variable_set_later_is_heard(clean, tmp_path):
    clean.setenv("CNN_COURSE_GRADING", str(tmp_path / "g"))
    clean.setenv("CNN_COURSE_PROFILE", " Smoke ")
    clean.setenv("CNN_COURSE_CELL_TIMEOUT", "300")
    clean.setenv("CNN_COURSE_FULL_TRACEBACKS", "1")
    assert settings.grading_dir() == tmp_path / "g"
    assert settings.exchange_dir() == tmp_path / "g" / "exchange"  # follows the grading directory
    assert settings.database_url() == f"sqlite:///{tmp_path / 'g' / 'gradebook.db'}"
    assert (settings.profile_name(), settings.cell_timeout(), settings.full_tracebacks()) == ("smoke", 300, True)
    clean.setenv("CNN_COURSE_DATA", "")  # blank counts as unset
    assert settings.data_root() == REPO / "data"


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5"])
def test_a_bad_number_is_one_clear_error(clean, value):
    clean.setenv("CNN_COURSE_KERNEL_MEMORY_MB", value)
    with pytest.raises(ValueError, match=r"CNN_COURSE_KERNEL_MEMORY_MB=.* positive whole number of MiB"):
        settings.kernel_memory_mb()


def test_every_variable_is_documented_and_read_only_in_settings():
    named, read_elsewhere = set(), []
    for path in SOURCES:
        text = path.read_text()
        named |= set(re.findall(r"CNN_COURSE_[A-Z_]+", text))
        if path.name != "settings.py" and re.search(r"environ(\.get)?\(?\[?\s*['\"]CNN_COURSE_", text):
            read_elsewhere.append(str(path.relative_to(REPO)))
    assert named <= set(settings.VARIABLES), f"not in utils.settings.VARIABLES: {named - set(settings.VARIABLES)}"
    assert read_elsewhere == [], "read the variable through utils.settings instead"
    assert set(settings.GRADING_VARIABLES) <= set(settings.VARIABLES)
    described = settings.describe()
    assert all(name in described for name in settings.VARIABLES)
