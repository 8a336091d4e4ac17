"""CIFAR ResNet-20 on a 5,000-image CIFAR-10 subset, one epoch on the CPU: fit against a textbook loop.

    python benchmarks/cpu_resnet20_cifar.py             # 5,000 images (a few minutes on two cores)
    python benchmarks/cpu_resnet20_cifar.py --dry-run   # 128 images: checks that the script still works

The textbook loop: torchvision's ImageFolder over the CIFAR-10 JPEGs with RandomCrop(32, padding=4),
RandomHorizontalFlip, ToTensor and Normalize, a DataLoader with num_workers=2, float32, the plain loop.
fit gets the same images as uint8 tensors (decoded once and cached by utils.data) and does the same crop and
flip on whole batches. Same model, batch size and optimizer on both sides; both timed from the first line
to the end of the epoch, loader start-up included. The last line is ratio=<fit images/s / textbook images/s>.
"""

import argparse
import os
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
import torchvision.transforms as T
from torch.utils.data import DataLoader, Subset
from torchvision.datasets import ImageFolder

from utils.data import CIFAR10_STATS, data_root, load_dataset
from utils.models import get_model
from utils.training import fit, seed_everything

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


def textbook_epoch(model, loader, optimizer, device: torch.device | str = "cpu") -> int:
    """The loop as tutorials write it; returns the number of images seen."""
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
    """The optimizer fit used (from its History), built the textbook way over all parameters."""
    if recipe["optimizer"] == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    return torch.optim.SGD(model.parameters(), lr=recipe["lr"], momentum=recipe["momentum"], nesterov=True,
                           weight_decay=recipe["weight_decay"])  # fmt: skip


def warm_up(model_name: str, batch_size: int) -> None:
    """A step of a throwaway model in each memory format (fit may use channels_last, the textbook loop does
    not), so that neither side pays for the library's first-call set-up of its kernels."""
    for memory_format in (torch.contiguous_format, torch.channels_last):
        model = get_model(model_name).to(memory_format=memory_format)
        images = torch.randn(batch_size, 3, 32, 32).contiguous(memory_format=memory_format)
        F.cross_entropy(model(images), torch.zeros(batch_size, dtype=torch.long)).backward()


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
    warm_up("resnet20", args.batch_size)

    seed_everything(0)
    helper_model = get_model("resnet20")
    start = time.perf_counter()
    history = fit(helper_model, train, epochs=1, batch_size=args.batch_size, augment=True, device="cpu", quiet=True)
    helper_speed = count / (time.perf_counter() - start)
    recipe = history.meta["recipe"]

    seed_everything(0)
    textbook_model = get_model("resnet20")
    optimizer = same_optimizer(textbook_model, recipe)
    start = time.perf_counter()
    textbook_epoch(textbook_model, textbook_loader(indices, args.batch_size), optimizer)
    textbook_speed = count / (time.perf_counter() - start)

    print(f"optimizer      {recipe['optimizer']} lr {recipe['lr']:g}, weight decay {recipe['weight_decay']:g}")
    print(f"textbook loop  {textbook_speed:8,.0f} images/s")
    print(f"fit            {helper_speed:8,.0f} images/s   (channels_last {history.meta['channels_last']})")
    print(f"load average   {os.getloadavg()[0]:.2f} at the end")
    print(f"ratio={helper_speed / textbook_speed:.2f}")


if __name__ == "__main__":
    main()
