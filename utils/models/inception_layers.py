"""The pieces GoogLeNet (googlenet.py) and Inception v3 (inception.py) share, as torchvision builds them.

- BasicConv2d, the unit every Inception module is made of: conv without bias -> BatchNorm (eps=0.001) -> ReLU.
  Neither paper has the BatchNorm (GoogLeNet predates it); torchvision's pretrained weights do.
- to_inception_range, what transform_input=True does: Google's pretrained Inception weights (ported from
  TensorFlow) expect pixels scaled to [-1, 1], not ImageNet's mean/std normalisation.

Lesson 04 builds both; googlenet.py and inception.py re-export BasicConv2d, so either import works.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

# ImageNet's per-channel statistics, as torchvision's transform_input undoes them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BasicConv2d(nn.Module):
    """conv (no bias: BatchNorm's shift replaces it) -> BatchNorm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **conv_options) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_options)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def to_inception_range(x: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised images (N, 3, H, W) -> the [-1, 1] scaling of Google's Inception weights.

    Undo the normalisation, x_raw = x * std + mean, then rescale, (x_raw - 0.5) / 0.5. One channel at a time
    with Python floats: the same float32 arithmetic as torchvision, so both give bit-identical inputs."""
    channels = [x[:, c : c + 1] * (IMAGENET_STD[c] / 0.5) + (IMAGENET_MEAN[c] - 0.5) / 0.5 for c in range(3)]
    return torch.cat(channels, dim=1)
