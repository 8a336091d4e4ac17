"""Residual families of utils.models (resnet.py, resnext.py), checked against independent sources:
the parameter counts of shared/reference/NUMBERS.md, torchvision's own models, and hand derivations below.
(Each registered model's published count is checked in tests/test_models_registry.py.)
"""

import pytest
import torch
import torch.nn as nn
import torchvision
from torch.testing import assert_close

from utils.models import get_model, list_models, model_facts
from utils.models.resnet import BasicBlock, CifarResNet, PreActBasicBlock, PreActBottleneck, ZeroPadShortcut
from utils.models.resnext import (
    ConcatenatedPathsBlock,
    GroupedConvBlock,
    SummedPathsBlock,
    copy_from_grouped,
)

# The counts every registered model is checked against (its facts, from NUMBERS.md and torchvision) are tested in
# tests/test_models_registry.py; here: other depths and widths, options, and the hand derivations.
IMAGENET_NAMES = [
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "wide_resnet50_2",
    "resnext50_32x4d", "resnext101_32x8d",
]  # fmt: skip
CIFAR_NAMES = [
    "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
    "preact_resnet110", "preact_resnet164", "preact_resnet1001", "wrn28_10", "resnext29_8x64d", "resnext29_16x64d",
]  # fmt: skip


def test_every_residual_name_is_registered():
    assert set(IMAGENET_NAMES) | set(CIFAR_NAMES) <= set(list_models())


def test_preact_resnet110_has_resnet110s_count(num_params):
    # Not in NUMBERS.md: the paper gives 1.7 M. Pre-activation with option A moves BNs around but keeps their
    # total (the stem's BN(16) becomes the final BN(64); the two stage-entry BNs shrink from 32+64 to 16+32
    # channels: -32 - 64 - 32 + 128 = 0 parameters), so the count equals ResNet-110's exactly.
    assert num_params(get_model("preact_resnet110")) == model_facts("resnet110").published_params


def test_cifar_resnet_any_depth(num_params):
    # ResNet-1202 from the 2015 paper's Table 6: 19.4 M; NUMBERS.md gives the exact count.
    assert num_params(CifarResNet(depth=1202)) == 19_421_274


def wrn_params_by_hand(depth: int, k: int, classes: int = 10) -> int:
    """WRN-d-k counted layer by layer: pre-activation basic blocks, 1x1 conv shortcut (no BN) on a shape change."""
    n = (depth - 4) // 6
    total = 3 * 16 * 9  # stem 3x3 conv, no bias
    c_in = 16
    for stride, width in zip((1, 2, 2), (16 * k, 32 * k, 64 * k), strict=True):
        first = 2 * c_in + 9 * c_in * width + 2 * width + 9 * width * width  # BN, conv, BN, conv
        if stride != 1 or c_in != width:
            first += c_in * width  # 1x1 projection
        total += first + (n - 1) * (2 * width + 9 * width * width) * 2
        c_in = width
    return total + 2 * c_in + c_in * classes + classes  # final BN, fc


@pytest.mark.parametrize(("depth", "k"), [(28, 10), (16, 8), (40, 4), (10, 1)])
def test_wide_resnet_any_depth_and_width(depth, k, num_params):
    model = get_model("wrn28_10", depth=depth, widen_factor=k)
    assert num_params(model) == wrn_params_by_hand(depth, k)


def test_wide_resnet_hand_count_agrees_with_published():
    assert wrn_params_by_hand(28, 10) == 36_479_194  # NUMBERS.md
    # Zagoruyko & Komodakis, Table 4: WRN-16-8 has 11.0 M and WRN-40-4 8.9 M parameters.
    assert round(wrn_params_by_hand(16, 8) / 1e6, 1) == 11.0
    assert round(wrn_params_by_hand(40, 4) / 1e6, 1) == 8.9


def test_wide_resnet_dropout_sits_between_the_convs(num_params):
    model = get_model("wrn28_10", depth=16, widen_factor=1, dropout=0.3)
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 6 and all(d.p == 0.3 for d in dropouts)  # one per block, (16 - 4) / 6 * 3 blocks
    assert num_params(model) == wrn_params_by_hand(16, 1)  # dropout adds no parameters


def test_projection_shortcuts_cost_what_the_hand_count_says(num_params):
    # Option B replaces the two zero-padding shortcuts by 1x1 conv + BN: (16*32 + 2*32) + (32*64 + 2*64).
    assert num_params(get_model("resnet20", shortcut="B")) - num_params(get_model("resnet20")) == 2_752
    # In a pre-activation net the projection is the 1x1 conv alone: 16*32 + 32*64.
    assert num_params(get_model("preact_resnet110", shortcut="B")) - num_params(get_model("preact_resnet110")) == 2_560


# ---------------------------------------------------------------------------------------------------------
# Option A shortcut
# ---------------------------------------------------------------------------------------------------------


def test_option_a_shortcut_subsamples_and_pads_with_zeros():
    x = torch.arange(18.0).reshape(1, 2, 3, 3)  # channel 0: 0..8, channel 1: 9..17, row-major
    out = ZeroPadShortcut(extra_channels=2, stride=2)(x)
    expected = torch.tensor(
        [
            [[0.0, 2.0], [6.0, 8.0]],  # rows and columns 0 and 2 of channel 0
            [[9.0, 11.0], [15.0, 17.0]],  # the same of channel 1
            [[0.0, 0.0], [0.0, 0.0]],  # two new channels, all zero
            [[0.0, 0.0], [0.0, 0.0]],
        ]
    ).unsqueeze(0)
    assert_close(out, expected, rtol=0, atol=0)


def test_option_a_shortcuts_in_cifar_resnet_have_no_parameters(num_params):
    model = get_model("resnet20")
    shortcuts = [m.downsample for m in model.modules() if isinstance(m, BasicBlock) and m.downsample is not None]
    assert len(shortcuts) == 2  # entering stage 2 (16 -> 32) and stage 3 (32 -> 64)
    assert all(isinstance(s, ZeroPadShortcut) and num_params(s) == 0 for s in shortcuts)


# ---------------------------------------------------------------------------------------------------------
# Pre-activation: the shortcut path is a clean identity
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block_type", [PreActBasicBlock, PreActBottleneck])
def test_preact_block_with_silent_residual_is_exactly_the_identity(block_type):
    # He et al. 2016: with nothing after the addition, a unit whose residual branch outputs zero passes its
    # input through unchanged, negative values included.
    torch.manual_seed(0)
    block = block_type(64, 64 // block_type.expansion).eval()
    last_conv = block.conv3 if block_type is PreActBottleneck else block.conv2
    nn.init.zeros_(last_conv.weight)
    x = torch.randn(2, 64, 8, 8)
    assert_close(block(x), x, rtol=0, atol=0)


def test_post_activation_block_with_silent_residual_is_a_relu():
    # The 2015 block applies ReLU after the addition, so the same experiment gives relu(x), not x.
    torch.manual_seed(0)
    block = BasicBlock(16, 16).eval()
    nn.init.zeros_(block.bn2.weight)
    nn.init.zeros_(block.bn2.bias)
    x = torch.randn(2, 16, 8, 8)
    assert_close(block(x), x.clamp(min=0), rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------------------
# torchvision twins: strict state_dict load, same outputs
# ---------------------------------------------------------------------------------------------------------


def measure_batchnorm_statistics(model: nn.Module, x: torch.Tensor) -> None:
    """Set every BN's running statistics to those of the batch x, so that in eval mode BN really normalises.

    Without this a deep random net (unit running_var, activations that are not) grows its output to ~1e9.
    """
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()


@pytest.mark.parametrize("name", IMAGENET_NAMES)
def test_torchvision_weights_load_strictly_and_give_the_same_output(name, randomize_batchnorm):
    torch.manual_seed(0)
    reference = torchvision.models.get_model(name, weights=None)
    randomize_batchnorm(reference)
    measure_batchnorm_statistics(reference, torch.randn(2, 3, 64, 64))
    ours = get_model(name).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert_close(ours(x), reference(x))


# ---------------------------------------------------------------------------------------------------------
# ResNeXt: the three forms of Fig. 3 compute the same function
# ---------------------------------------------------------------------------------------------------------


def test_three_forms_of_fig3_have_the_same_parameter_count(num_params):
    # Fig. 3 block (256 -> 256, 32 paths of 4 channels). Convs: 256*128 + 32*(4*4*9) + 128*256 = 70,144 (the
    # paper's "~70k"); BNs: 2*128 + 2*128 + 2*256 = 1,024.
    for form in (SummedPathsBlock, ConcatenatedPathsBlock, GroupedConvBlock):
        assert num_params(form(256, 256, cardinality=32, width=4)) == 70_144 + 1_024


@pytest.mark.parametrize("form", [SummedPathsBlock, ConcatenatedPathsBlock])
@pytest.mark.parametrize(
    ("in_channels", "out_channels", "cardinality", "width", "stride"),
    [(256, 256, 32, 4, 1), (64, 128, 4, 8, 2)],  # Fig. 3 itself; a block that downsamples (projection)
)
@pytest.mark.parametrize("training", [False, True])
def test_resnext_forms_agree_after_copying_weights(
    form, in_channels, out_channels, cardinality, width, stride, training, randomize_batchnorm
):
    torch.manual_seed(0)
    grouped = GroupedConvBlock(in_channels, out_channels, cardinality, width, stride)
    randomize_batchnorm(grouped)
    split = form(in_channels, out_channels, cardinality, width, stride)
    copy_from_grouped(grouped, split)
    grouped.train(training)
    split.train(training)
    x = torch.randn(2, in_channels, 8, 8)
    with torch.no_grad():
        assert_close(split(x), grouped(x), rtol=1e-4, atol=1e-5)  # sums in another order: float rounding


def test_resnext_block_of_a_real_network_equals_its_multi_path_form(randomize_batchnorm):
    torch.manual_seed(0)
    block = get_model("resnext29_8x64d").layer2[0]  # 256 -> 512, 8 paths of 128 channels, stride 2
    randomize_batchnorm(block)
    block.eval()
    summed = SummedPathsBlock(256, 512, cardinality=8, width=128, stride=2).eval()
    copy_from_grouped(block, summed)
    x = torch.randn(1, 256, 8, 8)
    with torch.no_grad():
        assert_close(summed(x), block(x), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------
# Forward and backward, batch of 2
# ---------------------------------------------------------------------------------------------------------


# CIFAR models at their natural 32x32. (tests/test_models_registry.py runs a training step of every
# registered model too, ImageNet ones included; here the CIFAR ones also check the num_classes option.)
FORWARD_BACKWARD_CASES = [
    pytest.param(name, marks=pytest.mark.slow) if name == "preact_resnet1001" else name  # 1,001 layers: seconds
    for name in CIFAR_NAMES
]


@pytest.mark.parametrize("name", FORWARD_BACKWARD_CASES)
def test_forward_backward(name):
    torch.manual_seed(0)
    model = get_model(name, num_classes=7)  # not the default, to check the option reaches the head
    size = model_facts(name).natural_size
    logits = model(torch.randn(2, 3, size, size))
    assert logits.shape == (2, 7)
    nn.functional.cross_entropy(logits, torch.tensor([0, 6])).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), f"no finite gradient for {pname}"


# ---------------------------------------------------------------------------------------------------------
# Bad options: one clear line
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: CifarResNet(depth=21), r"6n\+2"),
        (lambda: get_model("resnet20", shortcut="C"), "shortcut must be 'A'"),
        (lambda: get_model("wrn28_10", depth=27), r"6n\+4"),
        (lambda: get_model("resnext29_8x64d", depth=30), r"9n\+2"),
        (lambda: copy_from_grouped(GroupedConvBlock(64, 64, 4, 8), SummedPathsBlock(64, 64, 8, 4)), "shapes differ"),
    ],
)
def test_bad_options_raise_a_clear_error(build, message):
    with pytest.raises(ValueError, match=message):
        build()
