"""LeNet-5 on the MNIST training set, one epoch on the CPU: utils.training.fit against a textbook loop.

    python -m benchmarks.cpu_lenet_mnist             # the full 60,000 images (a minute or two)
    python -m benchmarks.cpu_lenet_mnist --dry-run   # 512 images: checks that the script still works

The textbook loop is what most tutorials write: torchvision's MNIST dataset with ToTensor and Normalize
(plus Pad(2): LeNet-5 reads 32x32), a DataLoader with num_workers=2, float32, the plain training loop.
Both sides get the same model, images, batch size and optimizer (the one fit picks, with its learning rate
and weight decay), and both are timed from the first line to the end of the epoch, loader start-up
included. Each side's model is then evaluated on the 10,000 test images with the numerics it trained with.

The bare step is LeNet-5's training step on one batch already in memory, with fit's numerics and memory
format: the speed of the kernels themselves, which no loop can beat, so the bare step over the textbook speed
is the best ratio any loop could reach on that machine. fit, the textbook loop and the bare step take turns
for three rounds and the medians are reported, so that a busy spell of a shared machine does not move one
side alone. Prints images/s and test accuracy for both sides, the bare step with fit's share of it and, as
its last line, ratio=<fit images/s / textbook images/s>.
"""

import argparse
import os

import torch
import torchvision
import torchvision.transforms as T
from torch.utils.data import DataLoader, Subset

from benchmarks.textbook import accuracy, bare_step_line, bare_step_speed, describe_cpu, numerics, race, spread, warm_up
from utils.data import MNIST_STATS, data_root, load_dataset
from utils.models import get_model
from utils.training import pad_to_size

DRY_RUN_IMAGES = 512


def textbook_loader(indices: torch.Tensor, batch_size: int) -> DataLoader:
    transform = T.Compose([T.Pad(2), T.ToTensor(), T.Normalize(*MNIST_STATS)])
    dataset = torchvision.datasets.MNIST(str(data_root()), train=True, transform=transform, download=False)
    return DataLoader(Subset(dataset, indices.tolist()), batch_size=batch_size, shuffle=True, num_workers=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help=f"only {DRY_RUN_IMAGES} images")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="fit, textbook and bare step take turns this often")
    args = parser.parse_args()

    train = pad_to_size(load_dataset("mnist", "train", require_real=True), 32)  # the paper's 32x32 field
    test = pad_to_size(load_dataset("mnist", "test", require_real=True), 32)
    indices = torch.arange(len(train))
    if args.dry_run:
        indices = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:DRY_RUN_IMAGES]
        test = test.subset(DRY_RUN_IMAGES)
    train = train.select(indices)
    count = len(indices)
    print(f"LeNet-5, MNIST: {count:,} training images, batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"CPU            {describe_cpu()}")
    warm_up("lenet5", (1, 32, 32), args.batch_size)

    steps = 2 if args.dry_run else 50  # LeNet-5's steps are short: more of them for a steady figure
    bare_step = {"bare step": lambda meta: bare_step_speed(get_model("lenet5"), train, args.batch_size, meta, steps)}
    result = race("lenet5", train, lambda: textbook_loader(indices, args.batch_size), args.batch_size,
                  rounds=1 if args.dry_run else args.rounds, extra=bare_step)  # fmt: skip
    meta, helper, textbook = result.history.meta, result.helper_model, result.textbook_model
    recipe = meta["recipe"]

    print(f"optimizer      {recipe['optimizer']} lr {recipe['lr']:g}, weight decay {recipe['weight_decay']:g}")
    print(f"textbook loop  {result.textbook_speed:8,.0f} images/s   fp32, contiguous; "
          f"{spread(result.textbook_speeds)}; test accuracy {accuracy(textbook, test)}")  # fmt: skip
    print(f"fit            {result.helper_speed:8,.0f} images/s   {numerics(meta)}; {spread(result.helper_speeds)}; "
          f"test accuracy {accuracy(helper, test, meta)}")  # fmt: skip
    print(bare_step_line(result.extra_speeds["bare step"], result.helper_speed, result.textbook_speed))
    print(f"load average   {os.getloadavg()[0]:.2f} at the end")
    print(f"ratio={result.helper_speed / result.textbook_speed:.2f}")


if __name__ == "__main__":
    main()
