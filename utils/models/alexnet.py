"""AlexNet: the two-GPU original and torchvision's single-tower variant.

A. Krizhevsky, I. Sutskever, G. E. Hinton (2012), "ImageNet Classification with Deep Convolutional Neural
Networks", NeurIPS. Architecture in Section 3 and Fig. 2 (local response normalisation: Section 3.3,
k=2, n=5, alpha=1e-4, beta=0.75; overlapping pooling 3x3 stride 2: Section 3.4; dropout 0.5 in the first
two fully connected layers: Section 4.2; initialisation: Section 5).

`alexnet` is torchvision's model (same attribute names, so torchvision's state_dict loads with
strict=True): a single-tower AlexNet with 64-192-384-256-256 channels, no LRN and no groups; 61,100,840
parameters. torchvision's documentation cites A. Krizhevsky (2014), "One weird trick for parallelizing
convolutional neural networks", but that paper's single-tower network has 384 kernels in conv4; these widths
follow the one-GPU configuration of Krizhevsky's cuda-convnet2 as ported to Torch, and stay because
torchvision's published weights depend on them.

`alexnet_original` is the 2012 network: 96-256-384-384-256 channels, conv2/4/5 split into two groups
because each half lived on its own GPU and saw only the maps of its own half (conv3 and the fully
connected layers talk across GPUs), LRN after conv1 and conv2; 60,965,224 parameters ("60 million").
"""

import torch
import torch.nn as nn

from ._registry import TORCHVISION, register_model


class AlexNet(nn.Module):
    """torchvision's single-tower AlexNet (the same modules under the same names)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),  # (N, 64, 55, 55) for 224x224
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # (N, 64, 27, 27)
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # (N, 192, 13, 13)
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # (N, 256, 6, 6)
        )
        # An identity at 224x224; lets the network take any input from 63x63 up.
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class AlexNetOriginal(nn.Module):
    """The 2012 AlexNet. `groups=2` reproduces the two-GPU split: each half of conv2, conv4 and conv5 reads
    only the maps that the same GPU computed in the layer before.

    Input size: the paper says 224x224, but with an 11x11 stride-4 unpadded conv1 only 227x227 gives its
    55x55 maps. We take 224x224 crops (the size every other ImageNet model here uses) and pad conv1 by 2, as
    torchvision does: floor((224 + 4 - 11) / 4) + 1 = 55, the paper's map sizes from there on.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        # PyTorch's LocalResponseNorm divides alpha by the window size n; the paper's formula does not,
        # so alpha = n * 1e-4 gives the paper's normalisation b = a / (k + 1e-4 * sum a^2) ** 0.75.
        lrn = dict(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4, padding=2),  # (N, 96, 55, 55)
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn),
            nn.MaxPool2d(kernel_size=3, stride=2),  # overlapping pooling: (N, 96, 27, 27)
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2),  # 2 x (48 -> 128): (N, 256, 27, 27)
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn),
            nn.MaxPool2d(kernel_size=3, stride=2),  # (N, 256, 13, 13)
            nn.Conv2d(256, 384, kernel_size=3, padding=1),  # reads both halves: (N, 384, 13, 13)
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2),  # 2 x (192 -> 192)
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2),  # 2 x (192 -> 128)
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # (N, 256, 6, 6)
        )
        # Deviation, as in torchvision: not in the paper, and an identity at 224x224; it lets the network
        # take smaller inputs (from 63x63 up) for quick experiments.
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        # Dropout on the outputs of the first two fully connected layers (the paper's Section 4.2).
        self.classifier = nn.Sequential(
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        self._init_like_the_paper()

    def _init_like_the_paper(self) -> None:
        # Section 5: weights from N(0, 0.01); biases 1 in conv2, conv4, conv5 and the hidden fully connected
        # layers (to give the ReLUs positive inputs early on), 0 in conv1, conv3 and the output layer.
        layers = [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        conv1, conv2, conv3, conv4, conv5, fc6, fc7, fc8 = layers
        for layer in layers:
            nn.init.normal_(layer.weight, mean=0.0, std=0.01)
            bias_is_one = layer in (conv2, conv4, conv5, fc6, fc7)
            nn.init.constant_(layer.bias, 1.0 if bias_is_one else 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# conv1 (11x11/4, padding 2) turns 63x63 into 15x15, which the three 3x3/2 max-pools take to 7, 3 and 1.
IMAGENET_INPUT = {"in_channels": 3, "natural_size": 224, "smallest_size": 63}


@register_model(**IMAGENET_INPUT, published_params=61_100_840, params_source=TORCHVISION)
def alexnet(*, num_classes: int = 1000, dropout: float = 0.5) -> nn.Module:
    """torchvision's single-tower AlexNet (61,100,840 parameters)."""
    return AlexNet(num_classes=num_classes, dropout=dropout)


@register_model(**IMAGENET_INPUT)  # the paper: "60 million"; tests/test_models_classic.py counts it by hand
def alexnet_original(*, num_classes: int = 1000, dropout: float = 0.5) -> nn.Module:
    """The two-GPU AlexNet of Krizhevsky et al. 2012 as one model with grouped convolutions (60,965,224)."""
    return AlexNetOriginal(num_classes=num_classes, dropout=dropout)
