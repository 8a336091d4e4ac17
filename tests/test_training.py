"""utils.training: fit, evaluate, History, checkpoints, the command line and DDP, on real MNIST subsets.

Tiny models where a test is about plumbing; the real LeNet-5 only where the test is about accuracy.
Expected values come from plain torch computations written here, from hand derivations, or from a second
independent run (one process against two), never from the code under test.
"""

import json
import math
import os
import re
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.figure import Figure

from utils.data import DeviceLoader, load_dataset, synthetic_dataset
from utils.models import get_model
from utils.modes import evaluating
from utils.settings import REPO_ROOT
from utils.training import History, evaluate, fit, load_checkpoint, pad_to_size, predict, seed_everything
from utils.training.recipe import Recipe, build_optimizer, build_schedule, choose_optimizer
from utils.training.runtime import Speed, choose_speed


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # The suite runs two pytest workers on two cores: two torch threads each would make them wait on each
    # other (we measured plain LeNet-5 steps six times slower that way).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mnist():
    """(train, test) of real MNIST, 28x28 as published."""
    return load_dataset("mnist", "train", require_real=True), load_dataset("mnist", "test", require_real=True)


def tiny_net() -> nn.Module:
    """28x28 grey -> 10 classes in 2,230 parameters: enough to learn something in a few steps."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 5, stride=2),  # (N, 4, 12, 12)
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 4, 6, 6)
        nn.Flatten(),
        nn.Linear(144, 10),
    )


def fresh_tiny_net(seed: int = 0) -> nn.Module:
    seed_everything(seed)
    return tiny_net()


# ---------------------------------------------------------------------------------------------------------
# Training does what it should


def test_fit_lowers_the_loss_on_real_mnist(mnist):
    train, test = mnist[0].subset(2048, seed=1), mnist[1].subset(512, seed=1)
    model = fresh_tiny_net()
    before = evaluate(model, test)
    history = fit(model, train, test, epochs=3, batch_size=64, label_smoothing=0.0, quiet=True)
    # The same numerics as fit's own validation (on a CPU with native bf16, fit's probe may pick bf16).
    after = evaluate(model, test, precision=history.meta["precision"]["used"])
    assert len(history) == 3 and history["epoch"] == [1, 2, 3]
    assert history["train_loss"][-1] < 0.7 * history["train_loss"][0]
    assert after.loss < 0.5 * before.loss  # chance level is ln(10) = 2.30
    assert after.accuracy > 0.7 > before.accuracy
    # The History's last validation numbers are the same evaluation, done inside fit.
    assert history["val_acc"][-1] == pytest.approx(after.accuracy)
    assert history["val_loss"][-1] == pytest.approx(after.loss, rel=1e-5)
    assert not model.training  # fit leaves the model ready for inference


def test_history_steps_draw_each_epochs_curve_and_add_up_to_the_epoch(mnist):
    """2,048 images in batches of 64 = 32 batches per epoch: points every 32 // 20 = 1 batch. The images
    behind the points add up to the epoch, and their image-weighted mean is the epoch's own loss and accuracy."""
    history = fit(fresh_tiny_net(), mnist[0].subset(2048, seed=1), epochs=2, batch_size=64, quiet=True)
    assert len(history.steps) == 2 * 32
    epochs = [step["epoch"] for step in history.steps]
    assert epochs == sorted(epochs) and epochs[31] == 1.0 and epochs[-1] == 2.0 and epochs[0] == 1 / 32
    for epoch, record in enumerate(history.records):
        steps = history.steps[32 * epoch: 32 * (epoch + 1)]
        images = sum(step["images"] for step in steps)
        assert images == 2048
        assert sum(step["train_loss"] * step["images"] for step in steps) / images == pytest.approx(
            record["train_loss"], rel=1e-5)
        assert sum(step["train_acc"] * step["images"] for step in steps) / images == pytest.approx(
            record["train_acc"])
    assert History.from_dict(history.to_dict()).steps == history.steps  # saved with checkpoints too
    # 2,000 images: 31 batches of 64 and one of 16, which joins the point before it rather than stand alone.
    short_end = fit(fresh_tiny_net(), mnist[0].subset(2000, seed=1), epochs=1, batch_size=64, quiet=True).steps
    assert [step["images"] for step in short_end] == [64] * 30 + [80] and short_end[-1]["epoch"] == 1.0


def test_lenet5_smoke_profile_passes_90_percent_on_mnist(mnist):
    """The smoke profile's one pass over 10,000 MNIST training images on the CPU takes LeNet-5 past 90% test
    accuracy."""
    train, test = (pad_to_size(split, 32) for split in mnist)  # the paper's 32x32 field
    seed_everything(0)
    model = get_model("lenet5")
    history = fit(model, train.subset(10_000), test, profile="smoke", device="cpu", quiet=True)
    assert history.meta["recipe"]["epochs"] == 1 and history.meta["train_images"] == 10_000
    assert history["val_acc"][-1] > 0.90, history


def test_evaluate_and_predict_match_a_plain_torch_computation(mnist):
    test = mnist[1].subset(300, seed=2)
    model = fresh_tiny_net(3)
    x = (test.images.float() / 255 - test.mean[0]) / test.std[0]  # the normalisation, written out
    with torch.no_grad():
        logits = model(x)
    expected_loss = F.cross_entropy(logits, test.labels).item()
    expected_accuracy = (logits.argmax(1) == test.labels).float().mean().item()
    result = evaluate(model, test, batch_size=64)  # 300 = 4 full batches and a partial one
    assert result.images == 300
    assert result.loss == pytest.approx(expected_loss, rel=1e-5)
    assert result.accuracy == pytest.approx(expected_accuracy)
    predicted, labels = predict(model, test, batch_size=64)
    assert torch.equal(predicted, logits.argmax(1)) and torch.equal(labels, test.labels)


def test_evaluating_puts_every_modules_own_training_flag_back_even_after_an_exception():
    for parent_training in (True, False):
        model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout()).train(parent_training)
        model[1].train(not parent_training)  # a child whose flag differs from its parent's: a frozen BatchNorm, say
        before = [module.training for module in model.modules()]
        with pytest.raises(KeyError, match="inside"), evaluating(model):
            assert not any(module.training for module in model.modules()) and not torch.is_grad_enabled()
            raise KeyError("inside")
        assert [module.training for module in model.modules()] == before
        assert torch.is_grad_enabled()


def test_evaluate_leaves_a_frozen_batchnorm_frozen(mnist):
    model = nn.Sequential(nn.Conv2d(1, 4, 5, stride=2), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(576, 10))
    model[1].eval()  # frozen inside a model that trains
    evaluate(model, mnist[1].subset(64))
    assert model.training and model[0].training and not model[1].training


def test_fit_accepts_a_device_loader_and_a_dataloader(mnist):
    train = mnist[0].subset(256, seed=4)
    history = fit(fresh_tiny_net(), DeviceLoader(train, 64, shuffle=True), epochs=1, quiet=True)
    assert len(history) == 1 and history.meta["train_images"] == 256
    x = (train.images.float() / 255 - 0.1307) / 0.3081
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, train.labels), batch_size=64)
    history = fit(fresh_tiny_net(), loader, epochs=1, quiet=True)
    assert len(history) == 1 and history.final["images_per_s"] > 0
    with pytest.raises(TypeError, match="ImageData"):
        fit(fresh_tiny_net(), 42, epochs=1, quiet=True)
    with pytest.raises(ValueError, match="does not augment"):
        fit(fresh_tiny_net(), DeviceLoader(train, 64), epochs=1, augment=True, quiet=True)


def test_images_the_model_cannot_take_fail_before_training_with_what_to_do(mnist):
    model = get_model("resnet20")  # built for colour images
    running_mean = model.bn1.running_mean.clone()
    with pytest.raises(ValueError, match=r"cannot take 1x28x28 images \(.*3 channels.*to_rgb"):
        fit(model, mnist[1].subset(64), epochs=1, quiet=True)
    assert torch.equal(model.bn1.running_mean, running_mean)  # the blank test images left no trace


def test_under_ddp_a_dataloader_needs_a_distributed_sampler(mnist):
    """Without one, every process would train on the whole dataset: twice the steps, each image twice."""
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    from utils.training.distributed import World
    from utils.training.loaders import make_loader

    dataset = TensorDataset(torch.zeros(8, 1, 28, 28), torch.zeros(8, dtype=torch.long))
    two_processes = World(device=torch.device("cpu"), rank=0, size=2)
    with pytest.raises(ValueError, match="DistributedSampler"):
        make_loader(DataLoader(dataset, batch_size=4), 4, train=True, augment=False, world=two_processes)
    sharded = DataLoader(dataset, batch_size=4, sampler=DistributedSampler(dataset, num_replicas=2, rank=0))
    assert make_loader(sharded, 4, train=True, augment=False, world=two_processes) is sharded


def test_same_seed_same_weights_and_another_seed_differs(mnist):
    train = mnist[0].subset(256, seed=5)
    runs = []
    for seed in (0, 0, 1):
        model = fresh_tiny_net(seed)
        fit(model, train, epochs=1, batch_size=32, seed=seed, deterministic=True, quiet=True)
        runs.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1])
    assert not torch.allclose(runs[0], runs[2])
    assert not torch.are_deterministic_algorithms_enabled()  # the mode does not outlive the call


# ---------------------------------------------------------------------------------------------------------
# The recipe


def test_no_weight_decay_on_norms_and_biases():
    model = get_model("resnet20")
    optimizer = build_optimizer(model, Recipe(epochs=1, batch_size=128).resolved())
    decayed, undecayed = optimizer.param_groups
    # Counted independently: every BatchNorm's scale and shift, and the final layer's bias.
    norms_and_biases = sum(m.weight.numel() + m.bias.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    norms_and_biases += model.fc.bias.numel()
    assert sum(p.numel() for p in undecayed["params"]) == norms_and_biases and undecayed["weight_decay"] == 0
    assert sum(p.numel() for p in decayed["params"]) == 269_722 - norms_and_biases  # NUMBERS.md: ResNet-20
    assert decayed["weight_decay"] == 5e-4 and optimizer.defaults["lr"] == 0.1 and optimizer.defaults["nesterov"]


def test_default_learning_rate_follows_the_batch_for_sgd_only():
    assert Recipe(epochs=1, batch_size=512).resolved().lr == pytest.approx(0.4)  # 0.1 per 128 images
    assert Recipe(epochs=1, batch_size=512, optimizer="adamw").resolved().lr == pytest.approx(3e-3)
    with pytest.raises(ValueError, match="use one of"):
        Recipe(epochs=1, batch_size=8, optimizer="adam")


def test_auto_optimizer_is_sgd_with_batchnorm_and_adamw_without():
    assert choose_optimizer(get_model("resnet20")) == "sgd"
    assert choose_optimizer(nn.Sequential(nn.Conv2d(3, 8, 3), nn.GroupNorm(2, 8))) == "sgd"
    assert choose_optimizer(get_model("lenet5")) == "adamw"
    assert choose_optimizer(tiny_net()) == "adamw"


def test_speed_defaults_on_the_cpu():
    cpu = torch.device("cpu")
    assert choose_speed(cpu, model=get_model("resnet20")) == Speed(amp_dtype=None, channels_last=True)
    assert choose_speed(cpu, model=get_model("lenet5")) == Speed(amp_dtype=None, channels_last=True)
    no_convolutions = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    assert choose_speed(cpu, model=no_convolutions) == Speed(amp_dtype=None, channels_last=False)
    assert choose_speed(cpu, precision="bf16", channels_last=False).amp_dtype == torch.bfloat16
    assert choose_speed(cpu, precision="auto").amp_dtype is None  # on a CPU fit settles "auto" with a probe
    assert choose_speed(cpu, precision="fp16").amp_dtype == torch.float16  # what a GPU without fast bf16 uses
    with pytest.raises(ValueError, match="precision='fp8' is not one of auto, fp32, bf16, fp16"):
        choose_speed(cpu, precision="fp8")


# ---------------------------------------------------------------------------------------------------------
# Numerics on a CPU: bf16 where the hardware has it and a probe finds it faster, float32 elsewhere


class AutocastRecorder(nn.Module):
    """tiny_net that notes, at every forward pass, whether CPU autocast to bf16 is on (training and evaluation)."""

    def __init__(self) -> None:
        super().__init__()
        self.net, self.seen = tiny_net(), []

    def forward(self, x):
        if len(x) > 2:  # not fit's check on two blank images that the model takes the data's shape
            on = torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
            self.seen.append(("train" if self.training else "eval", on))
        return self.net(x)


def fit_recording(data, monkeypatch, native: bool, probe: dict | None, **options) -> tuple[History, set]:
    """fit AutocastRecorder with the CPU's bf16 capability and the probe's result replaced (probe None: the
    probe must not run at all). Returns the History and the (mode, autocast on) pairs seen."""
    import utils.training.runtime as runtime

    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(runtime, "MIN_BATCHES_TO_PROBE", 1)

    def fake_probe(model, batch_shape, channels_last):
        assert probe is not None, "the probe ran where it must not"
        assert batch_shape == (16, 1, 28, 28)  # the run's batch, as it is smaller than the probe's 32
        return probe

    monkeypatch.setattr(runtime, "probe_cpu_precision", fake_probe)
    model = AutocastRecorder()
    history = fit(model, data[0], data[1], batch_size=16, device="cpu", **({"epochs": 1, "quiet": True} | options))
    return history, set(model.seen)


def test_without_native_bf16_fit_stays_fp32_and_does_not_probe(mnist, monkeypatch):
    data = mnist[0].subset(64, seed=2), mnist[1].subset(64, seed=2)
    history, seen = fit_recording(data, monkeypatch, native=False, probe=None)
    assert seen == {("train", False), ("eval", False)}
    assert history.meta["precision"] == {"asked": "auto", "used": "fp32", "probe": None,
                                         "reason": "this CPU has no native bf16"}  # fmt: skip
    assert history.meta["amp"] is None


def test_with_native_bf16_fit_follows_the_probe(mnist, monkeypatch):
    data = mnist[0].subset(64, seed=2), mnist[1].subset(64, seed=2)
    faster = {"fp32_images_per_s": 400.0, "bf16_images_per_s": 900.0}
    history, seen = fit_recording(data, monkeypatch, native=True, probe=faster)
    assert seen == {("train", True), ("eval", True)}  # evaluation uses the training's numerics
    assert history.meta["precision"] == {"asked": "auto", "used": "bf16", "probe": faster}
    assert history.meta["amp"] == "bf16"
    barely = {"fp32_images_per_s": 400.0, "bf16_images_per_s": 410.0}  # within the margin: not worth bf16's rounding
    history, seen = fit_recording(data, monkeypatch, native=True, probe=barely)
    assert seen == {("train", False), ("eval", False)} and history.meta["precision"]["used"] == "fp32"


def test_forced_precision_is_used_without_a_probe(mnist, monkeypatch):
    data = mnist[0].subset(64, seed=2), mnist[1].subset(64, seed=2)
    history, seen = fit_recording(data, monkeypatch, native=False, probe=None, precision="bf16")
    assert seen == {("train", True), ("eval", True)} and history.meta["precision"]["used"] == "bf16"
    history, seen = fit_recording(data, monkeypatch, native=True, probe=None, precision="fp32")
    assert seen == {("train", False), ("eval", False)} and history.meta["precision"]["used"] == "fp32"


@pytest.mark.parametrize(
    ("native", "probe", "precision", "start", "why"),
    [
        (False, None, "auto", "precision fp32", ["no native bf16"]),
        (True, {"fp32_images_per_s": 400.0, "bf16_images_per_s": 900.0}, "auto", "precision bf16", ["900", "400"]),
        (True, None, "fp32", "precision fp32", ["forced"]),
        (False, None, "bf16", "precision bf16", ["forced"]),
    ],
)  # fmt: skip
def test_on_a_cpu_the_output_says_once_per_fit_which_numerics_and_why(mnist, monkeypatch, capsys, native, probe,
                                                                       precision, start, why):  # fmt: skip
    data = mnist[0].subset(64, seed=2), mnist[1].subset(64, seed=2)
    fit_recording(data, monkeypatch, native=native, probe=probe, precision=precision, epochs=2, quiet=False,
                  progress=False)  # fmt: skip
    out = capsys.readouterr().out
    assert "epoch 2/2" in out  # the output is there, and two epochs of it
    lines = [line for line in out.splitlines() if line.startswith("precision")]
    assert len(lines) == 1 and lines[0].startswith(start + ":"), out
    assert all(word in lines[0] for word in why), lines[0]


def test_the_real_cpu_probe(mnist):
    """On whatever CPU runs the tests: probed (with figures) where it has native bf16, not probed elsewhere."""
    from utils.training.runtime import cpu_has_native_bf16, probe_cpu_precision

    history = fit(tiny_net(), mnist[0].subset(64 * 32, seed=3), epochs=1, batch_size=32, device="cpu", quiet=True)
    note = history.meta["precision"]
    if cpu_has_native_bf16():
        assert note["probe"]["fp32_images_per_s"] > 0 and note["probe"]["bf16_images_per_s"] > 0
        assert note["used"] == ("bf16" if note["probe"]["bf16_images_per_s"] > 1.05 * note["probe"]["fp32_images_per_s"]
                                else "fp32")  # fmt: skip
    else:
        assert note["probe"] is None and note["used"] == "fp32"
    model = tiny_net()
    before = [p.clone() for p in model.parameters()]
    figures = probe_cpu_precision(model, (16, 1, 28, 28), channels_last=True)  # runs anywhere, emulated or not
    assert set(figures) == {"fp32_images_per_s", "bf16_images_per_s"} and min(figures.values()) > 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))  # a copy was probed


def test_bf16_training_reaches_fp32_accuracy(mnist):
    """LeNet-5 on 3,072 MNIST images, one epoch each way: the same accuracy within noise (bf16 is emulated,
    and slower, where the CPU lacks it)."""
    train, test = pad_to_size(mnist[0].subset(3072, seed=4), 32), pad_to_size(mnist[1].subset(1024, seed=4), 32)
    accuracy = {}
    for precision in ("fp32", "bf16"):
        seed_everything(0)
        history = fit(get_model("lenet5"), train, test, epochs=1, batch_size=64, device="cpu", quiet=True,
                      precision=precision)  # fmt: skip
        accuracy[precision] = history.final["val_acc"]
    assert accuracy["fp32"] > 0.8  # it learned
    # 1,024 test images: a 3-point gap would be about 3 standard errors of either accuracy at 80-90%
    assert abs(accuracy["bf16"] - accuracy["fp32"]) < 0.03, accuracy


def test_onecycle_and_cosine_schedules_by_hand():
    def lrs(schedule: str) -> list[float]:
        recipe = Recipe(epochs=2, batch_size=8, lr=1.0, schedule=schedule, warmup=0.25)
        optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
        steps = build_schedule(optimizer, recipe, steps_per_epoch=4)  # 8 steps in all
        seen = []
        for _ in range(8):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            steps.step()
        return seen + [optimizer.param_groups[0]["lr"]]

    # One-cycle: 2 warm-up steps from 1/25 to 1, then a half cosine over the remaining 6 steps down to 0.
    warm = [1 / 25, 1 / 25 + (1 - 1 / 25) / 2]
    fall = [0.5 * (1 + math.cos(math.pi * k / 6)) for k in range(7)]
    assert lrs("onecycle") == pytest.approx(warm + fall)
    assert lrs("cosine") == pytest.approx([0.5 * (1 + math.cos(math.pi * k / 8)) for k in range(9)])
    # A run of a single step (the smoke profile on a tiny subset) must not fail.
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    one_step = build_schedule(optimizer, Recipe(epochs=1, batch_size=8, lr=1.0), steps_per_epoch=1)
    optimizer.step()
    one_step.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0)


def test_augmentation_is_on_for_32x32_colour_and_off_for_digits(mnist):
    cifar_like = synthetic_dataset("cifar10", "test", size=64)  # only the shape matters here
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    assert fit(model, cifar_like, epochs=1, quiet=True).meta["recipe"]["augment"] is True
    assert fit(fresh_tiny_net(), mnist[1].subset(64), epochs=1, quiet=True).meta["recipe"]["augment"] is False


def test_pad_to_size_centres_mnist_in_a_32x32_field(mnist):
    digits = mnist[1].subset(5)
    padded = pad_to_size(digits, 32)
    assert padded.image_shape == (1, 32, 32) and padded.images.dtype == torch.uint8
    assert torch.equal(padded.images[:, :, 2:30, 2:30], digits.images)
    border = padded.images.clone()
    border[:, :, 2:30, 2:30] = 0
    assert border.sum() == 0  # background (0) all around


# ---------------------------------------------------------------------------------------------------------
# History


def test_history_saves_loads_and_plots(mnist, tmp_path):
    history = fit(fresh_tiny_net(), mnist[0].subset(256), mnist[1].subset(128), epochs=2, batch_size=64, quiet=True)
    path = history.save(tmp_path / "run.json")
    assert json.loads(path.read_text())["records"][1]["epoch"] == 2  # plain JSON, readable without torch
    loaded = History.load(path)
    assert loaded.records == history.records and loaded.meta == history.meta and loaded.steps == history.steps
    figure = loaded.plot()
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    loss_axes = figure.axes[0]
    train_line = next(line for line in loss_axes.get_lines() if line.get_label() == "train")
    assert list(train_line.get_ydata()) == pytest.approx([step["train_loss"] for step in history.steps])
    val_line = next(line for line in loss_axes.get_lines() if line.get_label() == "val")
    assert list(val_line.get_ydata()) == pytest.approx(history["val_loss"])
    assert "val_acc" in repr(history) and "%" in history.table()
    with pytest.raises(KeyError, match="columns are"):
        history["accuracy"]
    with pytest.raises(FileNotFoundError, match="History.save"):
        History.load(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------------------------
# Checkpoints: round trip, train or load, resume


def count_forward_calls(model: nn.Module) -> list[int]:
    calls = [0]
    model.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_checkpoint_train_or_load(mnist, tmp_path):
    train, test = mnist[0].subset(256, seed=6), mnist[1].subset(128, seed=6)
    options = dict(epochs=2, batch_size=64, checkpoint=tmp_path, name="tiny", quiet=True)
    first = fresh_tiny_net()
    trained = fit(first, train, test, **options)
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("tiny-") and {p.name for p in folder.iterdir()} == {
        "last.pt", "best.pt", "history.json"}  # fmt: skip

    # A re-run (same seed, so same starting weights; same recipe and data) loads instead of training.
    again = fresh_tiny_net()
    calls = count_forward_calls(again)
    reloaded = fit(again, train, test, **options)
    assert reloaded.loaded and calls[0] == 0
    assert reloaded.records == trained.records
    for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)

    # Anything that changes the result trains anew: the recipe, the data, the starting weights.
    assert not fit(fresh_tiny_net(), train, test, **options | {"lr": 0.01}).loaded
    assert not fit(fresh_tiny_net(), mnist[0].subset(256, seed=7), test, **options).loaded
    assert not fit(fresh_tiny_net(seed=1), train, test, **options).loaded
    assert not fit(fresh_tiny_net(), train, test, **options | {"retrain": True}).loaded

    # load_checkpoint: the best epoch's weights into a new model.
    best_epoch = max(trained.records, key=lambda r: r["val_acc"])
    restored = load_checkpoint(tiny_net(), folder, which="best")
    assert evaluate(restored, test).accuracy == pytest.approx(best_epoch["val_acc"])


FINGERPRINT_SCRIPT = """
import torch
from utils.models import get_model
from utils.training.checkpoints import model_fingerprint
for name in ("densenet40_k12", "googlenet", "resnet20"):
    torch.manual_seed(0)
    print(name, model_fingerprint(get_model(name)))
"""


def test_a_new_process_finds_the_same_key():
    """Train or load works across notebook restarts only if the key is the same in a fresh process. DenseNet's
    and GoogLeNet's forward hold comprehensions, whose code objects print with a memory address."""
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    runs = [subprocess.run([sys.executable, "-c", FINGERPRINT_SCRIPT], env=env | {"PYTHONHASHSEED": seed},
                           capture_output=True, text=True, check=True).stdout for seed in ("1", "2")]  # fmt: skip
    assert runs[0] == runs[1] and len(runs[0].split()) == 6


def test_an_edited_forward_gets_a_new_key():
    from utils.training.checkpoints import model_fingerprint

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x)

    class EditedNet(Net):
        def forward(self, x):
            return self.fc(x).relu()

    EditedNet.__name__ = EditedNet.__qualname__ = "Net"  # the same cell run again after an edit
    seed_everything(0)
    first = model_fingerprint(Net())
    seed_everything(0)
    assert model_fingerprint(Net()) == first
    seed_everything(0)
    assert model_fingerprint(EditedNet()) != first


def test_interrupted_run_resumes_to_the_same_weights(mnist, tmp_path):
    train = mnist[0].subset(256, seed=8)
    options = dict(epochs=2, batch_size=64, checkpoint=tmp_path, quiet=True)
    uninterrupted = fresh_tiny_net()
    fit(uninterrupted, train, epochs=2, batch_size=64, quiet=True)

    crashing = fresh_tiny_net()
    calls = count_forward_calls(crashing)

    def crash_in_second_epoch(*_):
        if calls[0] > 5:  # 4 batches an epoch: the 6th call is in epoch 2
            raise KeyboardInterrupt

    crashing.register_forward_pre_hook(crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        fit(crashing, train, **options)
    resumed = fresh_tiny_net()
    history = fit(resumed, train, **options)
    assert history["epoch"] == [1, 2] and not history.loaded
    for a, b in zip(uninterrupted.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------------------------------------------------
# Quiet mode


class WarningNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = tiny_net()

    def forward(self, x):
        warnings.warn("a warning from inside the model", UserWarning, stacklevel=1)
        return self.net(x)


def test_quiet_mode_writes_nothing_to_stdout_or_stderr(mnist, capfd):
    train, test = mnist[0].subset(128), mnist[1].subset(64)

    def run(**options) -> tuple[str, str, list]:
        with warnings.catch_warnings(record=True) as caught:  # pytest records warnings instead of printing them
            warnings.simplefilter("always")
            fit(WarningNet(), train, test, epochs=1, batch_size=64, **options)
        out, err = capfd.readouterr()
        return out, err, caught

    out, err, caught = run()
    assert "epoch 1/1" in err and caught  # the progress bar and the warnings: so the check below can fail
    out, err, caught = run(progress=False)
    assert "epoch 1/1" in out and "val acc" in out
    out, err, caught = run(quiet=True)
    assert out == "" and err == "" and caught == []


NOTEBOOK_FIT = """
from utils.data import load_dataset
from utils.training import fit, seed_everything
import torch.nn as nn
train = load_dataset("mnist", "test", require_real=True).subset(256)
seed_everything(0)
model = nn.Sequential(nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(576, 10))
history = fit(model, train, epochs=1, batch_size=64)
"""


def test_in_a_notebook_the_progress_bar_is_a_widget_with_loss_and_speed():
    """A real kernel: the bar is a Jupyter widget (not text on stderr), and its final state shows the epoch's
    4 of 4 batches with loss, accuracy and images/s."""
    import nbclient
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK_FIT)])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs), outputs
    widgets = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"].values()
    texts = [w["state"].get("value", "") for w in widgets if w["model_name"] == "HTMLModel"]
    shown = " ".join(texts).replace("\u2007", " ")  # tqdm pads with figure spaces
    assert re.search(r"epoch 1/1: +100%", shown), shown
    assert re.search(r"4/4 .*loss \d\.\d{4} +acc [\d.]+% +[\d,]+ img/s", shown), shown


# ---------------------------------------------------------------------------------------------------------
# The command line, in one process and under torchrun with two (gloo on the CPU)


def test_cli_one_process_and_ddp_two_processes_agree(tmp_path):
    """Two processes with half of each batch must do the same steps as one process with the whole batch
    (LeNet-5 has no BatchNorm, and MNIST gets no augmentation, so nothing else differs)."""
    arguments = ["-m", "utils.training", "--model", "lenet5", "--data", "mnist", "--profile", "smoke",
                 "--epochs", "2", "--train-size", "256", "--test-size", "256", "--batch-size", "64",
                 "--no-progress"]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    runs = {
        "single": [sys.executable, *arguments],
        "ddp": [*torchrun, *arguments],
    }
    processes = {
        name: subprocess.Popen(command + ["--checkpoints", str(tmp_path / name)], cwd=tmp_path, text=True,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        for name, command in runs.items()
    }
    outputs = {name: process.communicate(timeout=240) for name, process in processes.items()}
    for name, process in processes.items():
        assert process.returncode == 0, f"{name} failed:\n{outputs[name][1][-3000:]}"

    single_out, ddp_out = outputs["single"][0], outputs["ddp"][0]
    assert "x 1 process(es)" in single_out and "x 2 process(es)" in ddp_out
    assert ddp_out.count("model       lenet5") == 1  # only rank 0 prints
    assert re.search(r"test acc \d+\.\d+%", single_out)

    # Only rank 0 writes: one run folder with one set of files.
    (single_folder,) = (tmp_path / "single").iterdir()
    (ddp_folder,) = (tmp_path / "ddp").iterdir()
    single_state = torch.load(single_folder / "last.pt", weights_only=True)
    ddp_state = torch.load(ddp_folder / "last.pt", weights_only=True)
    assert single_state["model"].keys() == ddp_state["model"].keys()
    for key, value in single_state["model"].items():
        torch.testing.assert_close(ddp_state["model"][key], value, rtol=1e-4, atol=1e-5)
    single_history, ddp_history = (History.from_dict(s["history"]) for s in (single_state, ddp_state))
    assert len(single_history) == len(ddp_history) == 2
    assert ddp_history["val_acc"] == pytest.approx(single_history["val_acc"], abs=1 / 256)
    assert ddp_history.meta["processes"] == 2


def test_cli_fits_the_images_to_the_model(mnist):
    from utils.training.__main__ import build_model, check_input, shape_for_model

    digits = shape_for_model(mnist[1].subset(4), image_size=None)
    assert digits.image_shape == (1, 32, 32)  # padded, as LeNet-5's paper does
    lenet, needs_rgb = build_model("lenet5", digits)
    assert not needs_rgb and lenet.c1.in_channels == 1
    resnet, needs_rgb = build_model("resnet20", digits)  # built for colour images: the digits become RGB
    assert needs_rgb and resnet.fc.out_features == 10
    check_input(resnet, "resnet20", (3, 32, 32))
    with pytest.raises(SystemExit, match="--image-size"):
        check_input(get_model("alexnet", num_classes=10), "alexnet", (3, 32, 32))  # pools 32x32 down to nothing
    # The registry's facts say so before the model is built, with the size to ask for.
    with pytest.raises(ValueError, match="at least 63x63; these are 32x32. Pass --image-size 224"):
        build_model("alexnet", digits)


def test_cli_rejects_what_it_cannot_do():
    from utils.training.__main__ import main

    with pytest.raises(SystemExit, match="unknown model"):
        main(["--model", "resnet2O", "--data", "mnist"])
    with pytest.raises(SystemExit, match="folder"):
        main(["--model", "lenet5", "--data", "no/such/folder"])
