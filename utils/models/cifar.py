"""Small CIFAR-10 versions of the ImageNet architectures, as the lessons train them, for lesson 08's race.

The papers' own CIFAR networks (ResNet-20/56, pre-activation ResNets, ResNeXt-29, DenseNet-BC) live with
their families; the ones here adapt an ImageNet design to 32x32 images in the way its lesson does, changing
only what the small image forces, and are small enough to train on a laptop CPU in minutes:

    alexnet_cifar      lesson 02: torchvision's AlexNet with a 5x5 stride-2 conv1 and a 256-input fc6
    vgg11_bn_cifar     lesson 03: VGG-11's features with BatchNorm, a 512-512-classes classifier on the 1x1 map
    googlenet_cifar    lesson 04: a 3x3 stem and GoogLeNet's modules 3a, 3b, 4a, 4b at half Table 1's widths
    resnext_cifar      lesson 06: a stem and one grouped bottleneck a stage (8 paths of 4-8-16 channels)
    preact_resnet20    lesson 05: ResNet-20 with pre-activation blocks (option A shortcuts, the same weights)
    densenet_bc40_k12  lesson 07: the smallest DenseNet-BC of the paper's layout, 6 bottleneck layers a block

and cifar_resnet18, ResNet-18 as small-image training code (and benchmarks/gpu_cifar.py) commonly trains it.

LeNet-5 takes colour images as get_model("lenet5", in_channels=3).
"""

import torch
import torch.nn as nn

from ._registry import register_model
from .alexnet import AlexNet
from .densenet import DenseNet, cifar_densenet
from .googlenet import INCEPTION_TABLE, Inception
from .inception_layers import BasicConv2d
from .resnet import BasicBlock, PreActResNet, ResNet, preact_resnet
from .resnext import GroupedConvBlock
from .vgg import CONVS_PER_STAGE, make_features

# Smallest sizes: from the layers each docstring describes; no published counts (tests/test_models_registry.py
# derives them by hand).
CIFAR_INPUT = {"in_channels": 3, "natural_size": 32}


@register_model(**CIFAR_INPUT, smallest_size=29)  # conv1 5x5/2 gives 15x15; the pools 7, 3 and 1
def alexnet_cifar(*, num_classes: int = 10, dropout: float = 0.5) -> nn.Module:
    """(N, 3, 32, 32): conv1 5x5 stride 2 gives 16x16; the three 3x3/2 pools then leave 7, 3 and 1 pixels."""
    model = AlexNet(num_classes=num_classes, dropout=dropout)
    model.features[0] = nn.Conv2d(3, 64, kernel_size=5, stride=2, padding=2)
    model.avgpool = nn.AdaptiveAvgPool2d((1, 1))  # the maps are already 1x1
    model.classifier[1] = nn.Linear(256, 4096)
    return model


class CifarVGG(nn.Module):
    """VGG features (five pools: 32x32 -> 1x1), then Linear(512, 512), ReLU, dropout, Linear(512, classes)."""

    def __init__(self, features: nn.Sequential, num_classes: int = 10, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (N, 512)
            nn.Linear(512, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(512, num_classes),
        )
        for m in self.modules():  # torchvision's VGG initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model(**CIFAR_INPUT, smallest_size=32)
def vgg11_bn_cifar(*, num_classes: int = 10, dropout: float = 0.5) -> nn.Module:
    return CifarVGG(make_features(CONVS_PER_STAGE["vgg11"], batch_norm=True), num_classes, dropout)


class CifarGoogLeNet(nn.Module):
    """(N, 3, 32, 32) -> stem 32x32 -> pool 16x16 -> 3a, 3b -> pool 8x8 -> 4a, 4b -> average -> fc.

    Table 1's widths divided by `width_divisor`, with the paper's 5x5 kernels."""

    def __init__(self, width_divisor: int = 2, num_classes: int = 10, dropout: float = 0.2) -> None:
        super().__init__()
        rows = {name: [n // width_divisor for n in INCEPTION_TABLE[name]] for name in ("3a", "3b", "4a", "4b")}
        self.stem = BasicConv2d(3, rows["3a"][0], kernel_size=3, padding=1)
        self.pool1 = nn.MaxPool2d(2)
        self.inception3a = Inception(*rows["3a"], paper_5x5=True)
        self.inception3b = Inception(*rows["3b"], paper_5x5=True)
        self.pool2 = nn.MaxPool2d(2)
        self.inception4a = Inception(*rows["4a"], paper_5x5=True)
        self.inception4b = Inception(*rows["4b"], paper_5x5=True)
        _, ch1x1, _, ch3x3, _, ch5x5, pool_proj = rows["4b"]
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(ch1x1 + ch3x3 + ch5x5 + pool_proj, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.stem(x))  # (N, C, 16, 16)
        x = self.pool2(self.inception3b(self.inception3a(x)))  # (N, C', 8, 8)
        x = self.inception4b(self.inception4a(x))  # (N, C'', 8, 8)
        return self.fc(self.dropout(x.mean(dim=(2, 3))))


@register_model(**CIFAR_INPUT, smallest_size=4)
def googlenet_cifar(*, num_classes: int = 10, width_divisor: int = 2) -> nn.Module:
    return CifarGoogLeNet(width_divisor, num_classes)


class CifarResNeXt(nn.Module):
    """(N, 3, 32, 32) -> stem 32 x 32x32 -> 64 x 32x32 -> 128 x 16x16 -> 256 x 8x8 -> average -> fc.

    One grouped bottleneck a stage, `cardinality` paths of width, 2 width and 4 width channels."""

    def __init__(self, cardinality: int = 8, width: int = 4, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = GroupedConvBlock(32, 64, cardinality, width)
        self.layer2 = GroupedConvBlock(64, 128, cardinality, 2 * width, stride=2)
        self.layer3 = GroupedConvBlock(128, 256, cardinality, 4 * width, stride=2)
        self.fc = nn.Linear(256, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # He initialisation, as in the paper
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (N, 32, 32, 32)
        x = self.layer3(self.layer2(self.layer1(x)))  # (N, 256, 8, 8)
        return self.fc(x.mean(dim=(2, 3)))


@register_model(**CIFAR_INPUT, smallest_size=1)
def resnext_cifar(*, num_classes: int = 10, cardinality: int = 8, width: int = 4) -> nn.Module:
    return CifarResNeXt(cardinality, width, num_classes)


@register_model(**CIFAR_INPUT, smallest_size=1)
def preact_resnet20(*, num_classes: int = 10, shortcut: str = "A") -> PreActResNet:
    return preact_resnet(20, num_classes, bottleneck=False, shortcut=shortcut)


@register_model(**CIFAR_INPUT, smallest_size=4)
def densenet_bc40_k12(*, num_classes: int = 10, **options) -> DenseNet:
    return cifar_densenet(40, 12, bottleneck=True, compression=0.5, num_classes=num_classes, **options)


@register_model(**CIFAR_INPUT, smallest_size=1)
def cifar_resnet18(*, num_classes: int = 10) -> nn.Module:
    """ResNet-18 as it is usually trained on CIFAR: torchvision's layout with the ImageNet stem (7x7 stride-2
    conv and max-pool, which would shrink a 32x32 image to 8x8 at once) replaced by one 3x3 stride-1 conv.
    11,173,962 parameters with 10 classes."""
    model = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    return model
