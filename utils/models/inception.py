"""Inception v3.

C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna (2015), "Rethinking the Inception Architecture for
Computer Vision", CVPR 2016. The outline is the paper's Table 1; the modules are its Figures 5 (5x5 ->
two 3x3), 6 (n x n -> 1 x n then n x 1, with n = 7) and 7 (parallel 1x3 and 3x1, for the coarsest grid);
grid reduction by parallel stride-2 branches is Figure 10; the auxiliary classifier is Section 4.

This is torchvision's model (same attribute names, so torchvision's state_dict loads with strict=True):
27,161,264 parameters with the auxiliary head, 23,834,568 without. Like torchvision it follows the model
Google released (TensorFlow), which differs in detail from the paper's Table 1:
- after the stem's first max-pool come a 1x1 conv to 80 channels, a 3x3 conv to 192 and a second max-pool
  (Table 1 lists three 3x3 convs there, ending at 288 channels);
- the 35x35 modules (InceptionA) keep a 5x5 branch next to the double-3x3 branch of Figure 5;
- every conv is followed by BatchNorm (eps=0.001) and has no bias, the auxiliary head included;
- transform_input=True converts ImageNet-normalised input to the [-1, 1] scaling that torchvision's
  pretrained weights expect.
Smallest input: 75x75 without the auxiliary head; the head (training mode) needs 299x299, its natural size.
"""

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._registry import TORCHVISION, register_model
from .inception_layers import BasicConv2d, to_inception_range


class InceptionOutputs(NamedTuple):
    """What the model returns in training mode with aux_logits=True (torchvision's order)."""

    logits: torch.Tensor
    aux_logits: torch.Tensor


def _avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)


class InceptionA(nn.Module):
    """35x35 grid (Figure 5): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg-pool -> 1x1."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        # Two stacked 3x3 convs see 5x5 pixels with 18 instead of 25 weights per input-output channel pair.
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(_avg_pool_3x3(x))
        return torch.cat([branch1x1, branch5x5, branch3x3dbl, branch_pool], dim=1)  # 224 + pool_features


class InceptionB(nn.Module):
    """Grid reduction 35x35 -> 17x17 (Figure 10): stride-2 conv branches next to a stride-2 max-pool, so
    the grid shrinks without a representational bottleneck and without paying for a conv at full size."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3(x)
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([branch3x3, branch3x3dbl, branch_pool], dim=1)  # 384 + 96 + in_channels


class InceptionC(nn.Module):
    """17x17 grid (Figure 6): each 7x7 conv factorised into 1x7 then 7x1 (14 instead of 49 weights per
    channel pair). `channels_7x7` is the width inside the factorised branches."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            branch7x7dbl = conv(branch7x7dbl)
        branch_pool = self.branch_pool(_avg_pool_3x3(x))
        return torch.cat([branch1x1, branch7x7, branch7x7dbl, branch_pool], dim=1)  # 4 * 192 = 768


class InceptionD(nn.Module):
    """Grid reduction 17x17 -> 8x8, built like InceptionB."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        branch7x7x3 = self.branch7x7x3_1(x)
        for conv in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            branch7x7x3 = conv(branch7x7x3)
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([branch3x3, branch7x7x3, branch_pool], dim=1)  # 320 + 192 + in_channels


class InceptionE(nn.Module):
    """8x8 grid (Figure 7): the 3x3 convs end in a 1x3 and a 3x1 side by side, whose outputs are both kept
    (concatenated), which widens the output for the high-dimensional coarsest features."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)
        b = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], dim=1)
        b = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b)], dim=1)
        branch_pool = self.branch_pool(_avg_pool_3x3(x))
        return torch.cat([branch1x1, branch3x3, branch3x3dbl, branch_pool], dim=1)  # 320 + 768 + 768 + 192


class InceptionAux(nn.Module):
    """The auxiliary classifier on the 17x17 grid. The paper found it acts as a regulariser (it helps only
    near the end of training, more so with BatchNorm) rather than as a help for early gradient flow."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv0 = BasicConv2d(in_channels, 128, kernel_size=1)
        self.conv1 = BasicConv2d(128, 768, kernel_size=5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, kernel_size=5, stride=3)  # (N, 768, 17, 17) -> (N, 768, 5, 5)
        x = self.conv1(self.conv0(x))  # (N, 768, 1, 1)
        x = torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)
        return self.fc(x)


class Inception3(nn.Module):
    def __init__(
        self,
        num_classes: int = 1000,
        aux_logits: bool = True,
        transform_input: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        # Stem: (N, 3, 299, 299) -> (N, 192, 35, 35)
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)  # 149x149
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)  # 147x147
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)  # 147x147
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)  # 73x73
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)  # 73x73
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)  # 71x71
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)  # 35x35
        # 35x35: 192 -> 256 -> 288 -> 288 channels, then reduce to 17x17x768
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        # 17x17x768
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        # None rather than absent, so that aux_logits=False still gives torchvision's state_dict keys.
        self.AuxLogits = InceptionAux(768, num_classes) if aux_logits else None
        # reduce to 8x8x1280, then 8x8x2048
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(2048, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's scheme: truncated normals, std 0.1, narrower for the auxiliary head's last layers.
        narrow = {} if self.AuxLogits is None else {self.AuxLogits.conv1.conv: 0.01, self.AuxLogits.fc: 0.001}
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=narrow.get(m, 0.1), a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor | InceptionOutputs:
        if self.transform_input:
            x = to_inception_range(x)
        x = self.Conv2d_1a_3x3(x)  # (N, 32, 149, 149) for a 299x299 input
        x = self.Conv2d_2a_3x3(x)  # (N, 32, 147, 147)
        x = self.Conv2d_2b_3x3(x)  # (N, 64, 147, 147)
        x = self.maxpool1(x)  # (N, 64, 73, 73)
        x = self.Conv2d_3b_1x1(x)  # (N, 80, 73, 73)
        x = self.Conv2d_4a_3x3(x)  # (N, 192, 71, 71)
        x = self.maxpool2(x)  # (N, 192, 35, 35)
        x = self.Mixed_5b(x)  # (N, 256, 35, 35)
        x = self.Mixed_5c(x)  # (N, 288, 35, 35)
        x = self.Mixed_5d(x)  # (N, 288, 35, 35)
        x = self.Mixed_6a(x)  # (N, 768, 17, 17)
        x = self.Mixed_6b(x)
        x = self.Mixed_6c(x)
        x = self.Mixed_6d(x)
        x = self.Mixed_6e(x)  # (N, 768, 17, 17)
        run_aux = self.AuxLogits is not None and self.training
        aux = self.AuxLogits(x) if run_aux else None
        x = self.Mixed_7a(x)  # (N, 1280, 8, 8)
        x = self.Mixed_7b(x)  # (N, 2048, 8, 8)
        x = self.Mixed_7c(x)  # (N, 2048, 8, 8)
        x = self.fc(torch.flatten(self.dropout(self.avgpool(x)), 1))  # (N, num_classes)
        if run_aux:
            return InceptionOutputs(x, aux)
        return x


# The auxiliary head (on by default, run in training mode) pools Mixed_6e's output 5x5/3 and then applies an
# unpadded 5x5 conv, so Mixed_6e must be 17x17. Working back through Mixed_6a (3x3/2) and the stem (3x3/2, 3x3,
# 3x3, pool 3/2, 1x1, 3x3, pool 3/2) that takes 299x299. Without the head (eval mode) 75x75 passes.
@register_model(
    in_channels=3, natural_size=299, smallest_size=299, published_params=27_161_264, params_source=TORCHVISION
)
def inception_v3(*, num_classes: int = 1000, **kwargs) -> nn.Module:
    """Inception v3 as in torchvision. Options: aux_logits=True (the auxiliary head, used in training mode
    only), transform_input=False, dropout=0.5."""
    return Inception3(num_classes=num_classes, **kwargs)
