"""Shared test setup. The test command points CNN_COURSE_DATA at ../shared/data; fall back to it here too,
so that `pytest tests/...` run by hand finds the same real data."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

if "CNN_COURSE_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["CNN_COURSE_DATA"] = str(SHARED_DATA)
# Tests must not depend on what a developer's shell says about profiles or devices.
os.environ.pop("CNN_COURSE_PROFILE", None)
os.environ.setdefault("MPLBACKEND", "Agg")
