"""DeviceLoader: batches of an ImageData from tensors kept on one device, augmented a whole batch at a time.

    loader = DeviceLoader(train, 256, shuffle=True, crop_padding=4, flip=True)
    for x, y in loader:                                   # x float [256, 3, 32, 32], normalised, on the device
        ...

Why tensors on the device: small images train so fast that a per-image Python loader (decode, transform,
collate) becomes the bottleneck. Holding the split as one uint8 tensor and augmenting whole batches with
tensor ops removes that loader entirely.
"""

import torch
import torch.nn.functional as F

from ..device import pick_device
from .images import ImageData


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
