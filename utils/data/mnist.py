"""MNIST: 70,000 handwritten digits, 28x28 grey (60,000 train, 10,000 test).

Found in torchvision's layout, <data root>/MNIST/raw/ (the four idx files), else downloaded there.
Stand-in: bright seven-segment digits, shifted, slanted, thick or thin. No crop + flip: a mirrored 3 is no digit.
"""

from pathlib import Path

import torch

from .spec import DATA_VARIABLE, DatasetSpec, DatasetUnavailable, short_error, uniform

MNIST_STATS = ((0.1307,), (0.3081,))  # the training split's pixel mean and std

# Which of the seven segments (a top, b top-right, c bottom-right, d bottom, e bottom-left, f top-left,
# g middle) each digit lights.
SEGMENTS_OF_DIGIT = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"]


def read_mnist(root: Path, split: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST

    train = split == "train"
    raw = root / "MNIST" / "raw"
    try:
        dataset = MNIST(str(root), train=train, download=False)
    except RuntimeError:  # torchvision: "Dataset not found"
        if not download:
            raise DatasetUnavailable(_missing(raw, "downloads are switched off")) from None
        try:
            dataset = MNIST(str(root), train=train, download=True)
        except (OSError, RuntimeError) as error:  # no network, read-only root, bad checksum
            raise DatasetUnavailable(_missing(raw, f"the download failed ({short_error(error)})")) from None
    return dataset.data.unsqueeze(1).contiguous(), dataset.targets.long()  # [N, 28, 28] -> [N, 1, 28, 28]


def _missing(raw: Path, reason: str) -> str:
    return (
        f"MNIST is not in {raw} and {reason}: put the four idx files (train-images-idx3-ubyte, ...) there "
        f"or set {DATA_VARIABLE} to a folder whose MNIST/raw has them."
    )


def draw_digits(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 [N, 1, 28, 28]: bright seven-segment digits, randomly shifted, slanted, thick or thin."""
    n = len(labels)
    y, x = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")  # [28, 28]
    shift_x, shift_y = uniform(n, -4, 4, generator), uniform(n, -3, 3, generator)
    slant, half_width = uniform(n, -0.25, 0.25, generator), uniform(n, 0.9, 1.8, generator)
    # Coordinates relative to each digit's centre, [N, 28, 28]; the slant leans the digit like handwriting.
    v = y - 14 - shift_y[:, None, None]
    u = x - 14 - shift_x[:, None, None] + slant[:, None, None] * v
    w = half_width[:, None, None]
    horizontal = lambda row: ((v - row).abs() <= w) & (u.abs() <= 5)
    vertical = lambda col, top: ((u - col).abs() <= w) & (v >= top) & (v <= top + 9)
    segments = {
        "a": horizontal(-9), "g": horizontal(0), "d": horizontal(9),
        "f": vertical(-5, -9), "b": vertical(5, -9), "e": vertical(-5, 0), "c": vertical(5, 0),
    }  # fmt: skip
    lit = torch.stack([segments[s] for s in "abcdefg"], dim=1)  # [N, 7, 28, 28]
    table = torch.tensor([[s in SEGMENTS_OF_DIGIT[d] for s in "abcdefg"] for d in range(10)])  # [10, 7]
    strokes = (lit & table[labels][:, :, None, None]).any(dim=1).float()  # [N, 28, 28]
    brightness = uniform(n, 180, 255, generator)[:, None, None]
    noise = 20 * torch.rand(n, 28, 28, generator=generator)
    return (strokes * brightness + noise).clamp(0, 255).to(torch.uint8)[:, None]


MNIST = DatasetSpec(
    name="mnist",
    classes=tuple(str(digit) for digit in range(10)),
    mean=MNIST_STATS[0],
    std=MNIST_STATS[1],
    image_shape=(1, 28, 28),
    crop_and_flip=False,
    read=read_mnist,
    draw=draw_digits,
)
