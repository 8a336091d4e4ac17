"""What the course knows about one named dataset, in one place: a DatasetSpec.

Each dataset is one module (mnist.py, cifar10.py) that defines its spec: where its files are and how to read
them, its statistics and class names, its natural image shape, whether crop + flip augmentation suits it,
and how to draw a synthetic stand-in when the files are missing. datasets.py lists the specs; load_dataset,
synthetic_dataset, the training command line's --data and fit's augmentation default all read them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .images import ImageData

SPLITS = ("train", "test")
DATA_VARIABLE = "CNN_COURSE_DATA"  # named in error messages; utils.settings reads it


class DatasetUnavailable(RuntimeError):
    """Real data was asked for but is neither on disk nor downloadable. The message says what to do."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # what load_dataset and the command line's --data take, e.g. "mnist"
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, of the training split, in [0, 1] units: what everyone normalises with
    std: tuple[float, ...]
    image_shape: tuple[int, int, int]  # the natural (channels, height, width)
    crop_and_flip: bool  # whether random crop + flip is a sound augmentation for these images
    # read(root, split, download) -> (uint8 images [N, C, H, W], int64 labels [N]): find the files under the
    # data root, download them if allowed, decode them. Raises DatasetUnavailable with what to do.
    read: Callable[[Path, str, bool], tuple[torch.Tensor, torch.Tensor]]
    # draw(labels, generator) -> uint8 images [N, *image_shape]: a learnable stand-in, one image per label.
    draw: Callable[[torch.Tensor, torch.Generator], torch.Tensor]
    stand_in_classes: tuple[str, ...] | None = None  # what the drawings show, where that is not `classes`

    def image_data(self, images: torch.Tensor, labels: torch.Tensor, split: str, synthetic: bool = False) -> ImageData:
        """Wrap one split's tensors with this dataset's facts."""
        classes = self.stand_in_classes if synthetic and self.stand_in_classes else self.classes
        return ImageData(images, labels, list(classes), self.mean, self.std, name=self.name, split=split,
                         synthetic=synthetic, crop_and_flip=self.crop_and_flip)  # fmt: skip


# Small helpers the datasets' readers and drawings share.


def short_error(error: Exception) -> str:
    """The first line of an error, for a one-line message."""
    return f"{type(error).__name__}: {error}".splitlines()[0][:160]


def uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)
