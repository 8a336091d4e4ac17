"""LeNet-5, AlexNet, VGG, GoogLeNet and Inception v3 against NUMBERS.md (parameter counts of options), the LeNet-5
paper (per-layer counts, C3's connection table, the subsampling and output layers) and torchvision
(attribute names and eval-mode outputs with the same weights).

Filling 100M+ random weights takes seconds on a small CPU: models are built on the meta device wherever
only shapes matter (counting parameters, the torchvision twin that takes our weights), and each real model
is built once for all the tests that run it."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch.testing import assert_close

from utils.models import get_model, list_models, model_facts
from utils.models.lenet import scaled_tanh

# NUMBERS.md: googlenet and inception_v3 without their auxiliary heads (the builders' default counts them, and
# tests/test_models_registry.py checks that default against the published figure, as for every model).
PUBLISHED_PARAMS_WITHOUT_AUX = {"googlenet": 6_624_904, "inception_v3": 23_834_568}

CLASSIC_NAMES = [
    "lenet5", "lenet5_classic", "alexnet", "alexnet_original",
    *(f"vgg{depth}{bn}" for depth in (11, 13, 16, 19) for bn in ("", "_bn")), "googlenet", "inception_v3",
]  # fmt: skip


def on_meta(name: str, **options) -> torch.nn.Module:
    with torch.device("meta"):
        return get_model(name, **options)


def test_every_name_is_registered():
    assert set(CLASSIC_NAMES) <= set(list_models())


@pytest.mark.parametrize("name", list(PUBLISHED_PARAMS_WITHOUT_AUX))
def test_parameter_count_without_auxiliary_heads(name, num_params):
    assert num_params(on_meta(name, aux_logits=False)) == PUBLISHED_PARAMS_WITHOUT_AUX[name]


def test_alexnet_original_parameter_count_by_hand(num_params):
    # The 2012 paper's layers. A conv with 2 groups holds out * (in / 2) * k * k weights, plus out biases.
    convs = [(96, 3, 11), (256, 96 // 2, 5), (384, 256, 3), (384, 384 // 2, 3), (256, 384 // 2, 3)]
    linears = [(256 * 6 * 6, 4096), (4096, 4096), (4096, 1000)]
    by_hand = sum(out * (inp * k * k + 1) for out, inp, k in convs) + sum(o * (i + 1) for i, o in linears)
    model = on_meta("alexnet_original")
    assert num_params(model) == by_hand
    assert round(by_hand / 1e6) == 61  # "about 61M" (the paper says 60 million)
    assert [m.groups for m in model.features if isinstance(m, torch.nn.Conv2d)] == [1, 2, 1, 2, 2]


def test_googlenet_paper_5x5_option_builds_true_5x5_kernels(num_params):
    model = on_meta("googlenet", paper_5x5=True, aux_logits=False)
    assert model.inception3a.branch3[1].conv.kernel_size == (5, 5)
    # A 5x5 kernel has 16 more weights than a 3x3 for each input-output channel pair. The paper's Table 1
    # (#5x5 reduce, #5x5) for 3a, 3b, 4a-4e, 5a, 5b:
    reduce = [16, 32, 16, 24, 24, 32, 32, 32, 48]
    out = [32, 96, 48, 64, 64, 64, 128, 128, 128]
    extra = sum(16 * r * o for r, o in zip(reduce, out, strict=True))
    assert num_params(model) == PUBLISHED_PARAMS_WITHOUT_AUX["googlenet"] + extra
    # ...which is why torchvision's weights no longer fit.
    with torch.device("meta"):
        tv = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
    with pytest.raises(RuntimeError, match="size mismatch for inception3a.branch3.1.conv.weight"):
        model.load_state_dict(tv.state_dict(), strict=True, assign=True)


# ---- LeNet-5 -------------------------------------------------------------------------------------------


def layer_params(model: torch.nn.Module, num_params) -> dict[str, int]:
    return {name: num_params(layer) for name, layer in model.named_children()}


def test_lenet5_classic_per_layer_counts_match_the_paper(num_params):
    model = get_model("lenet5_classic")
    # NUMBERS.md, from Section II.B of LeCun et al. 1998.
    expected = {"c1": 156, "s2": 12, "c3": 1_516, "s4": 32, "c5": 48_120, "f6": 10_164, "output": 840}
    assert layer_params(model, num_params) == expected
    # The paper's "60,000 trainable parameters": everything but the RBF codes, which it keeps fixed.
    assert num_params(model, trainable_only=True) == 60_000


def test_lenet5_modern_per_layer_counts_by_hand(num_params):
    # Conv: out * (in * 5 * 5 + 1); Linear: out * (in + 1). Full C3: 16 * (6 * 25 + 1).
    expected = {"c1": 156, "s2": 0, "c3": 2_416, "s4": 0, "c5": 48_120, "f6": 10_164, "output": 850}
    assert layer_params(get_model("lenet5"), num_params) == expected


def paper_c3_table() -> list[set[int]]:
    """C3 map j's S2 inputs, from the paper's description of Table I: maps 0-5 read every contiguous
    (wrapping) triple of S2 maps, 6-11 every contiguous quadruple, 12-14 three non-contiguous quadruples,
    and 15 reads all six."""
    triples = [{(start + i) % 6 for i in range(3)} for start in range(6)]
    quadruples = [{(start + i) % 6 for i in range(4)} for start in range(6)]
    return triples + quadruples + [{0, 1, 3, 4}, {1, 2, 4, 5}, {0, 2, 3, 5}] + [set(range(6))]


def test_lenet5_classic_c3_follows_the_connection_table():
    c3 = get_model("lenet5_classic").c3
    x = torch.randn(1, 6, 14, 14)
    base = c3(x)
    reads = [set() for _ in range(16)]
    for s2_map in range(6):
        nudged = x.clone()
        nudged[:, s2_map] += 1.0
        changed = (c3(nudged) - base).abs().amax(dim=(0, 2, 3)) > 0
        for c3_map in torch.nonzero(changed).flatten().tolist():
            reads[c3_map].add(s2_map)
    assert reads == paper_c3_table()


def test_lenet5_classic_subsampling_is_sum_times_coefficient_plus_bias():
    s2 = get_model("lenet5_classic").s2
    x = torch.arange(6 * 4 * 4, dtype=torch.float32).view(1, 6, 4, 4)
    window_sums = x[..., 0::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 0::2] + x[..., 1::2, 1::2]
    expected = window_sums * s2.weight.view(1, 6, 1, 1) + s2.bias.view(1, 6, 1, 1)
    assert_close(s2(x), expected)


def test_lenet5_classic_output_is_minus_squared_distance_to_fixed_codes():
    model = get_model("lenet5_classic")
    codes = model.output.centres
    assert codes.shape == (10, 84) and not codes.requires_grad
    assert set(codes.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(code.tolist()) for code in codes}) == 10  # ten different bitmaps
    f6_state = torch.randn(3, 84)
    by_hand = -(torch.cdist(f6_state, codes) ** 2)
    assert_close(model.output(f6_state), by_hand, rtol=1e-4, atol=1e-4)
    # An F6 state that draws class 7's bitmap exactly is at distance 0 from it: the best score.
    assert model.output(codes[7:8]).argmax().item() == 7
    # Other class counts get +-1 codes of the right shape.
    assert get_model("lenet5_classic", num_classes=5).output.centres.shape == (5, 84)


def test_lenet5_classic_squashing_maps_plus_minus_one_to_itself():
    # Appendix A: f(a) = 1.7159 tanh(2a/3) is chosen so that f(1) = 1 and f(-1) = -1 (to 4 digits).
    assert_close(scaled_tanh(torch.tensor([1.0, -1.0])), torch.tensor([1.0, -1.0]), atol=2e-4, rtol=0)


@pytest.mark.parametrize("name", ["lenet5", "lenet5_classic"])
def test_lenet5_on_28x28_equals_zero_padding_to_32x32(name):
    padded_model = get_model(name, image_size=28)
    model32 = get_model(name)
    model32.load_state_dict(padded_model.state_dict())
    x = torch.randn(2, 1, 28, 28)
    assert_close(padded_model(x), model32(F.pad(x, (2, 2, 2, 2))))


def test_lenet5_explains_bad_input():
    with pytest.raises(ValueError, match="image_size=28"):
        get_model("lenet5")(torch.randn(1, 1, 28, 28))
    with pytest.raises(ValueError, match="image_size=32"):
        get_model("lenet5_classic", image_size=30)


# ---- built models: torchvision twins and a training step -----------------------------------------------


# Filling 100M+ random weights takes seconds on a small CPU, so each model is built once, with our own
# initialisation, and shared by the tests below (pytest runs every test of one model before it builds the
# next). No test depends on what another did to the shared model.
@pytest.fixture(scope="module")
def built(request):
    torch.manual_seed(0)
    return request.param, get_model(request.param)


# Every one of these names is also torchvision's.
TWIN_NAMES = ["alexnet", *(f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")), "googlenet", "inception_v3"]
# The auxiliary heads run only in training mode (and at 299x299 for Inception v3), so they are compared on
# inputs of their own: (attribute, channels, size of the map they read at 224x224 or 299x299).
AUX_HEADS = {"googlenet": [("aux1", 512, 14), ("aux2", 528, 14)], "inception_v3": [("AuxLogits", 768, 17)]}


@pytest.mark.parametrize("built", TWIN_NAMES, indirect=True)
def test_torchvision_twin_loads_strict_and_gives_the_same_outputs(built):
    name, ours = built
    ours.eval()
    # Give BatchNorm non-trivial running statistics, so that a BN in the wrong place cannot hide.
    for buffer_name, buffer in ours.named_buffers():
        if buffer_name.endswith("running_mean"):
            buffer.normal_(0, 0.1)
        elif buffer_name.endswith("running_var"):
            buffer.uniform_(0.5, 1.5)
    # The twin needs only shapes until it takes our tensors as its own (assign=True). init_weights=True only
    # silences torchvision's warning about a change of its default initialisation.
    tv_options = {"init_weights": True} if name in AUX_HEADS else {}
    with torch.device("meta"):
        tv = getattr(torchvision.models, name)(weights=None, **tv_options)
    tv.load_state_dict(ours.state_dict(), strict=True, assign=True)
    ours.load_state_dict(tv.state_dict(), strict=True)  # what a user of torchvision's weights does
    tv.eval()
    # GoogLeNet and Inception v3 with the same transform_input on both sides: on (what torchvision switches
    # on for its pretrained weights), then off (the default of both classes, as built).
    # The cheapest input: torchvision's documented smallest for inference (Inception v3 in eval mode: 75x75).
    size = torchvision.models.get_model_weights(name).DEFAULT.meta["min_size"][0]
    for transform_input in (True, False) if name in AUX_HEADS else (False,):
        ours.transform_input = tv.transform_input = transform_input
        x = torch.randn(1, 3, size, size)
        with torch.no_grad():
            assert_close(ours(x), tv(x), msg=lambda m, t=transform_input: f"transform_input={t}: {m}")
    for head, channels, size in AUX_HEADS.get(name, []):
        x = torch.randn(1, channels, size, size)
        with torch.no_grad():
            assert_close(getattr(ours, head)(x), getattr(tv, head)(x), msg=lambda m, h=head: f"{h}: {m}")


@pytest.mark.parametrize("built", CLASSIC_NAMES, indirect=True)
def test_forward_and_backward_on_a_batch_of_two(built):
    name, model = built
    model.train()
    model.zero_grad(set_to_none=True)
    # At the smallest input (Inception v3: 299x299, the smallest its auxiliary head takes).
    facts = model_facts(name)
    out = model(torch.randn(2, facts.in_channels, facts.smallest_size, facts.smallest_size))
    # GoogLeNet and Inception v3 return their auxiliary heads' logits too in training mode.
    outputs = list(out) if isinstance(out, tuple) else [out]
    assert len(outputs) == {"googlenet": 3, "inception_v3": 2}.get(name, 1)
    num_classes = 10 if name.startswith("lenet") else 1000
    assert all(o.shape == (2, num_classes) for o in outputs)
    sum(o.square().mean() for o in outputs).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient reached {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
