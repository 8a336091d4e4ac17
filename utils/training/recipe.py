"""The training recipe as plain data, and the optimizer and learning-rate schedule it asks for.

A Recipe is everything that decides what training computes (not how fast): it is part of a checkpoint's
key, so changing any field trains anew instead of loading an old result.
"""

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn as nn

from ..profiles import budget

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("onecycle", "cosine", "constant")

# Defaults that depend on the optimizer. SGD's learning rate grows with the batch (the linear scaling rule
# of Goyal et al. 2017): 0.1 for 128 images, the CIFAR ResNet paper's value, so 0.4 for 512. AdamW's does
# not. 3e-3: on LeNet-5 with 10,000 MNIST images (the smoke profile) 1e-3 and 2e-3 learned too slowly to
# pass 90% reliably; 5e-3 was faster still there, but is a risk for deep nets without normalisation (VGG).
SGD_LR_PER_128 = 0.1
ADAMW_LR = 3e-3
WEIGHT_DECAY = {"sgd": 5e-4, "adamw": 0.05}
ONECYCLE_START = 1 / 25  # the one-cycle warm-up starts at lr / 25


@dataclass(frozen=True)
class Recipe:
    epochs: int
    batch_size: int  # images per optimizer step, over all processes together
    optimizer: str = "sgd"  # "sgd" (momentum, Nesterov) or "adamw"; fit also takes "auto" (see below)
    lr: float | None = None  # the peak learning rate; None: the optimizer's default above
    momentum: float = 0.9
    weight_decay: float | None = None  # None: the optimizer's default; never applied to norms and biases
    schedule: str = "onecycle"  # "onecycle" (warm up, then anneal), "cosine" (anneal only) or "constant"
    warmup: float = 0.25  # onecycle: the fraction of steps spent warming up
    label_smoothing: float = 0.1
    augment: bool = False  # random crop (padding 4) and horizontal flip

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r} is not supported; use one of {', '.join(OPTIMIZERS)}.")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r} is not supported; use one of {', '.join(SCHEDULES)}.")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be at least 1, got {self.epochs} and {self.batch_size}.")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}.")

    def resolved(self) -> "Recipe":
        """The same recipe with every None replaced by its concrete default."""
        lr = self.lr
        if lr is None:
            lr = SGD_LR_PER_128 * self.batch_size / 128 if self.optimizer == "sgd" else ADAMW_LR
        weight_decay = WEIGHT_DECAY[self.optimizer] if self.weight_decay is None else self.weight_decay
        return replace(self, lr=lr, weight_decay=weight_decay)

    def to_dict(self) -> dict:
        return asdict(self)


def default_recipe(lesson: str = "default", profile: str | None = None, **changes) -> Recipe:
    """The recipe of a lesson under a run profile (epochs and batch size from utils.profiles), with changes.

    Changes that are None are ignored, so callers can pass their optional arguments straight through."""
    plan = budget(lesson, profile)
    fields = {"epochs": plan.epochs, "batch_size": plan.batch_size}
    fields.update({key: value for key, value in changes.items() if value is not None})
    return Recipe(**fields).resolved()


# Layers that keep activations at a steady scale. (AlexNet's LocalResponseNorm does not: it only rescales
# each position by its neighbours, so AlexNet counts as unnormalised.)
NORMALISATION_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


def choose_optimizer(model: nn.Module) -> str:
    """fit's optimizer="auto": SGD for networks with normalisation layers, AdamW for those without.

    With BatchNorm (ResNet, DenseNet, VGG-BN, ...) SGD at lr 0.1 is the papers' recipe and trains well. Without
    it (LeNet-5, AlexNet, plain VGG) the same SGD is fragile in short runs: we measured LeNet-5 on 10,000
    MNIST images stuck near chance for some seeds, while AdamW reached 91.7-93.4% for each of four seeds."""
    normalised = any(isinstance(m, NORMALISATION_LAYERS) for m in model.modules())
    return "sgd" if normalised else "adamw"


# ---------------------------------------------------------------------------------------------------------
# What the recipe builds


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weights of convolutions and linear layers decay; biases and norm scales (1-D) do not.

    Decaying a BatchNorm scale or a bias only shrinks a parameter that no later layer can compensate for,
    without the regularising effect decay has on a weight matrix."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim > 1 else no_decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    groups = parameter_groups(model, recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.momentum > 0)
    return torch.optim.AdamW(groups, lr=recipe.lr)


def build_schedule(optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int):
    """A per-step schedule over the whole run (stepped after every batch, not every epoch).

    onecycle: rise linearly from lr/25 to lr over the first `warmup` fraction of the steps, then fall to
    zero along a half cosine (Smith & Topin 2017, without their momentum cycling). cosine: the same fall
    from the first step (Loshchilov & Hutter 2016, without restarts). Written out rather than taken from
    torch's OneCycleLR, which fails on runs of a handful of steps (the smoke profile's)."""
    total = recipe.epochs * steps_per_epoch
    warmup_steps = 0
    if recipe.schedule == "onecycle":  # at least one warm-up step, and at least one step after it
        warmup_steps = min(max(1, round(recipe.warmup * total)), total - 1)

    def factor(step: int) -> float:
        if recipe.schedule == "constant":
            return 1.0
        if step < warmup_steps:
            return ONECYCLE_START + (1 - ONECYCLE_START) * step / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total - warmup_steps))
        return 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
