"""GoogLeNet (Inception v1).

C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, V. Vanhoucke, A. Rabinovich
(2014), "Going Deeper with Convolutions", CVPR 2015. The module widths are the paper's Table 1; the
auxiliary classifiers are described in Section 5.

This is torchvision's version (same attribute names, so torchvision's state_dict loads with strict=True):
6,624,904 parameters without the auxiliary classifiers, 13,004,888 with both. Its deviations from the
paper, kept so that the weights stay interchangeable:
- THE "5x5" BRANCH USES A 3x3 KERNEL. A long-standing torchvision bug, kept because its pretrained weights
  have that shape. `paper_5x5=True` builds the paper's 5x5 kernel instead (more parameters; torchvision's
  weights then no longer load).
- every conv is followed by BatchNorm (eps=0.001) and has no bias; the paper predates batch normalisation;
- no local response normalisation in the stem (the paper has two);
- max-pools round their output size up (ceil_mode, as Caffe did), and the pool before 5a is 2x2/2 instead
  of 3x3/2 (both give 7x7 at 224x224);
- the auxiliary heads pool adaptively to 4x4 (the paper: 5x5 average pool, stride 3: also 4x4 at 224);
- dropout 0.2 before the classifier (the paper: 0.4);
- transform_input=True converts ImageNet-normalised input to the [-1, 1] scaling that torchvision's
  pretrained weights (ported from TensorFlow) expect.
"""

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._registry import register_model
from .inception_layers import BasicConv2d, to_inception_range

# Table 1 of the paper: in_channels, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
# A module's output has #1x1 + #3x3 + #5x5 + pool proj channels.
INCEPTION_TABLE: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "3a": (192, 64, 96, 128, 16, 32, 32),  # -> 256 channels, 28x28
    "3b": (256, 128, 128, 192, 32, 96, 64),  # -> 480
    "4a": (480, 192, 96, 208, 16, 48, 64),  # -> 512, 14x14
    "4b": (512, 160, 112, 224, 24, 64, 64),  # -> 512
    "4c": (512, 128, 128, 256, 24, 64, 64),  # -> 512
    "4d": (512, 112, 144, 288, 32, 64, 64),  # -> 528
    "4e": (528, 256, 160, 320, 32, 128, 128),  # -> 832
    "5a": (832, 256, 160, 320, 32, 128, 128),  # -> 832, 7x7
    "5b": (832, 384, 192, 384, 48, 128, 128),  # -> 1024
}


class GoogLeNetOutputs(NamedTuple):
    """What the model returns in training mode with aux_logits=True (torchvision's order)."""

    logits: torch.Tensor
    aux_logits2: torch.Tensor
    aux_logits1: torch.Tensor


class Inception(nn.Module):
    """Four parallel branches on the same input, concatenated along channels. The 1x1 convs in front of
    the 3x3 and 5x5 convs (and after the pool) reduce the channels, which keeps the module cheap."""

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        paper_5x5: bool = False,
    ) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        # torchvision's deviation: 3x3 here, where the paper has 5x5 (see the module docstring).
        kernel = 5 if paper_5x5 else 3
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, kernel_size=kernel, padding=kernel // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], dim=1)


class InceptionAux(nn.Module):
    """An auxiliary classifier on an intermediate map: it adds a loss there during training (weighted 0.3
    by the paper) to push gradient into the middle of the network. Not used at inference."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(x, (4, 4))  # (N, 512 or 528, 4, 4)
        x = torch.flatten(self.conv(x), 1)  # (N, 2048)
        x = self.dropout(F.relu(self.fc1(x), inplace=True))  # (N, 1024)
        return self.fc2(x)


class GoogLeNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 1000,
        aux_logits: bool = True,
        transform_input: bool = False,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
        paper_5x5: bool = False,
    ) -> None:
        super().__init__()
        self.aux_logits = aux_logits
        self.transform_input = transform_input

        def inception(name: str) -> Inception:
            return Inception(*INCEPTION_TABLE[name], paper_5x5=paper_5x5)

        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = inception("3a")
        self.inception3b = inception("3b")
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = inception("4a")
        self.inception4b = inception("4b")
        self.inception4c = inception("4c")
        self.inception4d = inception("4d")
        self.inception4e = inception("4e")
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)  # the paper: 3x3, stride 2

        self.inception5a = inception("5a")
        self.inception5b = inception("5b")

        # None rather than absent, so that aux_logits=False still gives torchvision's state_dict keys.
        self.aux1 = InceptionAux(512, num_classes, dropout=dropout_aux) if aux_logits else None  # after 4a
        self.aux2 = InceptionAux(528, num_classes, dropout=dropout_aux) if aux_logits else None  # after 4d

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        if self.transform_input:
            x = to_inception_range(x)
        x = self.maxpool1(self.conv1(x))  # (N, 64, 56, 56) for a 224x224 input
        x = self.maxpool2(self.conv3(self.conv2(x)))  # (N, 192, 28, 28)
        x = self.inception3b(self.inception3a(x))  # (N, 480, 28, 28)
        x = self.maxpool3(x)  # (N, 480, 14, 14)
        x = self.inception4a(x)  # (N, 512, 14, 14)
        run_aux = self.aux1 is not None and self.aux2 is not None and self.training
        aux1 = self.aux1(x) if run_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # (N, 528, 14, 14)
        aux2 = self.aux2(x) if run_aux else None
        x = self.maxpool4(self.inception4e(x))  # (N, 832, 7, 7)
        x = self.inception5b(self.inception5a(x))  # (N, 1024, 7, 7)
        x = torch.flatten(self.avgpool(x), 1)  # (N, 1024)
        x = self.fc(self.dropout(x))  # (N, num_classes)
        if run_aux:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


# 15x15 leaves the 3x3/2 max-pool before 4a a 2x2 map (conv1 8x8, then the ceil-mode pools 4x4 and 2x2). The count
# includes both auxiliary heads (aux_logits=True by default); torchvision documents 6,624,904, without them.
@register_model(
    in_channels=3, natural_size=224, smallest_size=15,
    published_params=13_004_888, params_source="NUMBERS.md: torchvision's GoogLeNet with both auxiliary heads",
)  # fmt: skip
def googlenet(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    """GoogLeNet / Inception v1 as in torchvision. Options: aux_logits=True (the two auxiliary classifiers,
    used in training mode only), transform_input=False, dropout=0.2, dropout_aux=0.7, paper_5x5=False."""
    return GoogLeNet(num_classes=num_classes, **kwargs)
