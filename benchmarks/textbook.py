"""The baseline every benchmark compares fit against: the training loop as most tutorials write it.

A torchvision dataset with per-image transforms, a DataLoader with worker processes, float32, and the
plain loop below. Same model, batch size and optimizer as fit's run, so that only the way of feeding and
running the model differs.
"""

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from utils.models import get_model
from utils.training import History, fit, seed_everything


def textbook_epoch(model, loader, optimizer, device: torch.device | str = "cpu") -> int:
    """One pass, as tutorials write it; returns the number of images seen."""
    model.train()
    seen = 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        seen += len(labels)
    return seen


def same_optimizer(model, recipe: dict) -> torch.optim.Optimizer:
    """The optimizer fit used (from its History's recipe), built the textbook way over all parameters."""
    if recipe["optimizer"] == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    return torch.optim.SGD(model.parameters(), lr=recipe["lr"], momentum=recipe["momentum"], nesterov=True,
                           weight_decay=recipe["weight_decay"])  # fmt: skip


def warm_up(model_name: str, image_shape: tuple[int, int, int], batch_size: int) -> None:
    """A step of a throwaway model in each memory format (fit uses channels_last, the textbook loop does
    not), so that neither side pays for the library's first-call set-up of its kernels."""
    for memory_format in (torch.contiguous_format, torch.channels_last):
        model = get_model(model_name).to(memory_format=memory_format)
        images = torch.randn(batch_size, *image_shape).contiguous(memory_format=memory_format)
        F.cross_entropy(model(images), torch.zeros(batch_size, dtype=torch.long)).backward()


@dataclass
class Race:
    helper_speed: float  # images/s of fit's epoch
    textbook_speed: float  # images/s of the textbook loop's epoch
    history: History  # fit's, with the recipe the textbook optimizer copied
    helper_model: torch.nn.Module
    textbook_model: torch.nn.Module


def race(model_name: str, train, make_textbook_loader, batch_size: int, **fit_options) -> Race:
    """One epoch of fit, then one of the textbook loop, on the CPU, same images, same starting weights.

    Each side is timed from its first line to the end of its epoch, loader start-up included (so the textbook
    loader is built inside the timing, by make_textbook_loader())."""
    count = len(train)
    seed_everything(0)
    helper_model = get_model(model_name)
    start = time.perf_counter()
    history = fit(helper_model, train, epochs=1, batch_size=batch_size, device="cpu", quiet=True, **fit_options)
    helper_speed = count / (time.perf_counter() - start)

    seed_everything(0)
    textbook_model = get_model(model_name)
    optimizer = same_optimizer(textbook_model, history.meta["recipe"])
    start = time.perf_counter()
    textbook_epoch(textbook_model, make_textbook_loader(), optimizer)
    textbook_speed = count / (time.perf_counter() - start)
    return Race(helper_speed, textbook_speed, history, helper_model, textbook_model)
