"""utils.inspect against hand derivations and torchvision's published GMACs (NUMBERS.md)."""

import time

import pytest
import torch
import torch.nn as nn
import torchvision

from utils.inspect import LayerRow, count_macs, count_params, images_per_second, layer_table, receptive_field


def small_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # 8*3*3*3 weights + 8 biases = 224
        nn.BatchNorm2d(8),  # 8 weights + 8 biases = 16 (running statistics are buffers, not parameters)
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 5 * 5, 10),  # 200*10 weights + 10 biases = 2,010
    )


def test_count_params_by_hand():
    net = small_net()
    assert count_params(net) == (224 + 16 + 2010, 224 + 16 + 2010)
    net[0].requires_grad_(False)
    counts = count_params(net)
    assert (counts.total, counts.trainable) == (2250, 16 + 2010)


def test_count_params_counts_a_shared_layer_once():
    shared = nn.Linear(4, 4)  # 20 parameters
    assert count_params(nn.Sequential(shared, nn.ReLU(), shared)).total == 20


def test_count_macs_of_one_conv_by_hand():
    # Every output value (8 channels x 10 x 10) is a sum over a 3x3 window of 3 input channels.
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_macs(conv, (1, 3, 10, 10)) == 8 * 10 * 10 * 3 * 3 * 3
    # A grouped conv: each output channel sees only its group's 3 of 6 input channels.
    grouped = nn.Conv2d(6, 8, 3, padding=1, groups=2)
    assert count_macs(grouped, (2, 6, 10, 10)) == 2 * 8 * 10 * 10 * 3 * 3 * 3
    linear = nn.Linear(20, 7)
    assert count_macs(linear, (4, 20)) == 4 * 20 * 7


def test_count_macs_restores_training_mode():
    net = small_net().train()
    count_macs(net, (1, 3, 10, 10))
    assert net.training and net[1].training


# torchvision's published GMACs (NUMBERS.md), rounded to 3 decimals as published.
PUBLISHED_GMACS = [
    ("alexnet", 0.714),
    ("resnet18", 1.814),
    ("resnext50_32x4d", 4.230),  # grouped 3x3 convolutions
    ("densenet121", 2.834),
]


@pytest.mark.parametrize("name, gmacs", PUBLISHED_GMACS)
def test_count_macs_matches_torchvision_published(name, gmacs):
    model = getattr(torchvision.models, name)()
    assert round(count_macs(model, (1, 3, 224, 224)) / 1e9, 3) == gmacs


def test_layer_table_shapes_and_params():
    table = layer_table(small_net(), (2, 3, 10, 10))
    assert [(r.kind, r.output_shape, r.params) for r in table] == [
        ("Conv2d", (2, 8, 10, 10), 224),
        ("BatchNorm2d", (2, 8, 10, 10), 16),
        ("ReLU", (2, 8, 10, 10), 0),
        ("MaxPool2d", (2, 8, 5, 5), 0),
        ("Flatten", (2, 200), 0),
        ("Linear", (2, 10), 2010),
    ]
    assert [r.name for r in table] == ["0", "1", "2", "3", "4", "5"]
    assert isinstance(table[0], LayerRow)


def test_layer_table_names_nested_modules_and_prints_aligned():
    model = torchvision.models.resnet18(num_classes=10)
    table = layer_table(model, (1, 3, 64, 64))
    rows = {r.name: r for r in table}
    assert rows["conv1"].output_shape == (1, 64, 32, 32)  # 7x7 stride 2
    assert rows["maxpool"].output_shape == (1, 64, 16, 16)
    assert rows["layer4.1.conv2"].output_shape == (1, 512, 2, 2)  # 64 / 32
    assert rows["fc"].output_shape == (1, 10)
    assert sum(r.params for r in table) == sum(p.numel() for p in model.parameters())

    lines = str(table).splitlines()
    assert lines[0].split() == ["layer", "type", "output", "shape", "params"]
    assert lines[-1].split()[-1] == f"{sum(p.numel() for p in model.parameters()):,}"
    # Aligned: the parameter column is right-justified and last, so every line ends at the same place.
    assert len({len(line) for line in lines}) == 1


def test_layer_table_restores_training_mode():
    net = small_net().train()
    layer_table(net, (1, 3, 10, 10))
    assert net.training


def test_receptive_field_by_hand():
    # Two stacked 3x3 stride-1 convs: each output sees 3 positions of the middle map, which see 3 + 2 = 5.
    assert receptive_field([(3, 1, 1), (3, 1, 1)]) == (5, 1)
    assert receptive_field([(3, 1, 1)] * 3) == (7, 1)
    # conv3/1 -> pool2/2 -> conv3/1: 3, then the pool adds 1 (size 4, jump 2), then the conv adds 2*2 = 8.
    assert receptive_field([(3, 1, 1), (2, 2, 1), (3, 1, 1)]) == (8, 2)
    # A dilated 3x3 (dilation 2) spans 5 positions.
    assert receptive_field([(3, 1, 2)]) == (5, 1)
    # (kernel, stride) without a dilation means dilation 1.
    assert receptive_field([(3, 1), (3, 1)]) == (5, 1)


def test_receptive_field_from_modules():
    layers = [
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)),
    ]
    assert receptive_field(layers) == (8, 2)
    # AlexNet's first layer (11x11 stride 4) and overlapping pool (3x3 stride 2): 11 + 2*4 = 19, jump 8.
    assert receptive_field([nn.Conv2d(3, 64, 11, stride=4), nn.MaxPool2d(3, stride=2)]) == (19, 8)
    # VGG-16's conv part: 13 3x3 convs and 5 2x2 pools. By hand, block b's convs each add 2 * 2**(b-1),
    # its pool adds 2**(b-1): 1 + (4+1) + (8+2) + (3*8+4) + (3*16+8) + (3*32+16) = 212, jump 32.
    vgg16_config = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    vgg_features = [nn.MaxPool2d(2) if c == "M" else nn.Conv2d(3, 3, 3, padding=1) for c in vgg16_config]
    assert receptive_field(vgg_features) == (212, 32)


def test_receptive_field_rejects_what_it_cannot_use():
    with pytest.raises(ValueError, match="kernel, stride, dilation"):
        receptive_field([nn.Linear(3, 3)])
    with pytest.raises(ValueError, match="each axis"):
        receptive_field([nn.Conv2d(3, 3, (1, 7))])


def test_bad_input_size_is_explained():
    with pytest.raises(ValueError, match="batch first"):
        count_macs(small_net(), 32)
    with pytest.raises(ValueError, match="batch first"):
        layer_table(small_net(), (3,))


class Sleeper(nn.Module):
    """A model whose forward pass takes `seconds` whatever the batch, and remembers how it was called."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds, self.calls, self.scale = seconds, [], nn.Parameter(torch.ones(1))

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled(), tuple(x.shape)))
        time.sleep(self.seconds)
        return x * self.scale


def test_images_per_second_is_batch_over_the_fastest_pass():
    model = Sleeper(0.05).train()
    rate = images_per_second(model, (8, 3, 4, 4), repeats=2)
    # by hand: 8 images a pass, each pass at least 0.05 s (sleep never returns early), so at most 160 images/s;
    # the fastest of two passes on an idle or busy machine stays well above 40 images/s (0.2 s a pass)
    assert 40 < rate <= 160
    assert len(model.calls) == 3  # one warm-up and two timed passes
    assert all(call == (False, False, (8, 3, 4, 4)) for call in model.calls)  # eval mode, no autograd
    assert model.training  # put back as it was


def test_images_per_second_refuses_zero_repeats():
    with pytest.raises(ValueError, match="repeats"):
        images_per_second(Sleeper(0.0), (1, 3, 4, 4), repeats=0)
