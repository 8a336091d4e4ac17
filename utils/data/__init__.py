"""Datasets as uint8 tensors, and a loader that keeps a whole split on the training device.

    from utils.data import load_dataset, DeviceLoader
    train = load_dataset("cifar10", "train")             # ImageData: images uint8 [N, 3, 32, 32], labels
    loader = DeviceLoader(train, 256, shuffle=True, crop_padding=4, flip=True)
    for x, y in loader:                                   # x float [256, 3, 32, 32], normalised, on the device
        ...

The package reads top to bottom in this order:
  images.py         ImageData (one split as tensors; .select, .subset) and pad_to_size, to_rgb, resize
  spec.py           DatasetSpec: everything the course knows about one named dataset
  folders.py        load_image_folder: your own images, one sub-folder per class, decoded once and cached
  mnist.py          one spec per dataset: where the files are and how to read them, statistics, classes,
  cifar10.py          natural shape, whether crop + flip suit it, and the drawing of its synthetic stand-in
  datasets.py       DATASETS (the specs by name), load_dataset, synthetic_dataset
  device_loader.py  DeviceLoader and the batched augmentation (random crop with padding, flip)
"""

from ..settings import cache_dir, data_root
from .cifar10 import CIFAR10_CLASSES, CIFAR10_STATS
from .datasets import DATASETS, SYNTHETIC_SIZES, SyntheticDataWarning, get_spec, load_dataset, synthetic_dataset
from .device_loader import DeviceLoader, random_crop, random_flip
from .folders import load_image_folder
from .images import ImageData, pad_to_size, resize, to_rgb
from .mnist import MNIST_STATS
from .spec import SPLITS, DatasetSpec, DatasetUnavailable

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_STATS",
    "DATASETS",
    "DatasetSpec",
    "DatasetUnavailable",
    "DeviceLoader",
    "ImageData",
    "MNIST_STATS",
    "SPLITS",
    "SYNTHETIC_SIZES",
    "SyntheticDataWarning",
    "cache_dir",
    "data_root",
    "get_spec",
    "load_dataset",
    "load_image_folder",
    "pad_to_size",
    "random_crop",
    "random_flip",
    "resize",
    "synthetic_dataset",
    "to_rgb",
]
