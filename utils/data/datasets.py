"""The named datasets, and loading one by name: real files if there are any, else a synthetic stand-in.

To add a dataset: write its module beside mnist.py (a DatasetSpec: how to read it, its statistics, classes,
image shape, whether crop + flip suit it, a drawing for its stand-in) and list its spec in DATASETS below.
load_dataset, synthetic_dataset, the training command line's --data and fit's augmentation default follow.
"""

import warnings
from pathlib import Path

import torch

from ..settings import data_root
from .cifar10 import CIFAR10
from .images import ImageData
from .mnist import MNIST
from .spec import SPLITS, DatasetSpec, DatasetUnavailable

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, CIFAR10)}

SYNTHETIC_SIZES = {"train": 12_000, "test": 2_000}


class SyntheticDataWarning(UserWarning):
    """A synthetic stand-in replaces a dataset that could not be found or downloaded."""


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)} or load_image_folder(path).")
    return DATASETS[name]


def load_dataset(
    name: str,
    split: str = "train",
    *,
    root: str | Path | None = None,
    download: bool = True,
    require_real: bool = False,
) -> ImageData:
    """One split ("train" or "test") of a named dataset (a key of DATASETS: "mnist", "cifar10") as an ImageData.

    Where the data comes from, in order:
      1. the data root: `root`, else $CNN_COURSE_DATA, default <repo>/data (git-ignored), in the layout the
         dataset's module describes;
      2. a download into the data root, where a network exists and download=True;
      3. a synthetic stand-in of the same shape and class count (drawn, learnable), after one loud warning.
         `require_real=True` turns this last step into an error that says where to put the files.
    """
    spec = get_spec(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'.")
    root = Path(root).expanduser() if root is not None else data_root()
    try:
        images, labels = spec.read(root, split, download)
    except DatasetUnavailable as missing:
        if require_real:
            raise
        warnings.warn(
            f"{missing} Using a SYNTHETIC stand-in for {name} instead: results will not match the real dataset.",
            SyntheticDataWarning,
            stacklevel=2,
        )
        return synthetic_dataset(name, split)
    return spec.image_data(images, labels, split)


def synthetic_dataset(name: str, split: str = "train", size: int | None = None, seed: int | None = None) -> ImageData:
    """A learnable stand-in for a named dataset: its image shape, class count and statistics, drawn images
    (digits for "mnist", coloured shapes for "cifar10"). The same split and seed give the same images."""
    spec = get_spec(name)
    size = size or SYNTHETIC_SIZES[split]
    generator = torch.Generator().manual_seed(seed if seed is not None else SPLITS.index(split))
    labels = torch.randint(0, len(spec.classes), (size,), generator=generator)
    return spec.image_data(spec.draw(labels, generator), labels, split, synthetic=True)
