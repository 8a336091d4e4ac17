"""LeNet-5, as published and as it is usually trained today.

Y. LeCun, L. Bottou, Y. Bengio, P. Haffner (1998), "Gradient-Based Learning Applied to Document
Recognition", Proc. IEEE 86(11). Architecture in Section II.B and Fig. 2; C3's sparse connection
table is Table I; initialisation and the squashing function in Appendix A.

Both variants read a 32x32 image and use the paper's layer names, so a lesson can put them side by side:

    layer   lenet5 (modern)                lenet5_classic (1998)                        parameters
    c1      conv 5x5, 6 maps, ReLU         conv 5x5, 6 maps, scaled tanh                 156
    s2      max-pool 2x2                   2x2 sum * coefficient + bias, scaled tanh     0 / 12
    c3      conv 5x5, 16 maps, ReLU        conv 5x5 through Table I, scaled tanh         2,416 / 1,516
    s4      max-pool 2x2                   like s2                                       0 / 32
    c5      conv 5x5, 120 maps, ReLU       conv 5x5, 120 maps, scaled tanh               48,120
    f6      linear 120 -> 84, ReLU         linear 120 -> 84, scaled tanh                 10,164
    output  linear 84 -> 10                RBF: squared distance to 10 fixed codes       850 / 840

Totals: lenet5 61,706; lenet5_classic 60,840, of which 60,000 trainable (the paper's "60,000 trainable
parameters": the RBF codes are fixed).

Input size: the paper centres 28x28 MNIST digits in a 32x32 field. Pass `image_size=28` to feed 28x28
images directly: c1 then zero-pads by 2 pixels, which is the same as padding the image with zeros
(choose a normalisation whose background is 0 if the padded border should look like background).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._registry import register_model

# Table I of the paper: row i is S2 map i, column j is C3 map j; "X" means C3 map j reads S2 map i.
# Maps 0-5 read 3 neighbouring maps, 6-11 read 4 neighbours, 12-14 read 4 non-neighbours, 15 reads all 6:
# 60 connections of 5x5 weights, so 60 * 25 + 16 biases = 1,516 parameters instead of a full conv's 2,416.
C3_CONNECTION_TABLE = (
    "X...XXX..XXXX.XX",
    "XX...XXX..XXXX.X",
    "XXX...XXX..X.XXX",
    ".XXX..XXXX..X.XX",
    "..XXX..XXXX.XX.X",
    "...XXX..XXXX.XXX",
)

# The output layer's codes: the paper draws each class as a stylised 7x12 bitmap, +1 for ink and -1 for
# background, and F6 has 84 = 7 * 12 units so that it can learn to draw the bitmap of the right class.
# Our own drawings of the ten digits, side by side (the paper's bitmaps are not published as data).
DIGIT_BITMAPS = """
....... ....... ....... ....... ....... ....... ....... ....... ....... .......
..###.. ...#... .#####. .#####. ....#.. ####### ..####. ####### .#####. .#####.
.#...#. ..##... #.....# #.....# ...##.. #...... .#..... ......# #.....# #.....#
#.....# .#.#... ......# ......# ..#.#.. #...... #...... .....#. #.....# #.....#
#.....# ...#... ......# ......# .#..#.. #...... #...... .....#. #.....# #.....#
#.....# ...#... .....#. ..####. #...#.. ######. #.####. ....#.. .#####. #.....#
#.....# ...#... ....#.. ......# ####### ......# ##....# ....#.. #.....# .######
#.....# ...#... ...#... ......# ....#.. ......# #.....# ...#... #.....# ......#
#.....# ...#... ..#.... ......# ....#.. ......# #.....# ...#... #.....# ......#
.#...#. ...#... .#..... #.....# ....#.. #.....# #.....# ..#.... #.....# .....#.
..###.. .#####. ####### .#####. ....#.. .#####. .#####. ..#.... .#####. .####..
....... ....... ....... ....... ....... ....... ....... ....... ....... .......
"""


def _check_image_size(image_size: int) -> int:
    if image_size not in (28, 32):
        raise ValueError(f"LeNet-5 takes image_size=32, or 28 (padded to 32 by c1); got {image_size}.")
    return (32 - image_size) // 2  # c1's zero padding


def _check_input(x: torch.Tensor, image_size: int) -> None:
    if x.dim() != 4 or x.shape[-2:] != (image_size, image_size):
        raise ValueError(
            f"LeNet-5 built for {image_size}x{image_size} images expects input of shape (N, C, {image_size}, "
            f"{image_size}); got {tuple(x.shape)}. Pad or resize the images, or build it with image_size=28 "
            "for 28x28 images."
        )


class LeNet5(nn.Module):
    """LeNet-5 as trained today: ReLU, max-pooling, a full C3 and a linear output (logits)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 32) -> None:
        super().__init__()
        self.image_size = image_size
        self.c1 = nn.Conv2d(in_channels, 6, kernel_size=5, padding=_check_image_size(image_size))
        self.s2 = nn.MaxPool2d(kernel_size=2)
        self.c3 = nn.Conv2d(6, 16, kernel_size=5)
        self.s4 = nn.MaxPool2d(kernel_size=2)
        # C5 is a convolution in the paper; on a 5x5 map a 5x5 kernel sees everything, so it is also a
        # fully connected layer 400 -> 120 (same 48,120 parameters).
        self.c5 = nn.Conv2d(16, 120, kernel_size=5)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.image_size)
        x = self.s2(F.relu(self.c1(x)))  # (N, 6, 28, 28) -> (N, 6, 14, 14)
        x = self.s4(F.relu(self.c3(x)))  # (N, 16, 10, 10) -> (N, 16, 5, 5)
        x = F.relu(self.c5(x)).flatten(1)  # (N, 120, 1, 1) -> (N, 120)
        x = F.relu(self.f6(x))  # (N, 84)
        return self.output(x)  # (N, num_classes) logits


def scaled_tanh(x: torch.Tensor) -> torch.Tensor:
    """The paper's squashing function f(a) = A tanh(S a) with A = 1.7159, S = 2/3 (Appendix A):
    f(1) = 1 and f(-1) = -1, and the second derivative is largest at +-1, the targets' range."""
    return 1.7159 * torch.tanh(2.0 / 3.0 * x)


class Subsampling(nn.Module):
    """S2/S4: each unit adds its 2x2 inputs (no overlap), times one trainable coefficient per map, plus one
    trainable bias per map: 2 parameters per map. The squashing function is applied by the caller."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summed = F.avg_pool2d(x, kernel_size=2, divisor_override=1)  # the sum of each 2x2 window
        return summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class SparseConv2d(nn.Module):
    """A convolution in which output map j reads only the input maps that column j of `table` marks.
    One small convolution per output map, so the parameter count is exactly the table's."""

    def __init__(self, table: tuple[str, ...], kernel_size: int) -> None:
        super().__init__()
        out_maps = len(table[0])
        self.inputs_of = [[i for i, row in enumerate(table) if row[j] == "X"] for j in range(out_maps)]
        self.maps = nn.ModuleList(nn.Conv2d(len(inputs), 1, kernel_size) for inputs in self.inputs_of)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = [conv(x[:, inputs]) for inputs, conv in zip(self.inputs_of, self.maps, strict=True)]
        return torch.cat(maps, dim=1)  # (N, 16, H - 4, W - 4)


class RBFOutput(nn.Module):
    """Euclidean RBF units: y_i = sum_j (x_j - w_ij)^2, the squared distance from F6's state to class i's
    code. The paper's loss pushes down the distance of the right class; we return -y as logits, so
    cross-entropy on them is the paper's criterion (Section II.C) without its constant j term."""

    def __init__(self, codes: torch.Tensor, trainable: bool = False) -> None:
        super().__init__()
        # Kept fixed as in the paper ("chosen by hand and kept fixed, at least initially"); still a
        # Parameter so that it is saved with the model, counted, and can be unfrozen.
        self.centres = nn.Parameter(codes.clone(), requires_grad=trainable)  # (num_classes, 84)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squared_distance = (x.unsqueeze(1) - self.centres).pow(2).sum(dim=2)  # (N, num_classes)
        return -squared_distance


def rbf_codes(num_classes: int) -> torch.Tensor:
    """The +-1 codes of the output layer: our digit bitmaps for 10 classes, else random +-1 codes."""
    if num_classes == 10:
        rows = [line.split() for line in DIGIT_BITMAPS.strip("\n").splitlines()]  # 12 rows x 10 digits
        bitmaps = ["".join(row[digit] for row in rows) for digit in range(10)]  # 84 characters each
        return torch.tensor([[1.0 if c == "#" else -1.0 for c in b] for b in bitmaps])
    # Deviation: the paper only has codes for characters; other class counts get random codes, drawn from
    # a fixed seed so that every build (and every learner) gets the same ones.
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 2, (num_classes, 84), generator=generator).float() * 2 - 1


class LeNet5Classic(nn.Module):
    """LeNet-5 as published in 1998: scaled tanh everywhere, trainable subsampling, sparse C3, RBF output."""

    def __init__(
        self, num_classes: int = 10, in_channels: int = 1, image_size: int = 32, rbf_trainable: bool = False
    ) -> None:
        super().__init__()
        self.image_size = image_size
        self.c1 = nn.Conv2d(in_channels, 6, kernel_size=5, padding=_check_image_size(image_size))
        self.s2 = Subsampling(6)
        self.c3 = SparseConv2d(C3_CONNECTION_TABLE, kernel_size=5)
        self.s4 = Subsampling(16)
        self.c5 = nn.Conv2d(16, 120, kernel_size=5)
        self.f6 = nn.Linear(120, 84)
        self.output = RBFOutput(rbf_codes(num_classes), trainable=rbf_trainable)
        self._init_like_the_paper()

    def _init_like_the_paper(self) -> None:
        # Appendix A: weights uniform in [-2.4 / F, 2.4 / F], F the fan-in of the unit. We treat each bias
        # as a weight from a constant input and draw it from the same range (the paper does not say).
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear, Subsampling)):
                fan_in = 4 if isinstance(module, Subsampling) else module.weight[0].numel()
                for p in (module.weight, module.bias):
                    nn.init.uniform_(p, -2.4 / fan_in, 2.4 / fan_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The paper squashes every layer up to F6 (Section II.B), subsampling layers included.
        _check_input(x, self.image_size)
        x = scaled_tanh(self.c1(x))  # (N, 6, 28, 28)
        x = scaled_tanh(self.s2(x))  # (N, 6, 14, 14)
        x = scaled_tanh(self.c3(x))  # (N, 16, 10, 10)
        x = scaled_tanh(self.s4(x))  # (N, 16, 5, 5)
        x = scaled_tanh(self.c5(x)).flatten(1)  # (N, 120)
        x = scaled_tanh(self.f6(x))  # (N, 84)
        return self.output(x)  # (N, num_classes): minus the squared distance to each class's code


# Both take exactly image_size x image_size images (32 by default, the paper's padded MNIST).
@register_model(
    in_channels=1, takes_in_channels=True, natural_size=32, smallest_size=32,
    published_params=61_706, params_source="NUMBERS.md: LeNet-5 with a full C3 and a Linear 84->10 output",
)  # fmt: skip
def lenet5(*, num_classes: int = 10, in_channels: int = 1, image_size: int = 32) -> nn.Module:
    """Modern LeNet-5 (61,706 parameters for 10 classes). image_size=28 pads c1 to take 28x28 images."""
    return LeNet5(num_classes=num_classes, in_channels=in_channels, image_size=image_size)


@register_model(
    in_channels=1, takes_in_channels=True, natural_size=32, smallest_size=32,
    published_params=60_000, params_source="LeCun et al. 1998, Section II.B (trainable: the RBF codes are fixed)",
)  # fmt: skip
def lenet5_classic(
    *, num_classes: int = 10, in_channels: int = 1, image_size: int = 32, rbf_trainable: bool = False
) -> nn.Module:
    """LeNet-5 of LeCun et al. 1998 (60,840 parameters, 60,000 trainable). Outputs are -RBF distances."""
    return LeNet5Classic(
        num_classes=num_classes, in_channels=in_channels, image_size=image_size, rbf_trainable=rbf_trainable
    )
