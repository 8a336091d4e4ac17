"""ImageData, one split of an image dataset held as tensors, and the transforms that fit it to a model.

    digits = load_dataset("mnist", "test")        # uint8 [10000, 1, 28, 28]
    pad_to_size(digits, 32)                       # [10000, 1, 32, 32]: each digit centred in a 32x32 field
    to_rgb(digits)                                # [10000, 3, 28, 28]: for models built for colour
    resize(digits, 64)                            # [10000, 1, 64, 64]: for models that need larger inputs
    digits.select(digits.labels == 3)             # only the threes, labels still beside their images

MNIST and LeNet-5: the digits are 28x28, LeNet-5 reads 32x32. As the paper does, we centre each digit in a
32x32 field by padding the uint8 images with 2 pixels of background (0), once, before normalisation:
`pad_to_size(mnist, 32)`. After normalisation the border then has the background's value, which padding
inside the network (c1 with padding=2) would not give. The training command line does this for you.
"""

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F


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
    # Whether random crop + flip suit these images, as the dataset's spec says (CIFAR-10 yes; MNIST no, also
    # once padded or turned to colour: a mirrored 3 is no digit). None for your own images: fit then decides
    # by their shape.
    crop_and_flip: bool | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def select(self, indices: torch.Tensor) -> "ImageData":
        """The examples at `indices` (a tensor of positions, or a boolean mask), each label with its image."""
        return replace(self, images=self.images[indices], labels=self.labels[indices])

    def subset(self, size: int | None, seed: int = 0) -> "ImageData":
        """A random subset of `size` examples (the same for the same seed); None or too big: everything."""
        if size is None or size >= len(self):
            return self
        chosen = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:size]
        return self.select(chosen.sort().values)  # in the original order: easier to reason about

    def class_counts(self) -> torch.Tensor:
        return torch.bincount(self.labels, minlength=self.num_classes)

    def __repr__(self) -> str:
        kind = "synthetic stand-in for " if self.synthetic else ""
        shape = "x".join(map(str, self.image_shape))
        return f"ImageData({kind}{self.name} {self.split}: {len(self)} images of {shape}, {self.num_classes} classes)"


# ---------------------------------------------------------------------------------------------------------
# Fitting images to a model. Each returns a new ImageData (the same one if nothing needs doing), uint8 in and out.


def pad_to_size(data: ImageData, size: int) -> ImageData:
    """Centre every image in a size x size field of zeros (background)."""
    _, height, width = data.image_shape
    if (height, width) == (size, size):
        return data
    if height > size or width > size:
        raise ValueError(f"images are {height}x{width}, larger than {size}x{size}; use resize() to shrink them.")
    top, left = (size - height) // 2, (size - width) // 2
    padded = F.pad(data.images, (left, size - width - left, top, size - height - top))
    return replace(data, images=padded)


def to_rgb(data: ImageData) -> ImageData:
    """Grey images as three equal colour channels (for models built for RGB input)."""
    if data.image_shape[0] == 3:
        return data
    if data.image_shape[0] != 1:
        raise ValueError(f"to_rgb takes 1-channel images, got {data.image_shape[0]} channels.")
    return replace(data, images=data.images.expand(-1, 3, -1, -1).contiguous(), mean=data.mean * 3, std=data.std * 3)


def resize(data: ImageData, size: int, chunk: int = 2048) -> ImageData:
    """Bilinear resize to size x size (for models that need larger inputs). Memory grows with size squared."""
    if data.image_shape[1:] == (size, size):
        return data
    parts = []
    for start in range(0, len(data), chunk):  # in chunks: the float copy of a whole dataset may not fit
        part = data.images[start : start + chunk].float()
        part = F.interpolate(part, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        parts.append(part.round().clamp(0, 255).to(torch.uint8))
    return replace(data, images=torch.cat(parts))
