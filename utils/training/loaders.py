"""Turning what the caller passes (an ImageData, a DeviceLoader, any iterable of batches) into batches, and
checking that a model can read the images. (Fitting images to a model, pad_to_size, to_rgb and resize, is
in utils.data.images; utils.training re-exports them.)
"""

import torch

from ..data import DeviceLoader, ImageData
from ..modes import evaluating
from .distributed import World

CROP_PADDING = 4  # the standard CIFAR augmentation: pad by 4, crop 32x32 back, flip half of the images


def default_augment(data) -> bool:
    """Whether fit crops and flips `data` when not told: as its dataset's spec says (CIFAR-10 yes; MNIST no, also
    padded or turned to colour); for your own images, which no spec describes, only 32x32 colour ones (CIFAR-like)."""
    if not isinstance(data, ImageData):
        return False  # a loader of its own does its own augmentation
    if data.crop_and_flip is not None:
        return data.crop_and_flip
    return data.image_shape == (3, 32, 32)


def make_loader(data, batch_size: int, *, train: bool, augment: bool, world: World, seed: int = 0):
    """Batches of `data` for this process: each rank of a DDP run gets its own shard."""
    if isinstance(data, ImageData):
        if batch_size % world.size:
            raise ValueError(
                f"batch_size={batch_size} does not split evenly over {world.size} processes; "
                f"use a multiple of {world.size}."
            )
        return DeviceLoader(
            data,
            batch_size // world.size,  # batch_size is the total over all processes
            shuffle=train,
            crop_padding=CROP_PADDING if augment else 0,
            flip=augment,
            drop_last=False,
            device=world.device,
            seed=seed,
            rank=world.rank,
            world_size=world.size,
        )
    if isinstance(data, DeviceLoader):
        if data.world_size != world.size:
            raise ValueError(
                f"this DeviceLoader is built for {data.world_size} process(es) but the run has {world.size}; "
                "pass the ImageData instead and fit will shard it."
            )
        return data
    if not hasattr(data, "__iter__") or not hasattr(data, "__len__"):
        raise TypeError(
            f"expected an ImageData (utils.data.load_dataset), a DeviceLoader or a DataLoader of (images, labels) "
            f"batches; got {type(data).__name__}."
        )
    if world.size > 1 and not hasattr(getattr(data, "sampler", None), "set_epoch"):
        raise ValueError(
            f"under torchrun every process would train on all of this {type(data).__name__}; pass the ImageData "
            "(fit shards it) or give the DataLoader a torch.utils.data.DistributedSampler."
        )
    return data  # a DataLoader or similar: batches are moved to the device as they come


def begin_epoch(loader, epoch: int) -> None:
    """Tell a loader which epoch begins, so that its shuffled order depends on the epoch and nothing else
    (a resumed run then sees the same batches as an uninterrupted one; DDP ranks agree on the order)."""
    sampler = getattr(loader, "sampler", None)
    if isinstance(loader, DeviceLoader):
        loader.set_epoch(epoch)
    elif hasattr(sampler, "set_epoch"):  # a DistributedSampler
        sampler.set_epoch(epoch)


def batches(loader, device: torch.device, channels_last: bool):
    """(images, labels) on `device`; channels_last memory format when asked."""
    for images, labels in loader:
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        yield images, labels


def count_images(loader) -> int:
    """How many images one pass over `loader` yields (for images/s before the pass ends)."""
    if isinstance(loader, ImageData):
        return len(loader)
    if isinstance(loader, DeviceLoader):
        return loader.num_samples
    dataset = getattr(loader, "dataset", None)
    return len(dataset) if dataset is not None else 0


# ---------------------------------------------------------------------------------------------------------
# Checking a model against the data


def check_model_takes(model: torch.nn.Module, image_shape: tuple[int, int, int], name: str | None = None) -> None:
    """One forward pass on two blank images, so that data the model cannot read fails before training, with
    what to do about it, instead of deep inside the first batch. The model's state is left as it was."""
    name = name or type(model).__name__
    device = next(model.parameters(), torch.empty(0)).device
    try:
        with evaluating(model):  # no BatchNorm statistics are updated by the blank images
            model(torch.zeros(2, *image_shape, device=device))
    except (RuntimeError, ValueError) as error:
        channels, height, width = image_shape
        first_line = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise ValueError(
            f"{name} cannot take {channels}x{height}x{width} images ({first_line}). If data and model do not "
            "match, fit the data to the model: utils.training.to_rgb (grey to colour), pad_to_size (e.g. MNIST "
            "to 32x32) or resize."
        ) from error
