"""Helpers shared by the test files of tests/ (the repository root's conftest.py sets up the environment).

They are fixtures, not importable functions: the root's conftest.py is also a module named "conftest", so
`from conftest import ...` would get whichever of the two pytest loaded last (and pytest-xdist's workers each
load both). A test asks for a helper by naming it as an argument."""

import pytest
import torch

# ---- model tests: parameter counts ------------------------------------------------------------------------


def _num_params(module: torch.nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


@pytest.fixture(scope="session")
def num_params():
    """num_params(model): how many numbers a model (or a layer) holds as parameters, the figure torchvision and
    the papers publish; num_params(model, trainable_only=True) leaves out frozen ones (LeNet-5's RBF codes)."""
    return _num_params


# ---- end of the model tests' block ------------------------------------------------------------------------
