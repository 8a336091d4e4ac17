"""CIFAR ResNet-20 on a 5,000-image CIFAR-10 subset, one epoch on the CPU: fit against a textbook loop.

    python -m benchmarks.cpu_resnet20_cifar             # 5,000 images (a few minutes on two cores)
    python -m benchmarks.cpu_resnet20_cifar --dry-run   # 128 images: checks that the script still works

The textbook loop: torchvision's ImageFolder over the CIFAR-10 JPEGs with RandomCrop(32, padding=4),
RandomHorizontalFlip, ToTensor and Normalize, a DataLoader with num_workers=2, float32, the plain loop.
fit gets the same images as uint8 tensors (decoded once and cached by utils.data) and does the same crop and
flip on whole batches. Same model, batch size and optimizer on both sides; both timed from the first line
to the end of the epoch, loader start-up included. The last line is ratio=<fit images/s / textbook images/s>.

The line before it, the bare step, is the model's training step on one batch already in memory, with fit's
numerics and memory format: the speed of the kernels themselves. On a small CPU ResNet-20 is bound by its
convolutions, so fit can only come close to it, and the bare step over the textbook speed is the best ratio
any loop could reach on that machine. fit, the textbook loop and the bare step take turns for three rounds
and the medians are reported, so that a busy spell of a shared machine does not move one side alone. Each
side's model is then evaluated on 2,000 test images, with the numerics it trained with: speed must not cost
accuracy.
"""

import argparse
import os

import torch
import torchvision.transforms as T
from torch.utils.data import DataLoader, Subset
from torchvision.datasets import ImageFolder

from benchmarks.textbook import accuracy, bare_step_line, bare_step_speed, describe_cpu, numerics, race, spread, warm_up
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help=f"only {DRY_RUN_IMAGES} images")
    parser.add_argument("--images", type=int, default=SUBSET)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="fit, textbook and bare step take turns this often")
    args = parser.parse_args()
    count = DRY_RUN_IMAGES if args.dry_run else args.images

    train = load_dataset("cifar10", "train", require_real=True)
    test = load_dataset("cifar10", "test", require_real=True).subset(DRY_RUN_IMAGES if args.dry_run else 2_000)
    indices = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:count].sort().values
    train = train.select(indices)
    print(f"ResNet-20, CIFAR-10: {count:,} training images, crop + flip, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"CPU            {describe_cpu()}")
    warm_up("resnet20", (3, 32, 32), args.batch_size)

    steps = 2 if args.dry_run else 10
    rounds = 1 if args.dry_run else args.rounds
    bare_step = {"bare step": lambda meta: bare_step_speed(get_model("resnet20"), train, args.batch_size, meta, steps)}
    result = race("resnet20", train, lambda: textbook_loader(indices, args.batch_size), args.batch_size,
                  rounds=rounds, extra=bare_step, augment=True)  # fmt: skip
    helper_speed, textbook_speed, meta = result.helper_speed, result.textbook_speed, result.history.meta
    recipe = meta["recipe"]

    print(f"optimizer      {recipe['optimizer']} lr {recipe['lr']:g}, weight decay {recipe['weight_decay']:g}")
    print(f"textbook loop  {textbook_speed:8,.0f} images/s   fp32, contiguous; {spread(result.textbook_speeds)}; "
          f"test accuracy {accuracy(result.textbook_model, test)}")  # fmt: skip
    print(f"fit            {helper_speed:8,.0f} images/s   {numerics(meta)}; {spread(result.helper_speeds)}; "
          f"test accuracy {accuracy(result.helper_model, test, meta)}")  # fmt: skip
    print(bare_step_line(result.extra_speeds["bare step"], helper_speed, textbook_speed))
    print(f"load average   {os.getloadavg()[0]:.2f} at the end")
    print(f"ratio={helper_speed / textbook_speed:.2f}")


if __name__ == "__main__":
    main()
