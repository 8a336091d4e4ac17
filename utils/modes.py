"""A model in eval mode for a while, then back as it was: evaluation, inspection and plots all need this.

    with evaluating(model):
        logits = model(images)          # eval mode (BatchNorm's running statistics, no dropout), no autograd

This module imports only torch, so that any part of utils can use it without an import cycle.
"""

import contextlib
from collections.abc import Iterator

import torch
import torch.nn as nn


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no autograd inside the block; on the way out, even on an exception, every module's own
    training flag is put back. A plain model.train(was_training) would set all of them to the parent's flag,
    and so unfreeze, say, a BatchNorm that was left in eval mode on purpose inside a model in train mode."""
    was_training = model.training
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)  # through any train() the model overrides, as model.eval() went
        for module, flag in flags:  # then each module's own flag
            module.training = flag
