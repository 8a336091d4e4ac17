"""ResNeXt: residual networks whose bottleneck is split into `cardinality` parallel paths.

Paper: Xie, Girshick, Dollár, Tu, He, "Aggregated Residual Transformations for Deep Neural Networks" (2016).
- Fig. 3: three equivalent forms of the block, (a) separate paths summed, (b) paths concatenated then one
  1x1 conv, (c) one grouped 3x3 conv. All three are here, with copy_from_grouped() to give (a) and (b) the
  weights of a (c) block so that a lesson can show they compute the same function.
- Table 1: ResNeXt-50 (32x4d), the ResNet-50 layout with grouped bottlenecks. ResNeXt-101 (32x8d) is
  torchvision's model (the paper's tables report 101 at 32x4d and 64x4d). Both are built, as torchvision
  does, from resnet.Bottleneck with groups and width_per_group, so torchvision's state_dicts load strictly.
- Sec. 5.3 and Table 7: the CIFAR networks ResNeXt-29 (8x64d: 34.4 M parameters, 16x64d: 68.1 M): a 3x3 conv
  with 64 channels, 3 stages of 3 bottleneck blocks with outputs 256-512-1024, avg-pool, fc.
  "8x64d" means cardinality 8 with 64 channels in each path of stage 1 (doubling with each stage).

The stride sits on the 3x3 conv, as in the authors' Torch code (facebookresearch/ResNeXt); for ResNeXt that
is the original design, not the "ResNet v1.5" deviation noted in resnet.py. The authors' code also gives
the CIFAR shortcut choice used here: a 1x1 projection with BN where the shape changes, identity elsewhere.
"""

import torch
import torch.nn as nn

from ._registry import TORCHVISION, register_model
from .resnet import IMAGENET_CONFIGS, Bottleneck, ResNet, conv1x1, conv3x3, init_weights, make_stage

# ---------------------------------------------------------------------------------------------------------
# The block in the paper's three forms (Fig. 3). Same arguments for all three:
#   in_channels -> out_channels, `cardinality` paths of `width` channels each, stride on the 3x3 conv.
# Fig. 3 itself is (256, 256, cardinality=32, width=4).
# Each form ends with BN on out_channels, adds the shortcut, then ReLU. BN acts on each channel on its own,
# so a BN over all cardinality * width channels is the same as one BN per path over its width channels:
# that is what lets the forms share weights exactly, with BN included.
# ---------------------------------------------------------------------------------------------------------


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))


class Path(nn.Module):
    """One path of forms (a)/(b): 1x1 to `width` channels, 3x3 width -> width; in form (a) a 1x1 back out.

    (N, in_channels, H, W) -> (N, width or out_channels, H/s, W/s).
    """

    def __init__(self, in_channels: int, width: int, stride: int = 1, out_channels: int | None = None):
        super().__init__()
        self.conv1 = conv1x1(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv3 = None if out_channels is None else conv1x1(width, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return out if self.conv3 is None else self.conv3(out)


class SummedPathsBlock(nn.Module):
    """Fig. 3(a): `cardinality` paths 1x1 -> 3x3 -> 1x1, each back to out_channels, summed.

    The BN that (c) applies after its last 1x1 conv comes here after the sum: the sum of the paths' 1x1
    convs *is* (c)'s last 1x1 conv, split by input channel.
    """

    def __init__(self, in_channels: int, out_channels: int, cardinality: int, width: int, stride: int = 1):
        super().__init__()
        self.paths = nn.ModuleList(Path(in_channels, width, stride, out_channels) for _ in range(cardinality))
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = sum(path(x) for path in self.paths)  # (N, out_channels, H/s, W/s)
        return self.relu(self.bn3(out) + identity)


class ConcatenatedPathsBlock(nn.Module):
    """Fig. 3(b): `cardinality` paths 1x1 -> 3x3, concatenated (cardinality * width channels), one 1x1 out."""

    def __init__(self, in_channels: int, out_channels: int, cardinality: int, width: int, stride: int = 1):
        super().__init__()
        self.paths = nn.ModuleList(Path(in_channels, width, stride) for _ in range(cardinality))
        self.conv3 = conv1x1(cardinality * width, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = torch.cat([path(x) for path in self.paths], dim=1)  # (N, cardinality * width, H/s, W/s)
        return self.relu(self.bn3(self.conv3(out)) + identity)


class GroupedConvBlock(nn.Module):
    """Fig. 3(c): 1x1 to cardinality * width channels, a 3x3 conv in `cardinality` groups, 1x1 out.

    The form the networks use: its attributes are resnet.Bottleneck's (conv1, bn1, conv2, ...), and with
    groups=cardinality that Bottleneck computes exactly this.
    """

    def __init__(self, in_channels: int, out_channels: int, cardinality: int, width: int, stride: int = 1):
        super().__init__()
        inner = cardinality * width
        self.conv1 = conv1x1(in_channels, inner)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = conv3x3(inner, inner, stride, groups=cardinality)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv3 = conv1x1(inner, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))  # (N, cardinality * width, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # group i reads and writes only channels of path i
        return self.relu(self.bn3(self.conv3(out)) + identity)


def _copy_bn_slice(target: nn.BatchNorm2d, source: nn.BatchNorm2d, channels: slice) -> None:
    target.weight.copy_(source.weight[channels])
    target.bias.copy_(source.bias[channels])
    target.running_mean.copy_(source.running_mean[channels])
    target.running_var.copy_(source.running_var[channels])
    target.num_batches_tracked.copy_(source.num_batches_tracked)


@torch.no_grad()
def copy_from_grouped(grouped: nn.Module, target: SummedPathsBlock | ConcatenatedPathsBlock) -> None:
    """Give a form (a) or (b) block the weights of a form (c) block, so that both compute the same function.

    `grouped` is a GroupedConvBlock or a resnet.Bottleneck with groups > 1 (e.g. a block of resnext29_8x64d).
    Path i takes slice i of every per-channel thing in (c): rows of the first 1x1 conv, group i of the 3x3
    conv, the matching BN channels, and (form a) columns of the last 1x1 conv.
    """
    if not isinstance(target, SummedPathsBlock | ConcatenatedPathsBlock):
        kind = type(target).__name__
        raise TypeError(f"target must be a SummedPathsBlock or a ConcatenatedPathsBlock, not a {kind}")
    cardinality = grouped.conv2.groups
    width = grouped.conv2.out_channels // cardinality
    target_width = target.paths[0].conv2.out_channels
    if len(target.paths) != cardinality or target_width != width:
        raise ValueError(
            f"shapes differ: the grouped block has {cardinality} paths of width {width}, the target has "
            f"{len(target.paths)} of width {target_width}; build both with the same arguments"
        )
    for i, path in enumerate(target.paths):
        channels = slice(i * width, (i + 1) * width)
        path.conv1.weight.copy_(grouped.conv1.weight[channels])  # (width, in, 1, 1): this path's outputs
        _copy_bn_slice(path.bn1, grouped.bn1, channels)
        path.conv2.weight.copy_(grouped.conv2.weight[channels])  # (width, width, 3, 3): group i's filters
        _copy_bn_slice(path.bn2, grouped.bn2, channels)
        if path.conv3 is not None:
            path.conv3.weight.copy_(grouped.conv3.weight[:, channels])  # (out, width, 1, 1): its inputs
    if isinstance(target, ConcatenatedPathsBlock):
        target.conv3.load_state_dict(grouped.conv3.state_dict())
    target.bn3.load_state_dict(grouped.bn3.state_dict())
    if grouped.downsample is not None:
        target.downsample.load_state_dict(grouped.downsample.state_dict())


# ---------------------------------------------------------------------------------------------------------
# CIFAR ResNeXt (Sec. 5.3): the ImageNet bottleneck, a CIFAR stem, three stages
# ---------------------------------------------------------------------------------------------------------


class CifarResNeXt(nn.Module):
    """(N, 3, 32, 32) -> 64 x 32x32 -> 256 x 32x32 -> 512 x 16x16 -> 1024 x 8x8 -> (N, num_classes).

    depth = 9n + 2 (n blocks of 3 layers in each of 3 stages, plus the stem conv and the fc); the paper: 29.
    base_width is the width of each path in stage 1 (the "64d"); it doubles with each stage.
    """

    def __init__(self, cardinality: int = 8, base_width: int = 64, depth: int = 29, num_classes: int = 10):
        super().__init__()
        if depth < 11 or (depth - 2) % 9 != 0:
            raise ValueError(f"CIFAR ResNeXt depth must be 9n+2 with n >= 1 (11, 20, 29, ...), got {depth}")
        n = (depth - 2) // 9
        options = dict(groups=cardinality, base_width=base_width)
        self.conv1 = conv3x3(3, 64)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        # Bottleneck(planes=p) outputs 4p channels, with p * base_width / 64 channels in each of its paths.
        self.layer1 = make_stage(Bottleneck, 64, 64, n, stride=1, **options)
        self.layer2 = make_stage(Bottleneck, 256, 128, n, stride=2, **options)
        self.layer3 = make_stage(Bottleneck, 512, 256, n, stride=2, **options)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1024, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (N, 64, 32, 32)
        x = self.layer3(self.layer2(self.layer1(x)))  # (N, 1024, 8, 8)
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---------------------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------------------


# As ResNet's (resnet.py): padded strided layers and a global pool take any size.
IMAGENET_INPUT = {"in_channels": 3, "natural_size": 224, "smallest_size": 1, "params_source": TORCHVISION}
RESNEXT_PAPER = "Xie et al. 2017 (34.4 M, 68.1 M); exact: NUMBERS.md"
CIFAR_INPUT = {"in_channels": 3, "natural_size": 32, "smallest_size": 1, "params_source": RESNEXT_PAPER}


@register_model(**IMAGENET_INPUT, published_params=25_028_904)
def resnext50_32x4d(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    return ResNet(*IMAGENET_CONFIGS[50], num_classes=num_classes, groups=32, width_per_group=4, **kwargs)


@register_model(**IMAGENET_INPUT, published_params=88_791_336)
def resnext101_32x8d(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    return ResNet(*IMAGENET_CONFIGS[101], num_classes=num_classes, groups=32, width_per_group=8, **kwargs)


@register_model(**CIFAR_INPUT, published_params=34_426_698)
def resnext29_8x64d(*, num_classes: int = 10, **kwargs) -> nn.Module:
    return CifarResNeXt(cardinality=8, base_width=64, num_classes=num_classes, **kwargs)


@register_model(**CIFAR_INPUT, published_params=68_155_210)
def resnext29_16x64d(*, num_classes: int = 10, **kwargs) -> nn.Module:
    return CifarResNeXt(cardinality=16, base_width=64, num_classes=num_classes, **kwargs)
