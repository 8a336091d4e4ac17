"""DenseNet against NUMBERS.md (parameter counts of options, GMACs), torchvision (weights and outputs) and itself
(memory-efficient and plain forms with the same weights)."""

import pytest
import torch
import torch.nn as nn
import torchvision
from torch.testing import assert_close

from utils.inspect import count_macs
from utils.models import get_model, model_facts

# Each registered model's published count (its facts, from NUMBERS.md and torchvision) is checked in
# tests/test_models_registry.py; here: other rows of the paper's tables, reached by options.
IMAGENET = ["densenet121", "densenet161", "densenet169", "densenet201"]
CIFAR = [
    "densenet40_k12", "densenet100_k12", "densenet100_k24",
    "densenet_bc100_k12", "densenet_bc250_k24", "densenet_bc190_k40",
]  # fmt: skip
BIG_CIFAR = {"densenet100_k24", "densenet_bc250_k24", "densenet_bc190_k40"}


def test_any_depth_and_growth_rate_through_options(num_params):
    # Other rows of the paper's Table 2, reached from a different builder by options alone.
    with torch.device("meta"):  # counting needs shapes only
        l100 = get_model("densenet40_k12", depth=100)
        bc250 = get_model("densenet_bc100_k12", depth=250, growth_rate=24)
    assert num_params(l100) == model_facts("densenet100_k12").published_params
    assert num_params(bc250) == model_facts("densenet_bc250_k24").published_params


def test_channel_arithmetic_by_hand():
    # BC-100, k=12: 16 bottleneck layers per block, a 2k = 24 channel stem, transitions halve.
    # block 1: 24 + 16*12 = 216 -> 108; block 2: 108 + 192 = 300 -> 150; block 3: 150 + 192 = 342.
    bc = get_model("densenet_bc100_k12")
    assert len(bc.features.denseblock1) == 16
    assert bc.features.transition1.conv.out_channels == 108
    assert bc.features.transition2.conv.out_channels == 150
    assert bc.classifier.in_features == 342
    # L=40, k=12: 12 plain 3x3 layers per block, a 16 channel stem, no compression: 16 + 36*12 = 448.
    plain = get_model("densenet40_k12")
    assert plain.features.denseblock1.denselayer1.conv1.kernel_size == (3, 3)
    assert plain.classifier.in_features == 448


def test_bad_options_are_explained():
    with pytest.raises(ValueError, match="multiple of 6"):
        get_model("densenet_bc100_k12", depth=101)
    with pytest.raises(ValueError, match="compression"):
        get_model("densenet_bc100_k12", compression=0.0)


@pytest.mark.parametrize("name", IMAGENET)
def test_loads_torchvision_weights_and_gives_its_outputs(name, randomize_batchnorm):
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(num_classes=1000)
    randomize_batchnorm(reference)
    ours = get_model(name, num_classes=1000)
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert_close(ours.eval()(x), reference.eval()(x))


def test_macs_match_torchvision_published():
    # NUMBERS.md: densenet121 is 2.834 GMACs at 224 x 224.
    assert round(count_macs(get_model("densenet121"), (1, 3, 224, 224)) / 1e9, 3) == 2.834


def saved_activation_elements(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Run a forward pass and count the elements autograd stores for the backward pass."""
    stored = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal stored
        stored += t.numel()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    return out, stored


@pytest.mark.parametrize("name, options", [("densenet_bc100_k12", {}), ("densenet40_k12", {"depth": 22})])
def test_memory_efficient_gives_identical_outputs_gradients_and_statistics(name, options):
    torch.manual_seed(0)
    plain = get_model(name, **options).train()
    efficient = get_model(name, memory_efficient=True, **options).train()
    efficient.load_state_dict(plain.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    x_plain, x_efficient = x.clone().requires_grad_(), x.clone().requires_grad_()

    out_plain, stored_plain = saved_activation_elements(plain, x_plain)
    out_efficient, stored_efficient = saved_activation_elements(efficient, x_efficient)
    target = torch.randn_like(out_plain)  # a loss that weighs every output differently
    (out_plain * target).sum().backward()
    (out_efficient * target).sum().backward()

    assert_close(out_efficient, out_plain)
    assert_close(x_efficient.grad, x_plain.grad)
    grads_plain = {n: p.grad for n, p in plain.named_parameters()}
    for n, p in efficient.named_parameters():
        assert_close(p.grad, grads_plain[n], msg=f"gradient of {n} differs")
    # The recomputation in the backward pass must not update BatchNorm's running statistics a second time.
    buffers_plain = dict(plain.named_buffers())
    for n, b in efficient.named_buffers():
        assert_close(b, buffers_plain[n], msg=f"buffer {n} differs")
    # And it really is checkpointing: far fewer activations kept for the backward pass.
    assert stored_efficient < 0.6 * stored_plain


def test_memory_efficient_without_autograd_matches_too():
    torch.manual_seed(0)
    plain = get_model("densenet_bc100_k12", depth=40).eval()
    efficient = get_model("densenet_bc100_k12", depth=40, memory_efficient=True).eval()
    efficient.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert_close(efficient(x), plain(x))


def test_dropout_option_is_active_only_in_training():
    torch.manual_seed(0)
    model = get_model("densenet_bc100_k12", depth=40, drop_rate=0.2)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        model.eval()
        assert_close(model(x), model(x))
        model.train()
        assert not torch.allclose(model(x), model(x))


# The three big CIFAR models (about a minute together on two CPU cores) take the same step, with the same
# checks, in tests/test_models_registry.py; running them twice would double the suite's slowest part.
@pytest.mark.parametrize("name", [n for n in CIFAR if n not in BIG_CIFAR])
def test_cifar_forward_and_backward(name):
    torch.manual_seed(0)
    model = get_model(name, num_classes=10).train()
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    nn.functional.cross_entropy(out, torch.tensor([3, 7])).backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), f"{n} got no finite gradient"
