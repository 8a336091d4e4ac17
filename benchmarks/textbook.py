"""The baseline every benchmark compares fit against: the training loop as most tutorials write it.

A torchvision dataset with per-image transforms, a DataLoader with worker processes, float32, and the
plain loop below. Same model, batch size and optimizer as fit's run, so that only the way of feeding and
running the model differs.
"""

import torch
import torch.nn.functional as F

from utils.models import get_model


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
