"""evaluate and predict: a model's loss and accuracy on a dataset, and its predicted classes."""

import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..modes import evaluating
from . import distributed
from .loaders import batches, make_loader
from .runtime import choose_speed

EVAL_BATCH_SIZE = 512  # no activations kept for a backward pass: larger batches are faster and still fit


@dataclass(frozen=True)
class Evaluation:
    loss: float  # mean cross-entropy (with the label smoothing asked for)
    accuracy: float  # fraction of images whose top-scoring class is the label
    images: int
    seconds: float

    def __repr__(self) -> str:
        return f"Evaluation(loss={self.loss:.4f}, accuracy={100 * self.accuracy:.2f}%, images={self.images:,})"


def model_device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def evaluate(
    model: nn.Module,
    data,
    *,
    batch_size: int = EVAL_BATCH_SIZE,
    label_smoothing: float = 0.0,
    precision="auto",
    channels_last="auto",
    world: distributed.World | None = None,
) -> Evaluation:
    """Loss and accuracy of `model` on `data` (ImageData, DeviceLoader or DataLoader), on the model's device.

    precision: "auto" (bf16 autocast on CUDA, float32 elsewhere), "fp32" or "bf16"; fit passes what it trained
    with. Under DDP (`world` of several processes) each process evaluates its shard and the sums are combined."""
    world = world or distributed.World(device=model_device(model))
    speed = choose_speed(world.device, precision, channels_last, model)
    loader = make_loader(data, batch_size * world.size, train=False, augment=False, world=world)
    start = time.perf_counter()
    loss_sum = torch.zeros((), device=world.device)  # summed on the device, read once at the end
    correct = torch.zeros((), device=world.device, dtype=torch.long)
    count = 0
    with evaluating(model):
        for images, labels in batches(loader, world.device, speed.channels_last):
            with speed.autocast(world.device):
                logits = model(images)
            loss_sum += F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing, reduction="sum")
            correct += (logits.argmax(1) == labels).sum()
            count += len(labels)
    count_on_device = torch.tensor(float(count), device=world.device)
    totals = world.sum(torch.stack([loss_sum, correct.float(), count_on_device]))
    loss_sum, correct, count = totals.tolist()
    if count == 0:
        raise ValueError("evaluate got no images; check that the dataset is not empty.")
    return Evaluation(loss_sum / count, correct / count, int(count), time.perf_counter() - start)


def predict(model: nn.Module, data, batch_size: int = EVAL_BATCH_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted classes, true labels) over `data`, both int64 on the CPU: what a confusion matrix needs."""
    world = distributed.World(device=model_device(model))
    loader = make_loader(data, batch_size, train=False, augment=False, world=world)
    predicted, truth = [], []
    with evaluating(model):
        for images, labels in batches(loader, world.device, channels_last=False):
            predicted.append(model(images).argmax(1).cpu())
            truth.append(labels.cpu())
    return torch.cat(predicted), torch.cat(truth)
