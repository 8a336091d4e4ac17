"""Residual networks: ImageNet ResNets, CIFAR ResNets, pre-activation ResNets and Wide ResNets.

Papers and the tables the numbers come from:
- He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition" (2015).
  Table 1: the ImageNet configurations (ResNet-18/34 with basic blocks, ResNet-50/101/152 with bottlenecks).
  Section 4.2 and Table 6: the CIFAR-10 networks, depth 6n+2, 16-32-64 channels, option A shortcuts
  (ResNet-20/32/44/56/110: 0.27/0.46/0.66/0.85/1.7 M parameters).
- He, Zhang, Ren, Sun, "Identity Mappings in Deep Residual Networks" (2016).
  Fig. 4(e): the full pre-activation unit (BN -> ReLU -> conv). CIFAR results: ResNet-164 (1.7 M) and
  ResNet-1001 (10.2 M) with bottleneck units, depth 9n+2; the authors' code (KaimingHe/resnet-1k-layers)
  fixes the details the paper leaves open, and we follow it (see PreActBottleneck).
- Zagoruyko, Komodakis, "Wide Residual Networks" (2016). Table 1: WRN-d-k, pre-activation basic blocks,
  widths 16k-32k-64k, (d - 4) / 6 blocks per stage; dropout between the two convs. WRN-28-10: 36.5 M.
- wide_resnet50_2 is torchvision's ImageNet "wide" ResNet-50: a bottleneck twice as wide inside.

Exact parameter counts are in shared/reference/NUMBERS.md; tests/test_models_resnet.py checks every one.

The ImageNet models use torchvision's attribute names (conv1, bn1, layer1..layer4, downsample, fc) so that
torchvision's state_dict loads with strict=True. The CIFAR models use the same names where a part exists.
"""

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._registry import TORCHVISION, register_model


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    # No bias: every conv here is followed (or, pre-activated, preceded by the next unit) by BatchNorm,
    # whose shift makes a conv bias redundant.
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


# ---------------------------------------------------------------------------------------------------------
# Shortcuts: what the identity path does when a block changes the number of channels or the resolution.
# Each is a function (in_channels, out_channels, stride) -> module, chosen by the letter the paper uses.
# ---------------------------------------------------------------------------------------------------------


class ZeroPadShortcut(nn.Module):
    """Option A (He et al. 2015, Sec. 3.3): identity, subsampled by the stride, with zero channels appended.

    It has no parameters. (N, C, H, W) -> (N, C + extra_channels, ceil(H / stride), ceil(W / stride)).
    The zeros go after the copied channels, as in fb.resnet.torch's option A.
    """

    def __init__(self, extra_channels: int, stride: int) -> None:
        super().__init__()
        self.extra_channels = extra_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # the 1x1 stride-s subsampling of the identity
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))  # pad pairs run last dim first: W, H, C

    def extra_repr(self) -> str:
        return f"extra_channels={self.extra_channels}, stride={self.stride}"


def zero_pad_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    return ZeroPadShortcut(out_channels - in_channels, stride)


def projection_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Option B: a strided 1x1 conv and BatchNorm (torchvision's `downsample`, keys downsample.0/.1)."""
    return nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))


def preact_projection_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Option B in a pre-activation net: a 1x1 conv alone, fed the BN-ReLU'd input (authors' code)."""
    return conv1x1(in_channels, out_channels, stride)


ShortcutFn = Callable[[int, int, int], nn.Module]
SHORTCUTS: dict[str, ShortcutFn] = {"A": zero_pad_shortcut, "B": projection_shortcut}
PREACT_SHORTCUTS: dict[str, ShortcutFn] = {"A": zero_pad_shortcut, "B": preact_projection_shortcut}


def _pick_shortcut(table: dict[str, ShortcutFn], shortcut: str) -> ShortcutFn:
    if shortcut not in table:
        raise ValueError(f"shortcut must be 'A' (zero-padding) or 'B' (1x1 projection), not {shortcut!r}")
    return table[shortcut]


# ---------------------------------------------------------------------------------------------------------
# Blocks (post-activation, as in the 2015 paper and torchvision)
# ---------------------------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """Two 3x3 convs: conv-BN-ReLU-conv-BN, add the shortcut, ReLU. (N, in, H, W) -> (N, planes, H/s, W/s)."""

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock takes no groups or base_width; use Bottleneck for ResNeXt or WRN-50")
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample  # None: plain identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (optionally grouped), 1x1 expand by 4. (N, in, H, W) -> (N, 4 * planes, H/s, W/s).

    Deviation from the 2015 paper, kept for torchvision's weights ("ResNet v1.5"): the stride sits on the
    3x3 conv, not on the first 1x1 conv. Striding a 1x1 conv throws away 3 of every 4 input positions;
    striding the 3x3 conv sees them all. Same parameter count, a little more compute, better accuracy.

    groups and base_width give ResNeXt (Xie et al. 2016) and wide ResNets: the inner width is
    planes * base_width / 64 per group, times groups; e.g. ResNeXt-50 32x4d stage 1: 64 * 4 / 64 * 32 = 128.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


# ---------------------------------------------------------------------------------------------------------
# Blocks (pre-activation, He et al. 2016 Fig. 4(e)): BN -> ReLU -> conv, nothing after the addition
# ---------------------------------------------------------------------------------------------------------


class PreActBasicBlock(nn.Module):
    """BN-ReLU-conv3x3, BN-ReLU-[dropout]-conv3x3, plus the shortcut. Also the Wide ResNet block.

    Where the shape changes, the shortcut reads the pre-activated input (BN-ReLU shared by both paths), as
    in the authors' code and Zagoruyko's WRN code; elsewhere it is the raw input, a clean identity path.
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()  # WRN: between the two convs
        self.conv2 = conv3x3(planes, planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.relu(self.bn1(x))  # in-place is safe: bn1 returned a new tensor, x is untouched
        identity = x if self.downsample is None else self.downsample(preact)
        out = self.conv1(preact)
        out = self.conv2(self.dropout(self.relu(self.bn2(out))))
        return out + identity


class PreActBottleneck(nn.Module):
    """BN-ReLU-conv1x1, BN-ReLU-conv3x3, BN-ReLU-conv1x1 (x4), plus the shortcut.

    Follows the authors' code (KaimingHe/resnet-1k-layers): the stride sits on the first 1x1 conv (unlike
    torchvision's Bottleneck), and where the shape changes the shortcut is a 1x1 conv on the pre-activated
    input.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if dropout > 0:
            raise ValueError("dropout is only defined for the basic (Wide ResNet) block; leave it at 0.0")
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv1x1(in_channels, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.relu(self.bn1(x))
        identity = x if self.downsample is None else self.downsample(preact)
        out = self.conv1(preact)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + identity


# ---------------------------------------------------------------------------------------------------------
# Stage: one block that may change the shape, then blocks that keep it
# ---------------------------------------------------------------------------------------------------------


def make_stage(
    block: type[nn.Module],
    in_channels: int,
    planes: int,
    num_blocks: int,
    stride: int = 1,
    shortcut: Callable[[int, int, int], nn.Module] = projection_shortcut,
    **block_options,
) -> nn.Sequential:
    """num_blocks blocks; the first takes the stride and, where the shape changes, a shortcut module."""
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = shortcut(in_channels, out_channels, stride)
    blocks = [block(in_channels, planes, stride, downsample, **block_options)]
    blocks += [block(out_channels, planes, **block_options) for _ in range(1, num_blocks)]
    return nn.Sequential(*blocks)


def init_weights(model: nn.Module, zero_init_residual: bool = False) -> None:
    """He init (fan_out, as torchvision and the authors' Torch code), BN as identity, Linear at default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        # Goyal et al. 2017: start each residual branch at zero, so every block starts as the identity.
        for m in model.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)
            elif isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)


# ---------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------


class ResNet(nn.Module):
    """ImageNet ResNet, torchvision-compatible. (N, 3, H, W) -> (N, num_classes); 224x224 in the paper.

    Stem: 7x7/2 conv and 3x3/2 max-pool (H/4), then four stages at H/4, H/8, H/16, H/32.
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        options = dict(groups=groups, base_width=width_per_group)
        channels = 64
        for i, (planes, num_blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            stride = 1 if i == 0 else 2  # stage 1 follows the max-pool, which already halved the size
            setattr(self, f"layer{i + 1}", make_stage(block, channels, planes, num_blocks, stride, **options))
            channels = planes * block.expansion
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self, zero_init_residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 512 * expansion, H/32, W/32)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class CifarResNet(nn.Module):
    """He et al. 2015, Sec. 4.2: depth 6n+2 = one 3x3 conv, 3 stages of n basic blocks, avg-pool, fc.

    (N, 3, 32, 32) -> 16 x 32x32 -> 32 x 16x16 -> 64 x 8x8 -> (N, num_classes).
    shortcut="A" (the paper's CIFAR choice) adds no parameters; "B" puts 1x1 projections where the shape
    changes.
    """

    def __init__(self, depth: int = 20, num_classes: int = 10, shortcut: str = "A") -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 with n >= 1 (8, 14, 20, 32, ...), got {depth}")
        n = (depth - 2) // 6
        make_shortcut = _pick_shortcut(SHORTCUTS, shortcut)
        self.conv1 = conv3x3(3, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_stage(BasicBlock, 16, 16, n, 1, make_shortcut)
        self.layer2 = make_stage(BasicBlock, 16, 32, n, 2, make_shortcut)
        self.layer3 = make_stage(BasicBlock, 32, 64, n, 2, make_shortcut)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (N, 16, 32, 32)
        x = self.layer3(self.layer2(self.layer1(x)))  # (N, 64, 8, 8)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class PreActResNet(nn.Module):
    """Pre-activation ResNet for CIFAR (He et al. 2016); with wider stages, the Wide ResNet.

    One 3x3 conv (16 channels), three stages at 32x32, 16x16, 8x8, then the final BN-ReLU that pre-activation
    needs (no block ends with one), avg-pool, fc. Stage widths are `widths` times the block's expansion.
    """

    def __init__(
        self,
        block: type[PreActBasicBlock | PreActBottleneck],
        blocks_per_stage: int,
        widths: tuple[int, int, int] = (16, 32, 64),
        num_classes: int = 10,
        shortcut: str = "B",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        make_shortcut = _pick_shortcut(PREACT_SHORTCUTS, shortcut)
        self.conv1 = conv3x3(3, 16)
        channels = 16
        for i, planes in enumerate(widths):
            stride = 1 if i == 0 else 2
            stage = make_stage(block, channels, planes, blocks_per_stage, stride, make_shortcut,
                               dropout=dropout)
            setattr(self, f"layer{i + 1}", stage)
            channels = planes * block.expansion
        self.bn_final = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)  # (N, 16, 32, 32)
        x = self.layer3(self.layer2(self.layer1(x)))  # (N, widths[2] * expansion, 8, 8)
        x = self.relu(self.bn_final(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def preact_resnet(
    depth: int, num_classes: int = 10, bottleneck: bool = True, shortcut: str = "B"
) -> PreActResNet:
    """Any pre-activation CIFAR ResNet: depth 9n+2 with bottlenecks (3 layers a block), 6n+2 with basic."""
    layers_per_block = 3 if bottleneck else 2
    step = 3 * layers_per_block
    if depth < step + 2 or (depth - 2) % step != 0:
        kind = "bottleneck" if bottleneck else "basic-block"
        raise ValueError(f"a {kind} pre-activation ResNet needs depth {step}n+2 with n >= 1, got {depth}")
    block = PreActBottleneck if bottleneck else PreActBasicBlock
    return PreActResNet(block, (depth - 2) // step, num_classes=num_classes, shortcut=shortcut)


def wide_resnet(
    depth: int = 28, widen_factor: int = 10, num_classes: int = 10, dropout: float = 0.0
) -> PreActResNet:
    """WRN-d-k (Zagoruyko & Komodakis 2016): (d - 4) / 6 pre-activation basic blocks a stage, 16k-32k-64k."""
    if depth < 10 or (depth - 4) % 6 != 0:
        raise ValueError(f"Wide ResNet depth must be 6n+4 with n >= 1 (10, 16, 22, 28, 40, ...), got {depth}")
    if widen_factor < 1:
        raise ValueError(f"widen_factor must be a positive integer (10 for WRN-28-10), got {widen_factor}")
    widths = (16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
    n = (depth - 4) // 6
    return PreActResNet(PreActBasicBlock, n, widths, num_classes, shortcut="B", dropout=dropout)


# ---------------------------------------------------------------------------------------------------------
# Builders (registered by name)
# ---------------------------------------------------------------------------------------------------------

# ImageNet: depth -> (block, blocks in each of the four stages). He et al. 2015, Table 1.
IMAGENET_CONFIGS: dict[int, tuple[type[BasicBlock | Bottleneck], list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
    152: (Bottleneck, [3, 8, 36, 3]),
}


# Every strided layer is padded and the head pools adaptively, so even a 1x1 image passes (uselessly).
IMAGENET_INPUT = {"in_channels": 3, "natural_size": 224, "smallest_size": 1, "params_source": TORCHVISION}


@register_model(**IMAGENET_INPUT, published_params=11_689_512)
def resnet18(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    return ResNet(*IMAGENET_CONFIGS[18], num_classes=num_classes, **kwargs)


@register_model(**IMAGENET_INPUT, published_params=21_797_672)
def resnet34(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    return ResNet(*IMAGENET_CONFIGS[34], num_classes=num_classes, **kwargs)


@register_model(**IMAGENET_INPUT, published_params=25_557_032)
def resnet50(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    return ResNet(*IMAGENET_CONFIGS[50], num_classes=num_classes, **kwargs)


@register_model(**IMAGENET_INPUT, published_params=44_549_160)
def resnet101(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    return ResNet(*IMAGENET_CONFIGS[101], num_classes=num_classes, **kwargs)


@register_model(**IMAGENET_INPUT, published_params=60_192_808)
def resnet152(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    return ResNet(*IMAGENET_CONFIGS[152], num_classes=num_classes, **kwargs)


@register_model(**IMAGENET_INPUT, published_params=68_883_240)
def wide_resnet50_2(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    # ResNet-50 with the two inner convs of every bottleneck twice as wide (base width 128, not 64).
    return ResNet(*IMAGENET_CONFIGS[50], num_classes=num_classes, width_per_group=128, **kwargs)


# The CIFAR networks: padded strided convs and a global average pool, so that any size passes. The papers
# give rounded counts; NUMBERS.md the exact ones of a faithful implementation.
CIFAR_INPUT = {"in_channels": 3, "natural_size": 32, "smallest_size": 1}
RESNET_PAPER = "He et al. 2015, Table 6 (0.27-1.7 M); exact: NUMBERS.md"
PREACT_PAPER = "He et al. 2016 (1.7 M, 10.2 M); exact, with 1x1 projections: NUMBERS.md"
WRN_PAPER = "Zagoruyko & Komodakis 2016 (36.5 M); exact: NUMBERS.md"


# CIFAR ResNets (option A). Any other depth 6n+2: CifarResNet(depth=...), or shortcut="B" for projections.
@register_model(**CIFAR_INPUT, published_params=269_722, params_source=RESNET_PAPER)
def resnet20(*, num_classes: int = 10, shortcut: str = "A") -> nn.Module:
    return CifarResNet(20, num_classes, shortcut)


@register_model(**CIFAR_INPUT, published_params=464_154, params_source=RESNET_PAPER)
def resnet32(*, num_classes: int = 10, shortcut: str = "A") -> nn.Module:
    return CifarResNet(32, num_classes, shortcut)


@register_model(**CIFAR_INPUT, published_params=658_586, params_source=RESNET_PAPER)
def resnet44(*, num_classes: int = 10, shortcut: str = "A") -> nn.Module:
    return CifarResNet(44, num_classes, shortcut)


@register_model(**CIFAR_INPUT, published_params=853_018, params_source=RESNET_PAPER)
def resnet56(*, num_classes: int = 10, shortcut: str = "A") -> nn.Module:
    return CifarResNet(56, num_classes, shortcut)


@register_model(**CIFAR_INPUT, published_params=1_727_962, params_source=RESNET_PAPER)
def resnet110(*, num_classes: int = 10, shortcut: str = "A") -> nn.Module:
    return CifarResNet(110, num_classes, shortcut)


@register_model(**CIFAR_INPUT)  # the paper: 1.7 M; tests/test_models_resnet.py derives the exact count
def preact_resnet110(*, num_classes: int = 10, shortcut: str = "A") -> nn.Module:
    # Basic blocks. Option A by default, as the 2015 ResNet-110 it is compared with: then the two differ only
    # in where BN and ReLU sit, and both have 1,727,962 parameters. shortcut="B" adds 1x1 projections.
    return preact_resnet(110, num_classes, bottleneck=False, shortcut=shortcut)


@register_model(**CIFAR_INPUT, published_params=1_703_258, params_source=PREACT_PAPER)
def preact_resnet164(*, num_classes: int = 10, shortcut: str = "B") -> nn.Module:
    return preact_resnet(164, num_classes, bottleneck=True, shortcut=shortcut)


@register_model(**CIFAR_INPUT, published_params=10_327_706, params_source=PREACT_PAPER)
def preact_resnet1001(*, num_classes: int = 10, shortcut: str = "B") -> nn.Module:
    return preact_resnet(1001, num_classes, bottleneck=True, shortcut=shortcut)


@register_model(**CIFAR_INPUT, published_params=36_479_194, params_source=WRN_PAPER)
def wrn28_10(
    *, num_classes: int = 10, depth: int = 28, widen_factor: int = 10, dropout: float = 0.0
) -> nn.Module:
    # The paper's best CIFAR-10 result (3.89%) used dropout=0.3; 0.0 is the 4.00% model.
    return wide_resnet(depth, widen_factor, num_classes, dropout)
