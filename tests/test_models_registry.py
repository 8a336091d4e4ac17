"""The registry: exactly the names of issue 3 and of lesson 08's race; each builds and trains a step at its natural
input."""

import pytest
import torch
import torch.nn.functional as F

from utils.models import get_model, list_models

# Written out from issue 3's list of registry names.
LENET = ["lenet5", "lenet5_classic"]
ALEXNET = ["alexnet", "alexnet_original"]
VGG = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
INCEPTION = ["googlenet", "inception_v3"]
RESNET_IMAGENET = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "wide_resnet50_2"]
RESNET_CIFAR = [
    "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
    "preact_resnet110", "preact_resnet164", "preact_resnet1001", "wrn28_10",
]
RESNEXT_IMAGENET = ["resnext50_32x4d", "resnext101_32x8d"]
RESNEXT_CIFAR = ["resnext29_8x64d", "resnext29_16x64d"]
DENSENET_IMAGENET = ["densenet121", "densenet161", "densenet169", "densenet201"]
DENSENET_CIFAR = [
    "densenet40_k12", "densenet100_k12", "densenet100_k24",
    "densenet_bc100_k12", "densenet_bc250_k24", "densenet_bc190_k40",
]
# Lesson 08's CIFAR-10 race: the small CIFAR versions the lessons train (utils/models/cifar.py).
CIFAR_RACE = [
    "alexnet_cifar", "vgg11_bn_cifar", "googlenet_cifar", "resnext_cifar", "preact_resnet20", "densenet_bc40_k12",
]
# ResNet-18 with a 3x3 stem, as benchmarks/gpu_cifar.py (and most small-image training code) trains it.
BENCHMARK = ["cifar_resnet18"]
ALL_NAMES = (
    LENET + ALEXNET + VGG + INCEPTION + RESNET_IMAGENET + RESNET_CIFAR
    + RESNEXT_IMAGENET + RESNEXT_CIFAR + DENSENET_IMAGENET + DENSENET_CIFAR + CIFAR_RACE + BENCHMARK
)

# Natural small inputs (channels, height, width). CIFAR models see 32x32 colour images, LeNet-5 32x32
# greyscale ones (MNIST padded to 32, as in the paper). ImageNet models downsample by 32 and end in a global
# (or adaptive) pool, so 64x64 is small yet leaves every stage a 2x2 or larger map.
CIFAR_NAMES = set(RESNET_CIFAR + RESNEXT_CIFAR + DENSENET_CIFAR + CIFAR_RACE + BENCHMARK)
INPUT_SHAPES = {name: (1, 32, 32) for name in LENET}
INPUT_SHAPES |= {name: (3, 32, 32) for name in CIFAR_NAMES}
# Inception-v3 alone accepts 75x75, but its auxiliary head (on by default, run in training mode) pools
# Mixed_6e's output 5x5/3 and then applies an unpadded 5x5 conv, so Mixed_6e must be 17x17. Working back
# through Mixed_6a (3x3/2) and the stem (3x3/2, 3x3, 3x3, pool 3/2, 1x1, 3x3, pool 3/2) that takes 299x299.
INPUT_SHAPES["inception_v3"] = (3, 299, 299)
DEFAULT_IMAGENET_SHAPE = (3, 64, 64)

# The heaviest to build or to run a step of on a CPU; still run by default.
SLOW = {
    "vgg16", "vgg19", "vgg16_bn", "vgg19_bn", "resnet152", "wide_resnet50_2", "resnext101_32x8d",
    "preact_resnet1001", "wrn28_10", "resnext29_8x64d", "resnext29_16x64d",
    "densenet100_k24", "densenet_bc250_k24", "densenet_bc190_k40", "inception_v3",
}


def test_list_models_is_exactly_the_issue_list():
    assert len(ALL_NAMES) == len(set(ALL_NAMES)) == 50
    names = list_models()
    assert names == sorted(names)
    assert set(names) - set(ALL_NAMES) == set(), "registered but not in the issue's list"
    assert set(ALL_NAMES) - set(names) == set(), "in the issue's list but not registered"


def output_tensors(output) -> list[torch.Tensor]:
    """The model's outputs as a list: a tensor, or the (named) tuple of main and auxiliary logits that
    GoogLeNet and Inception-v3 return in training mode. None stands for a disabled auxiliary head."""
    if isinstance(output, torch.Tensor):
        return [output]
    return [o for o in output if o is not None]


def slow_marked(names: list[str]) -> list:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


@pytest.mark.parametrize("name", slow_marked(ALL_NAMES))
def test_builds_and_trains_one_step(name):
    torch.manual_seed(0)
    model = get_model(name, num_classes=10).train()
    x = torch.randn(2, *INPUT_SHAPES.get(name, DEFAULT_IMAGENET_SHAPE))
    outputs = output_tensors(model(x))
    for out in outputs:  # the main logits first, then any auxiliary ones
        assert out.shape == (2, 10), f"{name}: output of shape {tuple(out.shape)}, expected (2, 10)"
    labels = torch.tensor([3, 7])
    sum(F.cross_entropy(out, labels) for out in outputs).backward()
    for n, p in model.named_parameters():
        if not p.requires_grad:  # e.g. classic LeNet-5's fixed RBF output codes
            continue
        assert p.grad is not None, f"{name}: parameter {n} took no part in the forward pass"
        assert torch.isfinite(p.grad).all(), f"{name}: parameter {n} has a non-finite gradient"


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match="densenet121") as info:
        get_model("densnet121")
    assert "list_models()" in str(info.value)
    with pytest.raises(ValueError, match="resnet50"):
        get_model("resnet_50")


def conv(c_in, c_out, k, bias=True):
    return c_in * c_out * k * k + (c_out if bias else 0)


def linear(n_in, n_out):
    return n_in * n_out + n_out


# Parameter counts of the race's small networks, by hand from the layers their docstrings describe.
RACE_COUNTS = {
    # AlexNet: conv1 becomes 5x5 (3 -> 64), fc6 reads 256 values; every other layer is torchvision's
    "alexnet_cifar": conv(3, 64, 5) + conv(64, 192, 5) + conv(192, 384, 3) + conv(384, 256, 3) + conv(256, 256, 3)
    + linear(256, 4096) + linear(4096, 4096) + linear(4096, 10),
    # VGG-11's eight 3x3 convs with biases, a BatchNorm (2 per channel) after each, then 512 -> 512 -> 10
    "vgg11_bn_cifar": sum(conv(a, b, 3) + 2 * b for a, b in ((3, 64), (64, 128), (128, 256), (256, 256),
                                                              (256, 512), (512, 512), (512, 512), (512, 512)))
    + linear(512, 512) + linear(512, 10),
    # the same weights as ResNet-20 (option A), only BatchNorm and ReLU move: published 0.27 M, exactly 269,722
    "preact_resnet20": 269_722,
    # torchvision's resnet18 with 10 classes (11,181,642, NUMBERS.md's 11,689,512 less 512 * 990 + 990), its
    # 7x7 stem conv (3 -> 64, no bias) swapped for a 3x3 one
    "cifar_resnet18": 11_689_512 - (512 * 990 + 990) - conv(3, 64, 7, bias=False) + conv(3, 64, 3, bias=False),
}


@pytest.mark.parametrize("name", sorted(RACE_COUNTS))
def test_race_networks_have_the_counts_derived_by_hand(name):
    from utils.inspect import count_params

    with torch.device("meta"):
        assert count_params(get_model(name)).total == RACE_COUNTS[name]
