"""Helpers shared by the test modules of tests/, as fixtures (the repository root's conftest.py sets up the
environment every test runs in).

Fixtures, not functions to import: neither the repository root nor tests/ is a package, so both conftest.py
files are modules named `conftest`, and `from conftest import ...` would get whichever one pytest loaded last.
pytest finds fixtures by name, in every worker of `pytest -n 2 --dist loadscope`. Fixtures that hand out a
function (num_params, randomize_batchnorm, free_port, run_autograde, ...) are session-scoped, so that
module-scoped fixtures can use them too. The repository's root is utils.settings.REPO_ROOT.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from utils.settings import GRADING_VARIABLES

# ---- model tests: parameter counts, BatchNorm that shows ----


def _num_params(module: torch.nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


@pytest.fixture(scope="session")
def num_params():
    """num_params(model): how many numbers a model (or a layer) holds as parameters, the figure torchvision and
    the papers publish; num_params(model, trainable_only=True) leaves out frozen ones (LeNet-5's RBF codes)."""
    return _num_params


def _randomize_batchnorm(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)


@pytest.fixture(scope="session")
def randomize_batchnorm():
    """randomize_batchnorm(model): gives every BatchNorm2d non-trivial statistics and affine parameters (drawn
    from torch's global generator), in place. At its initial state BatchNorm is the identity in eval mode, which
    would hide one in the wrong place when two implementations are compared."""
    return _randomize_batchnorm


# ---- processes, ports and environments of the grading and server tests ----

NBGRADER = Path(sys.executable).parent / "nbgrader"  # the environment's own, whatever PATH says


@pytest.fixture(scope="session")
def environ_without_grading():
    """environ_without_grading(**overrides): this process's environment as it is now, without
    GRADING_VARIABLES, with `overrides` set; a new dict each call."""

    def make(**overrides: str) -> dict[str, str]:
        return {name: value for name, value in os.environ.items() if name not in GRADING_VARIABLES} | overrides

    return make


@pytest.fixture(scope="session")
def free_port():
    """free_port(): a TCP port on 127.0.0.1 that no one listens on now (the kernel picks it)."""

    def pick() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    return pick


@pytest.fixture(scope="session")
def run_autograde():
    """run_autograde(course, *args, env=None, timeout=600): `python -m autograde --course COURSE ARGS` run in
    the course's folder, as a learner or an instructor runs it; returns the finished process (text output)."""

    def run(course: Path, *args, env=None, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "autograde", "--course", str(course), *map(str, args)],
                              cwd=course, env=env, capture_output=True, text=True, timeout=timeout)  # fmt: skip

    return run


@pytest.fixture(scope="session")
def run_nbgrader():
    """run_nbgrader(cwd, env, *args, timeout=300): `nbgrader ARGS` in cwd, checked to succeed; returns its
    output (nbgrader logs to stderr)."""

    def run(cwd: Path, env: dict, *args, timeout: float = 300) -> str:
        done = subprocess.run([str(NBGRADER), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
        assert done.returncode == 0, f"nbgrader {' '.join(map(str, args))}:\n{done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    return run
