"""The registry: the names the lessons and the README use are registered, every model's facts (model_facts:
input channels, smallest and natural size, published parameter count) hold, and each model builds and trains a
step. New models are checked by every test here as soon as they are registered."""

import pytest
import torch
import torch.nn.functional as F
import torchvision

from utils.models import get_model, list_models, model_facts
from utils.models._registry import TORCHVISION

# The course's models by family, as the README lists them.
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
COURSE_NAMES = (
    LENET + ALEXNET + VGG + INCEPTION + RESNET_IMAGENET + RESNET_CIFAR
    + RESNEXT_IMAGENET + RESNEXT_CIFAR + DENSENET_IMAGENET + DENSENET_CIFAR + CIFAR_RACE + BENCHMARK
)

# The heaviest to build or to run a step of on a CPU; still run by default.
SLOW = {
    "vgg16", "vgg19", "vgg16_bn", "vgg19_bn", "resnet152", "wide_resnet50_2", "resnext101_32x8d",
    "preact_resnet1001", "wrn28_10", "resnext29_8x64d", "resnext29_16x64d",
    "densenet100_k24", "densenet_bc250_k24", "densenet_bc190_k40", "inception_v3",
}


def test_the_course_models_are_registered():
    assert len(COURSE_NAMES) == len(set(COURSE_NAMES))
    names = list_models()
    assert names == sorted(names)
    assert set(COURSE_NAMES) - set(names) == set(), "the lessons or the README use these names, not registered"


def output_tensors(output) -> list[torch.Tensor]:
    """The model's outputs as a list: a tensor, or the (named) tuple of main and auxiliary logits that
    GoogLeNet and Inception-v3 return in training mode. None stands for a disabled auxiliary head."""
    if isinstance(output, torch.Tensor):
        return [output]
    return [o for o in output if o is not None]


def slow_marked(names: list[str]) -> list:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


# A training step of an ImageNet model at 224x224 costs 12 times one at 64x64, and 64x64 still leaves every stage
# of one that downsamples by 32 a 2x2 or larger map; models that need more (Inception v3) get their smallest.
STEP_SIZE_CAP = 64


@pytest.mark.parametrize("name", slow_marked(list_models()))
def test_builds_and_trains_one_step(name):
    facts = model_facts(name)
    size = min(facts.natural_size, max(facts.smallest_size, STEP_SIZE_CAP))
    torch.manual_seed(0)
    model = get_model(name, num_classes=10).train()
    x = torch.randn(2, facts.in_channels, size, size)
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


# ---- the facts beside each builder ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list_models())
def test_takes_its_recorded_input_and_nothing_smaller(name):
    facts = model_facts(name)
    channels, smallest = facts.in_channels, facts.smallest_size
    # On the meta device a forward pass computes shapes only, and shape errors are raised as on a real one.
    with torch.device("meta"):
        model = get_model(name).train()  # training mode: the auxiliary heads run too
        model(torch.empty(2, channels, smallest, smallest))
        if smallest > 1:
            with pytest.raises((RuntimeError, ValueError)):
                model(torch.empty(2, channels, smallest - 1, smallest - 1))
        with pytest.raises(RuntimeError, match="channel"):
            model(torch.empty(2, 4 - channels, smallest, smallest))  # 1 <-> 3: the channel count is exact
        if facts.takes_in_channels:
            other = 4 - channels
            get_model(name, in_channels=other)(torch.empty(2, other, smallest, smallest))
        else:
            with pytest.raises(TypeError, match="in_channels"):
                get_model(name, in_channels=channels)


WITH_PUBLISHED_COUNT = [name for name in list_models() if model_facts(name).published_params is not None]


@pytest.mark.parametrize("name", WITH_PUBLISHED_COUNT)
def test_parameter_count_matches_published(name, num_params):
    with torch.device("meta"):  # counting needs shapes only
        model = get_model(name)
    assert num_params(model, trainable_only=True) == model_facts(name).published_params


TORCHVISION_TWINS = [name for name in list_models() if name in torchvision.models.list_models()]


def test_every_count_said_to_be_torchvision_s_is_of_a_torchvision_model():
    from_torchvision = {name for name in list_models() if model_facts(name).params_source == TORCHVISION}
    assert from_torchvision <= set(TORCHVISION_TWINS)


@pytest.mark.parametrize("name", TORCHVISION_TWINS)
def test_facts_agree_with_torchvision_weights_metadata(name):
    """torchvision documents num_params and min_size with its weights, and its eval transform crops to the
    natural size: an independent source for the facts typed in beside our builders."""
    facts = model_facts(name)
    weights = torchvision.models.get_model_weights(name).DEFAULT
    if facts.params_source == TORCHVISION:
        assert facts.published_params == weights.meta["num_params"]
    if name == "inception_v3":  # torchvision's 75x75 is for inference; see inception.py on the auxiliary head
        assert weights.meta["min_size"] == (75, 75) and facts.smallest_size == 299
    else:
        assert weights.meta["min_size"] == (facts.smallest_size, facts.smallest_size)
    assert weights.transforms().crop_size == [facts.natural_size]


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match="densenet121") as info:
        get_model("densnet121")
    assert "list_models()" in str(info.value)
    with pytest.raises(ValueError, match="resnet50"):
        get_model("resnet_50")
    with pytest.raises(ValueError, match=r"unknown model 'resnet2O'\. Did you mean .*resnet20"):
        model_facts("resnet2O")


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
def test_race_networks_have_the_counts_derived_by_hand(name, num_params):
    with torch.device("meta"):
        assert num_params(get_model(name)) == RACE_COUNTS[name]
