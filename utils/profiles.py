"""Run profiles: how much a notebook trains.

    smoke  CI and grading: seconds per notebook, tiny subsets, one epoch
    cpu    a laptop: minutes per lesson, still meaningful accuracy
    full   a GPU: all the data, 30 epochs (10 in lesson 01, 50 in lesson 05): the papers' recipes shortened to minutes

`active_profile()` decides which one applies; `budget(lesson)` says how much data and how many epochs
a lesson's training run gets under it, `measuring_seconds()` how long its speed measurements may take.
Every number lives in this file (BUDGETS, MEASURING_SECONDS) and nowhere else.
Graded cells never depend on the profile.
"""

import os
from dataclasses import dataclass, replace

import torch

from .settings import profile_name

PROFILES = ("smoke", "cpu", "full")
PROFILE_VARIABLE = "CNN_COURSE_PROFILE"  # utils.settings reads it


def active_profile() -> str:
    """CNN_COURSE_PROFILE wins; nbgrader's execution means smoke; a CUDA GPU means full; else cpu."""
    explicit = profile_name()
    if explicit:
        if explicit not in PROFILES:
            raise ValueError(
                f"{PROFILE_VARIABLE}={explicit!r} is not a run profile; use one of {', '.join(PROFILES)}."
            )
        return explicit
    # nbgrader sets NBGRADER_EXECUTION (to "autograde" or "validate") in the kernels it runs.
    if os.environ.get("NBGRADER_EXECUTION"):
        return "smoke"
    return "full" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class Budget:
    """How much one training run gets. None for a size means the whole split."""

    train_size: int | None
    test_size: int | None
    epochs: int
    batch_size: int


# The default budget of each profile; lessons override single fields below.
_DEFAULTS = {
    "smoke": Budget(train_size=1024, test_size=512, epochs=1, batch_size=128),
    "cpu": Budget(train_size=10_000, test_size=2_000, epochs=3, batch_size=128),
    "full": Budget(train_size=None, test_size=None, epochs=30, batch_size=512),
}

# Per-lesson overrides as plain data: {lesson: {profile: {field: value}}}.
# cpu budgets aim at a few minutes on a 2-core laptop; full budgets follow the papers' recipes
# shortened to what one GPU does in minutes.
_OVERRIDES = {
    "01_lenet5": {
        "cpu": {"train_size": None, "test_size": None, "epochs": 2},
        "full": {"epochs": 10, "batch_size": 256},
    },
    "02_alexnet": {"cpu": {"train_size": 10_000, "epochs": 3}},
    "03_vgg": {"cpu": {"train_size": 5_000, "epochs": 3}},
    "04_inception": {"cpu": {"train_size": 5_000, "epochs": 2}},
    # 10 epochs: at 3, ResNet-56 had not yet overtaken plain-20 (the lesson's degradation experiment), ~5 min.
    "05_resnet": {"cpu": {"train_size": 5_000, "epochs": 10}, "full": {"epochs": 50}},
    "06_resnext": {"cpu": {"train_size": 3_000, "epochs": 2}},
    "07_densenet": {"cpu": {"train_size": 3_000, "epochs": 2}},
    # ten networks race in one notebook: the smoke run trains each on a few batches only
    "08_comparison": {"smoke": {"train_size": 256, "test_size": 256}, "cpu": {"train_size": 5_000, "epochs": 2}},
}

BUDGETS: dict[str, dict[str, Budget]] = {
    lesson: {profile: replace(_DEFAULTS[profile], **changes.get(profile, {})) for profile in PROFILES}
    for lesson, changes in _OVERRIDES.items()
}
BUDGETS["default"] = dict(_DEFAULTS)


# Seconds a lesson may spend timing models (lesson 08's table of forward speeds), measuring cheapest first.
# On a GPU a minute times every network; on a CPU 100 s times all but the costliest.
MEASURING_SECONDS = {"smoke": 5, "cpu": 100, "full": 60}


def measuring_seconds(profile: str | None = None) -> float:
    """How long speed measurements may take under `profile` (the active profile when None)."""
    return MEASURING_SECONDS[profile or active_profile()]


def budget(lesson: str = "default", profile: str | None = None) -> Budget:
    """The training budget of `lesson` under `profile` (the active profile when None)."""
    profile = profile or active_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown run profile {profile!r}; use one of {', '.join(PROFILES)}.")
    if lesson not in BUDGETS:
        raise ValueError(f"no budget for lesson {lesson!r}; known: {', '.join(sorted(BUDGETS))}.")
    return BUDGETS[lesson][profile]
