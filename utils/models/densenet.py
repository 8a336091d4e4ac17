"""DenseNet: every layer sees the feature maps of all the layers before it in its block.

Huang, Liu, van der Maaten and Weinberger, "Densely Connected Convolutional Networks", CVPR 2017.
The ImageNet models follow the paper's Table 1 (DenseNet-121/169/201/161), the CIFAR models its Table 2.

The pieces, in the order they are built:
    _DenseLayer   BN-ReLU-conv3x3(k), or with a bottleneck BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k)
    _DenseBlock   n dense layers; layer i gets c0 + i*k channels in and adds k new ones
    _Transition   BN-ReLU-conv1x1 (shrinking channels by the compression factor) - 2x2 average pool
    DenseNet      stem, blocks joined by transitions, final BN-ReLU, global average pool, linear classifier
    builders      densenet121 ... densenet_bc190_k40, each a row of plain config data

Attribute names are torchvision's, so the state_dict of a freshly built torchvision DenseNet loads into
ours with strict=True. (Its old pretrained checkpoints spell keys like `norm.1`; torchvision renames
those while loading them, and a modern `state_dict()` uses `norm1`, which is what matches here.)

Deliberate deviations, all invisible with the defaults:
- Dropout (drop_rate > 0) follows the paper: after every convolution except the stem, so also after the
  bottleneck 1x1 and in transitions. torchvision drops only after each dense layer's 3x3 conv.
- CIFAR models use torchvision's weight initialisation (Kaiming normal, fan-in); the authors' code
  used fan-out. It changes the starting point, not the architecture.
"""

import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ._registry import TORCHVISION, register_model


class _DenseLayer(nn.Module):
    """One dense layer: concatenate every earlier feature map, then produce `growth_rate` new channels.

    With a bottleneck (DenseNet-B) the first conv is a 1x1 to bn_size*k channels and a 3x3 to k follows;
    without one, the first and only conv is the 3x3. Either way the first conv is `conv1`, and the
    concat-norm1-relu1-conv1 part is what memory_efficient=True recomputes in the backward pass: the
    concatenation and its normalised copy grow with depth and dominate the memory of a dense block.
    """

    def __init__(
        self,
        num_input_features: int,
        growth_rate: int,
        bn_size: int,
        drop_rate: float,
        memory_efficient: bool = False,
        bottleneck: bool = True,
    ) -> None:
        super().__init__()
        first_out = bn_size * growth_rate if bottleneck else growth_rate
        first_kernel = 1 if bottleneck else 3
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(
            num_input_features, first_out, first_kernel, padding=first_kernel // 2, bias=False
        )
        if bottleneck:
            self.norm2 = nn.BatchNorm2d(first_out)
            self.relu2 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(first_out, growth_rate, kernel_size=3, padding=1, bias=False)
        self.bottleneck = bottleneck
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient

    def _concat_norm_relu_conv(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))

    def _concat_norm_relu_conv_checkpointed(self, features: list[torch.Tensor]) -> torch.Tensor:
        # The backward pass runs this function a second time. In training mode BatchNorm would then update
        # its running statistics twice, so the recomputation normalises with the same batch statistics
        # but writes the running averages into throwaway copies.
        norm = self.norm1
        is_first_run = True

        def concat_norm_relu_conv(*features: torch.Tensor) -> torch.Tensor:
            nonlocal is_first_run
            x = torch.cat(features, 1)
            if is_first_run or not norm.training:
                x = norm(x)
            else:
                x = F.batch_norm(
                    x, norm.running_mean.clone(), norm.running_var.clone(), norm.weight, norm.bias,
                    training=True, momentum=0.0, eps=norm.eps,
                )
            is_first_run = False
            return self.conv1(self.relu1(x))

        return checkpoint(concat_norm_relu_conv, *features, use_reentrant=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        needs_grad = torch.is_grad_enabled() and any(f.requires_grad for f in features)
        if self.memory_efficient and needs_grad:
            out = self._concat_norm_relu_conv_checkpointed(features)
        else:
            out = self._concat_norm_relu_conv(features)
        out = F.dropout(out, p=self.drop_rate, training=self.training)
        if self.bottleneck:
            out = self.conv2(self.relu2(self.norm2(out)))  # (N, k, H, W)
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        return out


class _DenseBlock(nn.ModuleDict):
    """`num_layers` dense layers; the block returns its input and every layer's output, concatenated."""

    def __init__(
        self,
        num_layers: int,
        num_input_features: int,
        growth_rate: int,
        bn_size: int,
        drop_rate: float,
        memory_efficient: bool = False,
        bottleneck: bool = True,
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            num_in = num_input_features + i * growth_rate
            layer = _DenseLayer(num_in, growth_rate, bn_size, drop_rate, memory_efficient, bottleneck)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, init_features: torch.Tensor) -> torch.Tensor:
        # A list, concatenated inside each layer, so memory_efficient=True can recompute the concatenation.
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)  # (N, c0 + num_layers * k, H, W)


class _Transition(nn.Sequential):
    """Between blocks: BN-ReLU-conv1x1 to `num_output_features` channels, then halve the resolution."""

    def __init__(self, num_input_features: int, num_output_features: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, kernel_size=1, bias=False)
        if drop_rate > 0:  # only then, so the default module print matches torchvision's
            self.drop = nn.Dropout(drop_rate)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    """DenseNet for ImageNet (stem="imagenet", Table 1) or CIFAR (stem="cifar", Table 2).

    growth_rate: k, the channels each dense layer adds. block_config: dense layers per block.
    num_init_features: channels out of the stem. bn_size: the bottleneck 1x1 outputs bn_size * k channels.
    bottleneck: use the 1x1 bottleneck (the "B" of DenseNet-BC). compression: theta, the fraction of
    channels a transition keeps (the "C"; 1.0 keeps them all). memory_efficient: recompute each dense
    layer's concat-BN-ReLU-conv1 in the backward pass instead of storing it (same outputs and gradients,
    less memory, a little more time).
    """

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        num_classes: int = 1000,
        memory_efficient: bool = False,
        *,
        bottleneck: bool = True,
        compression: float = 0.5,
        stem: str = "imagenet",
    ) -> None:
        super().__init__()
        if not 0 < compression <= 1:
            raise ValueError(f"compression must be in (0, 1], got {compression}; the paper uses 0.5 or 1.0.")

        if stem == "imagenet":  # 7x7/2 conv and 3x3/2 max pool: 224 -> 56
            self.features = nn.Sequential(
                OrderedDict(
                    conv0=nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3, bias=False),
                    norm0=nn.BatchNorm2d(num_init_features),
                    relu0=nn.ReLU(inplace=True),
                    pool0=nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
                )
            )
        elif stem == "cifar":  # one 3x3 conv at full resolution; the first dense layer's BN-ReLU follows it
            self.features = nn.Sequential(
                OrderedDict(conv0=nn.Conv2d(3, num_init_features, kernel_size=3, padding=1, bias=False))
            )
        else:
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}.")

        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(
                num_layers, num_features, growth_rate, bn_size, drop_rate, memory_efficient, bottleneck
            )
            self.features.add_module(f"denseblock{i + 1}", block)
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                num_output_features = math.floor(num_features * compression)
                self.features.add_module(
                    f"transition{i + 1}", _Transition(num_features, num_output_features, drop_rate)
                )
                num_features = num_output_features
        # The BN after the last block; torchvision calls it norm5 (after denseblock4), so with three CIFAR
        # blocks it is norm4.
        self.features.add_module(f"norm{len(block_config) + 1}", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)  # (N, C, H/32, W/32) for ImageNet, (N, C, H/4, W/4) for CIFAR
        out = F.relu(features, inplace=True)
        out = F.adaptive_avg_pool2d(out, (1, 1))
        out = torch.flatten(out, 1)  # (N, C)
        return self.classifier(out)


# ImageNet, Table 1: (growth rate k, layers per block, stem channels). The stem has 2k channels.
IMAGENET_CONFIGS: dict[str, tuple[int, tuple[int, ...], int]] = {
    "densenet121": (32, (6, 12, 24, 16), 64),
    "densenet161": (48, (6, 12, 36, 24), 96),
    "densenet169": (32, (6, 12, 32, 32), 64),
    "densenet201": (32, (6, 12, 48, 32), 64),
}

# CIFAR, Table 2: depth L counts every conv and the classifier: the stem, two transitions and the linear
# layer make 4, and the rest are dense layers (two convs each with a bottleneck) in three equal blocks.
CIFAR_CONFIGS: dict[str, dict] = {
    "densenet40_k12": dict(depth=40, growth_rate=12, bottleneck=False, compression=1.0),
    "densenet100_k12": dict(depth=100, growth_rate=12, bottleneck=False, compression=1.0),
    "densenet100_k24": dict(depth=100, growth_rate=24, bottleneck=False, compression=1.0),
    "densenet_bc100_k12": dict(depth=100, growth_rate=12, bottleneck=True, compression=0.5),
    "densenet_bc250_k24": dict(depth=250, growth_rate=24, bottleneck=True, compression=0.5),
    "densenet_bc190_k40": dict(depth=190, growth_rate=40, bottleneck=True, compression=0.5),
}


def _imagenet_densenet(name: str, num_classes: int, options: dict) -> DenseNet:
    growth_rate, block_config, num_init_features = IMAGENET_CONFIGS[name]
    config = dict(growth_rate=growth_rate, block_config=block_config, num_init_features=num_init_features)
    return DenseNet(**{**config, **options}, num_classes=num_classes)


def cifar_densenet(
    depth: int,
    growth_rate: int,
    *,
    bottleneck: bool,
    compression: float,
    num_classes: int = 10,
    num_init_features: int | None = None,
    **options,
) -> DenseNet:
    """A CIFAR DenseNet of any depth L and growth rate k: three blocks of (L - 4) / 3 dense layers,
    or (L - 4) / 6 with a bottleneck (each layer then has two convs). The stem has 16 channels, or 2k
    with a bottleneck, as in the paper, unless num_init_features says otherwise."""
    convs_per_layer = 2 if bottleneck else 1
    if depth < 4 or (depth - 4) % (3 * convs_per_layer) != 0:
        raise ValueError(
            f"depth {depth} does not fit three equal dense blocks: (depth - 4) must be a multiple of "
            f"{3 * convs_per_layer} {'with' if bottleneck else 'without'} a bottleneck, e.g. "
            f"{'100 or 250' if bottleneck else '40 or 100'}."
        )
    layers_per_block = (depth - 4) // (3 * convs_per_layer)
    if num_init_features is None:
        num_init_features = 2 * growth_rate if bottleneck else 16
    return DenseNet(
        growth_rate=growth_rate,
        block_config=(layers_per_block,) * 3,
        num_init_features=num_init_features,
        num_classes=num_classes,
        bottleneck=bottleneck,
        compression=compression,
        stem="cifar",
        **options,
    )


def _cifar_densenet(name: str, num_classes: int, options: dict) -> DenseNet:
    return cifar_densenet(**{**CIFAR_CONFIGS[name], **options}, num_classes=num_classes)


# The transitions halve the map with 2x2/2 average pools, and the last needs 2x2: ImageNet DenseNets (a 7x7/2
# conv and a 3x3/2 max-pool, then three transitions) take 29 -> 15 -> 8 -> 4 -> 2 -> 1; CIFAR ones (an unstrided
# stem, two transitions) 4 -> 2 -> 1.
IMAGENET_INPUT = {"in_channels": 3, "natural_size": 224, "smallest_size": 29, "params_source": TORCHVISION}
DENSENET_PAPER = "Huang et al. 2017, Table 2 (rounded); exact: NUMBERS.md"
CIFAR_INPUT = {"in_channels": 3, "natural_size": 32, "smallest_size": 4, "params_source": DENSENET_PAPER}


@register_model(**IMAGENET_INPUT, published_params=7_978_856)
def densenet121(*, num_classes: int = 1000, **options) -> DenseNet:
    """DenseNet-121 (Table 1): k=32, blocks of 6-12-24-16 layers. 7,978,856 parameters at 1000 classes."""
    return _imagenet_densenet("densenet121", num_classes, options)


@register_model(**IMAGENET_INPUT, published_params=28_681_000)
def densenet161(*, num_classes: int = 1000, **options) -> DenseNet:
    """DenseNet-161 (Table 1): k=48, blocks of 6-12-36-24 layers, a 96-channel stem."""
    return _imagenet_densenet("densenet161", num_classes, options)


@register_model(**IMAGENET_INPUT, published_params=14_149_480)
def densenet169(*, num_classes: int = 1000, **options) -> DenseNet:
    """DenseNet-169 (Table 1): k=32, blocks of 6-12-32-32 layers."""
    return _imagenet_densenet("densenet169", num_classes, options)


@register_model(**IMAGENET_INPUT, published_params=20_013_928)
def densenet201(*, num_classes: int = 1000, **options) -> DenseNet:
    """DenseNet-201 (Table 1): k=32, blocks of 6-12-48-32 layers."""
    return _imagenet_densenet("densenet201", num_classes, options)


@register_model(**CIFAR_INPUT, published_params=1_019_722)
def densenet40_k12(*, num_classes: int = 10, **options) -> DenseNet:
    """DenseNet L=40, k=12 (Table 2, 1.0M parameters): plain layers, no compression."""
    return _cifar_densenet("densenet40_k12", num_classes, options)


@register_model(**CIFAR_INPUT, published_params=6_979_642)
def densenet100_k12(*, num_classes: int = 10, **options) -> DenseNet:
    """DenseNet L=100, k=12 (Table 2, 7.0M parameters)."""
    return _cifar_densenet("densenet100_k12", num_classes, options)


@register_model(**CIFAR_INPUT, published_params=27_249_082)
def densenet100_k24(*, num_classes: int = 10, **options) -> DenseNet:
    """DenseNet L=100, k=24 (Table 2, 27.2M parameters)."""
    return _cifar_densenet("densenet100_k24", num_classes, options)


@register_model(**CIFAR_INPUT, published_params=769_162)
def densenet_bc100_k12(*, num_classes: int = 10, **options) -> DenseNet:
    """DenseNet-BC L=100, k=12 (Table 2, 0.8M parameters): 1x1 bottlenecks, compression 0.5."""
    return _cifar_densenet("densenet_bc100_k12", num_classes, options)


@register_model(**CIFAR_INPUT, published_params=15_324_406)
def densenet_bc250_k24(*, num_classes: int = 10, **options) -> DenseNet:
    """DenseNet-BC L=250, k=24 (Table 2, 15.3M parameters)."""
    return _cifar_densenet("densenet_bc250_k24", num_classes, options)


@register_model(**CIFAR_INPUT, published_params=25_624_430)
def densenet_bc190_k40(*, num_classes: int = 10, **options) -> DenseNet:
    """DenseNet-BC L=190, k=40 (Table 2, 25.6M parameters)."""
    return _cifar_densenet("densenet_bc190_k40", num_classes, options)
