"""Shared test setup for tests/ and the notebooks of solutions/ (nbval), at the root so that it also applies
to `pytest solutions/01_lenet5` or `pytest tests/test_data.py` run by hand. The test command points
CNN_COURSE_DATA at ../shared/data; fall back to it here too, so that such runs find the same real data."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

if "CNN_COURSE_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["CNN_COURSE_DATA"] = str(SHARED_DATA)
# Tests run under the smoke profile whatever the developer's shell says.
os.environ["CNN_COURSE_PROFILE"] = "smoke"  # CI and grading budget; profile tests set their own
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_addoption(parser):
    parser.addoption(
        "--no-browser", action="store_true",
        help="skip the tests that drive JupyterLab in headless Chromium (marked browser); CI runs them",
    )  # fmt: skip


def pytest_collection_modifyitems(config, items):
    # A developer's explicit choice, shown in the summary as skipped; without the flag a missing Chromium fails.
    if not config.getoption("--no-browser"):
        return
    skip = pytest.mark.skip(reason="--no-browser given: JupyterLab browser tests not run")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)
