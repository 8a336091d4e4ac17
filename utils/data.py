"""Datasets as uint8 tensors, and a loader that keeps a whole split on the training device.

    from utils.data import load_dataset, DeviceLoader
    train = load_dataset("cifar10", "train")             # ImageData: images uint8 [N, 3, 32, 32], labels
    loader = DeviceLoader(train, 256, shuffle=True, crop_padding=4, flip=True)
    for x, y in loader:                                   # x float [256, 3, 32, 32], normalised, on the device
        ...

Where the data comes from, in order:
  1. the data root: $CNN_COURSE_DATA, default <repo>/data (git-ignored);
     MNIST in torchvision's layout <root>/MNIST/raw/; CIFAR-10 as torchvision's <root>/cifar-10-batches-py/
     or as image files <root>/cifar10/{train,test}/<class>/*.jpg (decoded once, then cached);
  2. a download into the data root, where a network exists;
  3. a synthetic stand-in of the same shape and class count (drawn digits or shapes, learnable), after one
     loud warning. `require_real=True` turns this last step into an error that says where to put the files.

Why tensors on the device: small images train so fast that a per-image Python loader (decode, transform,
collate) becomes the bottleneck. Holding the split as one uint8 tensor and augmenting whole batches with
tensor ops removes that loader entirely.
"""

import hashlib
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from .device import pick_device
from .settings import cache_dir, data_root

DATA_VARIABLE = "CNN_COURSE_DATA"  # named in error messages; utils.settings reads it

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# Per-channel mean and std of the training split, the values everyone normalises with.
MNIST_STATS = ((0.1307,), (0.3081,))
CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
SPLITS = ("train", "test")


class DatasetUnavailable(RuntimeError):
    """Real data was asked for but is neither on disk nor downloadable. The message says what to do."""


class SyntheticDataWarning(UserWarning):
    """A synthetic stand-in replaces a dataset that could not be found or downloaded."""


@dataclass
class ImageData:
    """One split of an image dataset, held as tensors."""

    images: torch.Tensor  # uint8 [N, C, H, W]
    labels: torch.Tensor  # int64 [N]
    classes: list[str]
    mean: tuple[float, ...]  # per channel, in [0, 1] units
    std: tuple[float, ...]
    name: str
    split: str
    synthetic: bool = False  # True for a stand-in: notebooks label their plots with it

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def subset(self, size: int | None, seed: int = 0) -> "ImageData":
        """A random subset of `size` examples (the same for the same seed); None or too big: everything."""
        if size is None or size >= len(self):
            return self
        chosen = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:size]
        chosen = chosen.sort().values  # keep the original order: easier to reason about
        return replace(self, images=self.images[chosen], labels=self.labels[chosen])

    def class_counts(self) -> torch.Tensor:
        return torch.bincount(self.labels, minlength=self.num_classes)

    def __repr__(self) -> str:
        kind = "synthetic stand-in for " if self.synthetic else ""
        shape = "x".join(map(str, self.image_shape))
        return f"ImageData({kind}{self.name} {self.split}: {len(self)} images of {shape}, {self.num_classes} classes)"


# ---------------------------------------------------------------------------------------------------------
# Loading


def load_dataset(
    name: str,
    split: str = "train",
    *,
    root: str | Path | None = None,
    download: bool = True,
    require_real: bool = False,
) -> ImageData:
    """Load "mnist" or "cifar10" (split "train" or "test") as an ImageData; see the module docstring."""
    loaders = {"mnist": _load_mnist, "cifar10": _load_cifar10}
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; use one of {', '.join(loaders)} or load_image_folder(path).")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'.")
    root = Path(root).expanduser() if root is not None else data_root()
    try:
        return loaders[name](root, split, download)
    except DatasetUnavailable as missing:
        if require_real:
            raise
        warnings.warn(
            f"{missing} Using a SYNTHETIC stand-in for {name} instead: results will not match the real dataset.",
            SyntheticDataWarning,
            stacklevel=2,
        )
        return synthetic_dataset(name, split)


def load_mnist(split: str = "train", **options) -> ImageData:
    return load_dataset("mnist", split, **options)


def load_cifar10(split: str = "train", **options) -> ImageData:
    return load_dataset("cifar10", split, **options)


def _load_mnist(root: Path, split: str, download: bool) -> ImageData:
    from torchvision.datasets import MNIST

    train = split == "train"
    raw = root / "MNIST" / "raw"
    try:
        dataset = MNIST(str(root), train=train, download=False)
    except RuntimeError:  # torchvision: "Dataset not found"
        if not download:
            raise DatasetUnavailable(_missing_mnist(raw, "downloads are switched off")) from None
        try:
            dataset = MNIST(str(root), train=train, download=True)
        except (OSError, RuntimeError) as error:  # no network, read-only root, bad checksum
            raise DatasetUnavailable(_missing_mnist(raw, f"the download failed ({_short(error)})")) from None
    return ImageData(
        images=dataset.data.unsqueeze(1).contiguous(),  # [N, 28, 28] -> [N, 1, 28, 28]
        labels=dataset.targets.long(),
        classes=[str(digit) for digit in range(10)],
        mean=MNIST_STATS[0],
        std=MNIST_STATS[1],
        name="mnist",
        split=split,
    )


def _missing_mnist(raw: Path, reason: str) -> str:
    return (
        f"MNIST is not in {raw} and {reason}: put the four idx files (train-images-idx3-ubyte, ...) there "
        f"or set {DATA_VARIABLE} to a folder whose MNIST/raw has them."
    )


def _load_cifar10(root: Path, split: str, download: bool) -> ImageData:
    from torchvision.datasets import CIFAR10

    train = split == "train"
    has_torchvision_files = (root / "cifar-10-batches-py").is_dir()
    has_image_folders = (root / "cifar10" / split).is_dir()
    if has_torchvision_files or (download and not has_image_folders):
        try:
            dataset = CIFAR10(str(root), train=train, download=download)
        except (OSError, RuntimeError) as error:
            raise DatasetUnavailable(
                f"CIFAR-10 is not in {root} and it could not be downloaded ({_short(error)}): put torchvision's "
                f"cifar-10-batches-py/ or image folders cifar10/{{train,test}}/<class>/ there, "
                f"or set {DATA_VARIABLE} to a folder that has them."
            ) from None
        images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()  # [N, 32, 32, 3] -> NCHW
        labels = torch.tensor(dataset.targets, dtype=torch.long)
    else:
        folder = root / "cifar10" / split
        if not folder.is_dir():
            raise DatasetUnavailable(
                f"CIFAR-10 is not in {root} and downloads are switched off: put image folders "
                f"cifar10/{{train,test}}/<class>/ or torchvision's cifar-10-batches-py/ there."
            )
        images, labels, classes = _decode_folder_cached(folder, size=32)
        if classes != CIFAR10_CLASSES:
            raise DatasetUnavailable(f"{folder} should hold the ten CIFAR-10 class folders, found {classes}.")
    return ImageData(images, labels, list(CIFAR10_CLASSES), *CIFAR10_STATS, name="cifar10", split=split)


def load_image_folder(path: str | Path, size: int = 32, split: str | None = None) -> ImageData:
    """Your own images, one sub-folder per class (ImageFolder layout), resized to size x size RGB.

    If the folder holds train/ and test/ sub-folders, `split` picks one. Decoded once, then cached."""
    folder = Path(path).expanduser()
    if split is not None:
        folder = folder / split
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; give a folder with one sub-folder of images per class.")
    images, labels, classes = _decode_folder_cached(folder, size=size)
    pixels = images.float() / 255
    mean = tuple(pixels.mean(dim=(0, 2, 3)).tolist())
    std = tuple(pixels.std(dim=(0, 2, 3)).tolist())
    return ImageData(images, labels, classes, mean, std, name=folder.name, split=split or "all")


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def _is_image(filename: str) -> bool:
    return filename.lower().endswith(IMAGE_SUFFIXES)


def _decode_folder_cached(folder: Path, size: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Decode every image of an ImageFolder layout once; later calls read one tensor file (well under 1 s)."""
    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"{folder} has no class sub-folders; put each class's images in its own folder.")
    # The cache key covers the folder, the size and how many files each class has, so a changed folder
    # is decoded again instead of served stale. (Counting with scandir is cheap; listing Paths is not.)
    counts = [sum(1 for entry in os.scandir(folder / c) if _is_image(entry.name)) for c in classes]
    key = f"{folder.resolve()}|{size}|{counts}"
    cache_file = cache_dir() / f"{folder.parent.name}-{folder.name}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.pt"
    if cache_file.exists():
        cached = torch.load(cache_file, weights_only=True, mmap=True)
        return cached["images"], cached["labels"], cached["classes"]

    files = [sorted(p for p in (folder / c).iterdir() if _is_image(p.name)) for c in classes]
    images, labels = [], []
    for label, class_files in enumerate(files):
        for file in class_files:
            images.append(_decode(file, size))
            labels.append(label)
    if not images:
        raise FileNotFoundError(f"{folder} has class folders but no images ({', '.join(IMAGE_SUFFIXES)}).")
    result = torch.stack(images), torch.tensor(labels, dtype=torch.long), classes
    partial = cache_file.with_suffix(".partial")  # write, then rename: an interrupted run leaves no bad cache
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"images": result[0], "labels": result[1], "classes": classes}, partial)
        os.replace(partial, cache_file)
    except OSError:
        pass  # a read-only cache (a grading sandbox, a shared machine): decoded again next time, no harm done
    return result


def _decode(file: Path, size: int) -> torch.Tensor:
    # Pillow rather than torchvision.io, whose decoders are deprecated since torchvision 0.29.
    from PIL import Image

    with Image.open(file) as image:
        image = image.convert("RGB")
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return pixels.view(size, size, 3).permute(2, 0, 1)  # [H, W, 3] -> [3, H, W]


def _short(error: Exception) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:160]


# ---------------------------------------------------------------------------------------------------------
# Synthetic stand-ins: same image shape and class count, drawn procedurally, so a network still learns.

SYNTHETIC_SIZES = {"train": 12_000, "test": 2_000}
SHAPE_CLASSES = ["disk", "square", "triangle", "ring", "plus", "cross", "h-stripes", "v-stripes", "diamond", "checker"]

# Seven-segment digits: which of the segments (a top, b top-right, c bottom-right, d bottom,
# e bottom-left, f top-left, g middle) each digit lights.
SEGMENTS_OF_DIGIT = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"]


def synthetic_dataset(name: str, split: str = "train", size: int | None = None, seed: int | None = None) -> ImageData:
    """A learnable stand-in for "mnist" (seven-segment digits) or "cifar10" (ten coloured shapes)."""
    size = size or SYNTHETIC_SIZES[split]
    generator = torch.Generator().manual_seed(seed if seed is not None else SPLITS.index(split))
    labels = torch.randint(0, 10, (size,), generator=generator)
    if name == "mnist":
        images = _draw_digits(labels, generator)
        classes, (mean, std) = [str(d) for d in range(10)], MNIST_STATS
    elif name == "cifar10":
        images = _draw_shapes(labels, generator)
        classes, (mean, std) = list(SHAPE_CLASSES), CIFAR10_STATS
    else:
        raise ValueError(f"no synthetic stand-in for {name!r}; use 'mnist' or 'cifar10'.")
    return ImageData(images, labels, classes, mean, std, name=name, split=split, synthetic=True)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _draw_digits(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 [N, 1, 28, 28]: bright seven-segment digits, randomly shifted, slanted, thick or thin."""
    n = len(labels)
    y, x = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")  # [28, 28]
    shift_x, shift_y = _uniform(n, -4, 4, generator), _uniform(n, -3, 3, generator)
    slant, half_width = _uniform(n, -0.25, 0.25, generator), _uniform(n, 0.9, 1.8, generator)
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
    brightness = _uniform(n, 180, 255, generator)[:, None, None]
    noise = 20 * torch.rand(n, 28, 28, generator=generator)
    return (strokes * brightness + noise).clamp(0, 255).to(torch.uint8)[:, None]


def _draw_shapes(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 [N, 3, 32, 32]: one coloured shape per image on a noisy background of another colour."""
    n = len(labels)
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    cy, cx = _uniform(n, 11, 21, generator), _uniform(n, 11, 21, generator)
    r = _uniform(n, 6, 10, generator)[:, None, None]
    dy, dx = y - cy[:, None, None], x - cx[:, None, None]  # [N, 32, 32]
    inside = (dy.abs() <= r) & (dx.abs() <= r)
    masks = [
        dx**2 + dy**2 <= r**2,  # disk
        inside,  # square
        (dy <= r) & (dx.abs() <= (dy + r) / 2),  # triangle, apex up
        (dx**2 + dy**2 <= r**2) & (dx**2 + dy**2 >= (0.55 * r) ** 2),  # ring
        inside & ((dx.abs() <= r / 4) | (dy.abs() <= r / 4)),  # plus
        inside & (((dx - dy).abs() <= r / 4) | ((dx + dy).abs() <= r / 4)),  # cross
        inside & (torch.floor(dy / 3) % 2 == 0),  # horizontal stripes
        inside & (torch.floor(dx / 3) % 2 == 0),  # vertical stripes
        dx.abs() + dy.abs() <= r,  # diamond
        inside & ((torch.floor(dx / 4) + torch.floor(dy / 4)) % 2 == 0),  # checker
    ]
    shape = torch.stack(masks, dim=1)[torch.arange(n), labels].float()[:, None]  # [N, 1, 32, 32]
    foreground = torch.rand(n, 3, 1, 1, generator=generator) * 255
    background = (foreground + 90 + 75 * torch.rand(n, 3, 1, 1, generator=generator)) % 255  # differs from it
    noise = 25 * (torch.rand(n, 3, 32, 32, generator=generator) - 0.5)
    image = shape * foreground + (1 - shape) * background + noise
    return image.clamp(0, 255).to(torch.uint8)


# ---------------------------------------------------------------------------------------------------------
# The device-resident loader


class DeviceLoader:
    """Batches of an ImageData from tensors kept on one device, with batched augmentation there.

    Per batch: pick indices (a new random order each epoch when shuffle=True), random crop with zero
    padding, random horizontal flip, convert to float and normalise with the dataset's mean and std.
    Reproducible: the same seed gives the same batches. For DistributedDataParallel, rank r of
    world_size ranks gets every world_size-th example of the same shuffled order (equal shard sizes).
    """

    def __init__(
        self,
        data: ImageData,
        batch_size: int = 128,
        *,
        shuffle: bool = False,
        crop_padding: int = 0,
        flip: bool = False,
        normalize: bool = True,
        drop_last: bool = False,
        device: str | torch.device | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..world_size-1, got rank={rank}, world_size={world_size}.")
        self.data = data
        self.batch_size = batch_size
        self.shuffle, self.crop_padding, self.flip = shuffle, crop_padding, flip
        self.normalize, self.drop_last = normalize, drop_last
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0
        self.device = pick_device(device)
        self.images = data.images.to(self.device)  # stays uint8: a quarter of the memory of float32
        self.labels = data.labels.to(self.device)
        channels = data.images.shape[1]
        self.mean = torch.tensor(data.mean, device=self.device).view(1, channels, 1, 1)
        self.std = torch.tensor(data.std, device=self.device).view(1, channels, 1, 1)

    @property
    def num_samples(self) -> int:
        """Examples this rank sees per epoch."""
        return len(self.labels) // self.world_size

    def __len__(self) -> int:
        full, rest = divmod(self.num_samples, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next pass uses (passes also advance it by themselves)."""
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator(device=self.device).manual_seed(self.seed * 100_003 + self.epoch)
        self.epoch += 1
        total = len(self.labels)
        if self.shuffle:
            order = torch.randperm(total, generator=generator, device=self.device)
        else:
            order = torch.arange(total, device=self.device)
        order = order[: self.num_samples * self.world_size][self.rank :: self.world_size]
        for batch in range(len(self)):
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            images = self.images[index]  # uint8 [B, C, H, W]
            if self.crop_padding:
                images = random_crop(images, self.crop_padding, generator)
            if self.flip:
                images = random_flip(images, generator)
            yield self._to_float(images), self.labels[index]

    def _to_float(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.float().div_(255)
        return pixels.sub_(self.mean).div_(self.std) if self.normalize else pixels


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pad a batch [B, C, H, W] with zeros and cut a random H x W window from each image (its own offset)."""
    b, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))  # [B, C, H+2p, W+2p]
    device = images.device
    top = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=device)
    left = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=device)
    rows = (top[:, None] + torch.arange(h, device=device))[:, None, :, None]  # [B, 1, H, 1]
    cols = (left[:, None] + torch.arange(w, device=device))[:, None, None, :]  # [B, 1, 1, W]
    batch = torch.arange(b, device=device)[:, None, None, None]
    channel = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch, channel, rows, cols]  # advanced indexing broadcasts to [B, C, H, W]


def random_flip(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image of a batch left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], generator=generator, device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)
