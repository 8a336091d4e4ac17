"""Shared test setup. The test command points CNN_COURSE_DATA at ../shared/data; fall back to it here too,
so that `pytest tests/...` run by hand finds the same real data."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

if "CNN_COURSE_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["CNN_COURSE_DATA"] = str(SHARED_DATA)
# Tests run under the smoke profile whatever the developer's shell says.
os.environ["CNN_COURSE_PROFILE"] = "smoke"  # CI and grading budget; profile tests set their own
os.environ.setdefault("MPLBACKEND", "Agg")
