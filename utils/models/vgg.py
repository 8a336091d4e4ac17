"""VGG-11/13/16/19, with and without batch normalisation, built from one table.

K. Simonyan, A. Zisserman (2014), "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015. The configurations are the paper's Table 1 (columns A, B, D, E = VGG-11, 13, 16, 19); the
parameter counts of Table 2 (133, 133, 138, 144 million) are those of this code: 132,863,336 /
133,047,848 / 138,357,544 / 143,667,240 for 1000 classes.

Attribute names follow torchvision, so its state_dicts load with strict=True. Deviations from the paper,
all torchvision's:
- the `_bn` models add BatchNorm after every conv (batch normalisation was published a year later);
- an adaptive average pool to 7x7 before the classifier: an identity at 224x224, it lets the network take
  any input from 32x32 up (the paper instead turns the classifier into convolutions at test time);
- Kaiming-normal initialisation (the paper trained A from a normal with variance 1e-2, then started the
  deeper nets from A's weights).
Not built: column C (with 1x1 convs) and A-LRN, which the paper drops.
"""

import torch
import torch.nn as nn

from ._registry import TORCHVISION, register_model

# Table 1: five stages of 3x3 convs (stride 1, padding 1), each stage ending in a 2x2 max-pool (stride 2)
# that halves the map; the channels double per stage up to 512. The configurations differ only in how
# many convs each stage has.
STAGE_CHANNELS = (64, 128, 256, 512, 512)
CONVS_PER_STAGE: dict[str, tuple[int, ...]] = {
    "vgg11": (1, 1, 2, 2, 2),  # A: 8 convs + 3 fully connected layers = 11 weight layers
    "vgg13": (2, 2, 2, 2, 2),  # B
    "vgg16": (2, 2, 3, 3, 3),  # D
    "vgg19": (2, 2, 4, 4, 4),  # E
}


def make_features(convs_per_stage: tuple[int, ...], batch_norm: bool) -> nn.Sequential:
    """The convolutional part: (N, 3, H, W) -> (N, 512, H / 32, W / 32). One flat Sequential, so that the
    layer indices (features.0, features.1, ...) are torchvision's."""
    layers: list[nn.Module] = []
    in_channels = 3
    for channels, num_convs in zip(STAGE_CHANNELS, convs_per_stage, strict=True):
        for _ in range(num_convs):
            layers.append(nn.Conv2d(in_channels, channels, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(channels))
            layers.append(nn.ReLU(inplace=True))
            in_channels = channels
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, features: nn.Sequential, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))  # (N, 512, 7, 7)
        return self.classifier(torch.flatten(x, 1))


def _vgg(name: str, batch_norm: bool, num_classes: int, **kwargs) -> VGG:
    return VGG(make_features(CONVS_PER_STAGE[name], batch_norm), num_classes=num_classes, **kwargs)


# Five 2x2/2 max-pools take 32x32 to 1x1 (the classifier then pools adaptively to 7x7).
IMAGENET_INPUT = {"in_channels": 3, "natural_size": 224, "smallest_size": 32, "params_source": TORCHVISION}


@register_model(**IMAGENET_INPUT, published_params=132_863_336)
def vgg11(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    """VGG-11 (configuration A). Options: dropout=0.5."""
    return _vgg("vgg11", False, num_classes, **kwargs)


@register_model(**IMAGENET_INPUT, published_params=133_047_848)
def vgg13(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    """VGG-13 (configuration B). Options: dropout=0.5."""
    return _vgg("vgg13", False, num_classes, **kwargs)


@register_model(**IMAGENET_INPUT, published_params=138_357_544)
def vgg16(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    """VGG-16 (configuration D). Options: dropout=0.5."""
    return _vgg("vgg16", False, num_classes, **kwargs)


@register_model(**IMAGENET_INPUT, published_params=143_667_240)
def vgg19(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    """VGG-19 (configuration E). Options: dropout=0.5."""
    return _vgg("vgg19", False, num_classes, **kwargs)


@register_model(**IMAGENET_INPUT, published_params=132_868_840)
def vgg11_bn(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    """VGG-11 with BatchNorm after every conv. Options: dropout=0.5."""
    return _vgg("vgg11", True, num_classes, **kwargs)


@register_model(**IMAGENET_INPUT, published_params=133_053_736)
def vgg13_bn(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    """VGG-13 with BatchNorm after every conv. Options: dropout=0.5."""
    return _vgg("vgg13", True, num_classes, **kwargs)


@register_model(**IMAGENET_INPUT, published_params=138_365_992)
def vgg16_bn(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    """VGG-16 with BatchNorm after every conv. Options: dropout=0.5."""
    return _vgg("vgg16", True, num_classes, **kwargs)


@register_model(**IMAGENET_INPUT, published_params=143_678_248)
def vgg19_bn(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    """VGG-19 with BatchNorm after every conv. Options: dropout=0.5."""
    return _vgg("vgg19", True, num_classes, **kwargs)
