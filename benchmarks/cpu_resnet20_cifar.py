"""CIFAR ResNet-20 on a 5,000-image CIFAR-10 subset, one epoch on the CPU: fit against a textbook loop.

    python benchmarks/cpu_resnet20_cifar.py             # 5,000 images (a few minutes on two cores)
    python benchmarks/cpu_resnet20_cifar.py --dry-run   # 128 images: checks that the script still works

The textbook loop: torchvision's ImageFolder over the CIFAR-10 JPEGs with RandomCrop(32, padding=4),
RandomHorizontalFlip, ToTensor and Normalize, a DataLoader with num_workers=2, float32, the plain loop.
fit gets the same images as uint8 tensors (decoded once and cached by utils.data) and does the same crop and
flip on whole batches. Same model, batch size and optimizer on both sides; both timed from the first line
to the end of the epoch, loader start-up included. The last line is ratio=<fit images/s / textbook images/s>.

The line before it, the bare step, is the model's training step on one batch already in memory: the speed
of the kernels themselves. On a small CPU ResNet-20 is bound by its convolutions, so fit can only come close
to it, and the bare step over the textbook speed is the best ratio any loop could reach on that machine.
"""

import argparse
import os
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
import torchvision.transforms as T
from textbook import race, same_optimizer, warm_up
from torch.utils.data import DataLoader, Subset
from torchvision.datasets import ImageFolder

from utils.data import CIFAR10_STATS, data_root, load_dataset
from utils.models import get_model

SUBSET = 5_000
DRY_RUN_IMAGES = 128


def textbook_loader(indices: torch.Tensor, batch_size: int, workers: int = 2, pin_memory: bool = False) -> DataLoader:
    """The per-image pipeline. Indices refer to the same images as utils.data's: both list the class folders
    and the files in each in sorted order."""
    transform = T.Compose([
        T.RandomCrop(32, padding=4),
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        T.Normalize(*CIFAR10_STATS),
    ])  # fmt: skip
    dataset = ImageFolder(str(data_root() / "cifar10" / "train"), transform=transform)
    return DataLoader(Subset(dataset, indices.tolist()), batch_size=batch_size, shuffle=True, num_workers=workers,
                      pin_memory=pin_memory)  # fmt: skip


def bare_step_speed(batch_size: int, recipe: dict, channels_last: bool, steps: int) -> float:
    """Images/s of ResNet-20's training step alone: one batch already in memory, fit's memory format, no
    loader, no augmentation. No loop can beat it with these kernels, so it bounds the ratio from above."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = get_model("resnet20").to(memory_format=memory_format)
    optimizer = same_optimizer(model, recipe)
    images = torch.randn(batch_size, 3, 32, 32).contiguous(memory_format=memory_format)
    labels = torch.randint(0, 10, (batch_size,))
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help=f"only {DRY_RUN_IMAGES} images")
    parser.add_argument("--images", type=int, default=SUBSET)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    count = DRY_RUN_IMAGES if args.dry_run else args.images

    train = load_dataset("cifar10", "train", require_real=True)
    indices = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:count].sort().values
    train = replace(train, images=train.images[indices], labels=train.labels[indices])
    print(f"ResNet-20, CIFAR-10: {count:,} training images, crop + flip, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    warm_up("resnet20", (3, 32, 32), args.batch_size)

    result = race("resnet20", train, lambda: textbook_loader(indices, args.batch_size), args.batch_size, augment=True)
    helper_speed, textbook_speed, meta = result.helper_speed, result.textbook_speed, result.history.meta
    recipe = meta["recipe"]
    bare_speed = bare_step_speed(args.batch_size, recipe, meta["channels_last"], steps=2 if args.dry_run else 10)

    print(f"optimizer      {recipe['optimizer']} lr {recipe['lr']:g}, weight decay {recipe['weight_decay']:g}")
    print(f"textbook loop  {textbook_speed:8,.0f} images/s")
    print(f"fit            {helper_speed:8,.0f} images/s   (channels_last {meta['channels_last']})")
    print(f"bare step      {bare_speed:8,.0f} images/s   (no data: fit runs at {helper_speed / bare_speed:.0%} of it, "
          f"and no loop could beat ratio {bare_speed / textbook_speed:.2f} here)")  # fmt: skip
    print(f"load average   {os.getloadavg()[0]:.2f} at the end")
    print(f"ratio={helper_speed / textbook_speed:.2f}")


if __name__ == "__main__":
    main()
