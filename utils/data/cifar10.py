"""CIFAR-10: 60,000 colour photographs, 32x32, of ten classes (50,000 train, 10,000 test).

Found under the data root as torchvision's cifar-10-batches-py/, or as image files
cifar10/{train,test}/<class>/*.jpg (decoded once, then cached), else downloaded (torchvision's files).
Stand-in: one coloured shape per image (ten shapes) on a noisy background of another colour.
Crop + flip suit it: a mirrored or shifted photograph shows the same thing.
"""

from pathlib import Path

import torch

from .folders import decode_folder
from .spec import DATA_VARIABLE, DatasetSpec, DatasetUnavailable, short_error, uniform

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))  # the training split's, per channel
SHAPE_CLASSES = ["disk", "square", "triangle", "ring", "plus", "cross", "h-stripes", "v-stripes", "diamond", "checker"]


def read_cifar10(root: Path, split: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import CIFAR10

    has_torchvision_files = (root / "cifar-10-batches-py").is_dir()
    has_image_folders = (root / "cifar10" / split).is_dir()
    if has_torchvision_files or (download and not has_image_folders):
        try:
            dataset = CIFAR10(str(root), train=split == "train", download=download)
        except (OSError, RuntimeError) as error:
            raise DatasetUnavailable(
                f"CIFAR-10 is not in {root} and it could not be downloaded ({short_error(error)}): put torchvision's "
                f"cifar-10-batches-py/ or image folders cifar10/{{train,test}}/<class>/ there, "
                f"or set {DATA_VARIABLE} to a folder that has them."
            ) from None
        images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()  # [N, 32, 32, 3] -> NCHW
        return images, torch.tensor(dataset.targets, dtype=torch.long)
    folder = root / "cifar10" / split
    if not folder.is_dir():
        raise DatasetUnavailable(
            f"CIFAR-10 is not in {root} and downloads are switched off: put image folders "
            f"cifar10/{{train,test}}/<class>/ or torchvision's cifar-10-batches-py/ there."
        )
    images, labels, classes = decode_folder(folder, size=32)
    if classes != CIFAR10_CLASSES:
        raise DatasetUnavailable(f"{folder} should hold the ten CIFAR-10 class folders, found {classes}.")
    return images, labels


def draw_shapes(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 [N, 3, 32, 32]: one coloured shape per image on a noisy background of another colour."""
    n = len(labels)
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    cy, cx = uniform(n, 11, 21, generator), uniform(n, 11, 21, generator)
    r = uniform(n, 6, 10, generator)[:, None, None]
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


CIFAR10 = DatasetSpec(
    name="cifar10",
    classes=tuple(CIFAR10_CLASSES),
    mean=CIFAR10_STATS[0],
    std=CIFAR10_STATS[1],
    image_shape=(3, 32, 32),
    crop_and_flip=True,
    read=read_cifar10,
    draw=draw_shapes,
    stand_in_classes=tuple(SHAPE_CLASSES),
)
