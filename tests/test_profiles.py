"""Run-profile selection and budgets."""

import pytest
import torch

from utils import profiles
from utils.profiles import BUDGETS, PROFILES, active_profile, budget


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("CNN_COURSE_PROFILE", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    return monkeypatch


def test_explicit_variable_wins_over_everything(clean_env):
    clean_env.setenv("NBGRADER_EXECUTION", "autograde")
    clean_env.setattr(torch.cuda, "is_available", lambda: True)
    clean_env.setenv("CNN_COURSE_PROFILE", "cpu")
    assert active_profile() == "cpu"
    clean_env.setenv("CNN_COURSE_PROFILE", " FULL ")
    assert active_profile() == "full"


def test_nbgrader_execution_means_smoke(clean_env):
    clean_env.setattr(torch.cuda, "is_available", lambda: True)
    clean_env.setenv("NBGRADER_EXECUTION", "autograde")
    assert active_profile() == "smoke"


@pytest.mark.parametrize("cuda, expected", [(True, "full"), (False, "cpu")])
def test_hardware_decides_otherwise(clean_env, cuda, expected):
    clean_env.setattr(torch.cuda, "is_available", lambda: cuda)
    assert active_profile() == expected


def test_a_wrong_profile_name_says_which_exist(clean_env):
    clean_env.setenv("CNN_COURSE_PROFILE", "fast")
    with pytest.raises(ValueError, match="smoke, cpu, full"):
        active_profile()
    with pytest.raises(ValueError, match="no budget for lesson"):
        budget("99_transformers", "cpu")


def test_budgets_grow_from_smoke_to_full_for_every_lesson():
    def size(value, whole=10**9):
        return whole if value is None else value

    for lesson, per_profile in BUDGETS.items():
        assert set(per_profile) == set(PROFILES)
        smoke, cpu, full = (per_profile[p] for p in PROFILES)
        assert size(smoke.train_size) <= size(cpu.train_size) <= size(full.train_size), lesson
        assert smoke.epochs <= cpu.epochs <= full.epochs, lesson
        assert smoke.train_size is not None and smoke.train_size <= 2_048, f"{lesson}: smoke must stay tiny"


def test_budget_reads_the_active_profile(clean_env):
    clean_env.setenv("CNN_COURSE_PROFILE", "smoke")
    assert budget("01_lenet5") == profiles.BUDGETS["01_lenet5"]["smoke"]
