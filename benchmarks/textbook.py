"""The baseline every benchmark compares fit against: the training loop as most tutorials write it.

A torchvision dataset with per-image transforms, a DataLoader with worker processes, float32, and the
plain loop below. Same model, batch size and optimizer as fit's run, so that only the way of feeding and
running the model differs (fit also picks its numerics: bf16 where the CPU has it and it pays).
"""

import contextlib
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from utils.models import get_model
from utils.training import History, evaluate, fit, seed_everything


def textbook_epoch(model, loader, optimizer, device: torch.device | str = "cpu") -> int:
    """One pass, as tutorials write it; returns the number of images seen."""
    model.train()
    seen = 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        seen += len(labels)
    return seen


def same_optimizer(model, recipe: dict) -> torch.optim.Optimizer:
    """The optimizer fit used (from its History's recipe), built the textbook way over all parameters."""
    if recipe["optimizer"] == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    return torch.optim.SGD(model.parameters(), lr=recipe["lr"], momentum=recipe["momentum"], nesterov=True,
                           weight_decay=recipe["weight_decay"])  # fmt: skip


def warm_up(model_name: str, image_shape: tuple[int, int, int], batch_size: int, device="cpu") -> None:
    """A step of a throwaway model in each memory format (fit uses channels_last, the textbook loop does
    not), so that neither side pays for the library's first-call set-up of its kernels (on a GPU: CUDA's)."""
    for memory_format in (torch.contiguous_format, torch.channels_last):
        model = get_model(model_name).to(device, memory_format=memory_format)
        images = torch.randn(batch_size, *image_shape, device=device).contiguous(memory_format=memory_format)
        F.cross_entropy(model(images), torch.zeros(batch_size, dtype=torch.long, device=device)).backward()
    synchronize(device)


def synchronize(device) -> None:
    """Wait for the GPU's queued work, so that a clock read afterwards includes it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Race:
    helper_speeds: list[float]  # images/s of fit's (last) epoch, one per round
    helper_first_epoch_speeds: list[float]  # images/s of fit's first epoch, as its History records it
    textbook_speeds: list[float]  # images/s of the textbook loop's epoch, one per round
    extra_speeds: dict[str, list[float]]  # any other measurement taken in each round (e.g. the bare step)
    history: History  # fit's last run, with the recipe the textbook optimizer copied and the numerics it used
    helper_model: torch.nn.Module  # both sides' models after the last round
    textbook_model: torch.nn.Module

    @property
    def helper_speed(self) -> float:
        return statistics.median(self.helper_speeds)

    @property
    def textbook_speed(self) -> float:
        return statistics.median(self.textbook_speeds)


def race(model_name: str, train, make_textbook_loader, batch_size: int, rounds: int = 3, extra=None,
         device="cpu", fit_epochs: int = 1, **fit_options) -> Race:  # fmt: skip
    """`rounds` rounds of: fit, one epoch of the textbook loop, then each of `extra` ({name: function of fit's
    History meta returning images/s}), on `device`, same images, same starting weights. Taking turns means a
    busy spell of a shared machine slows all sides alike; the medians are what the benchmarks report.

    Each side is timed from its first line to the end of its epoch, loader start-up included (so the textbook
    loader is built inside the timing, by make_textbook_loader()). With fit_epochs > 1 fit's speed is that of
    its last epoch, as its History records it (the time from its first batch until the device has finished
    the epoch). On a GPU fit's first epoch pays for torch.compile and cuDNN's search for the fastest kernels,
    once per run, which a run of many epochs hardly notices; the first epoch's speed is kept beside it."""
    count = len(train)
    helper_speeds, first_epoch_speeds, textbook_speeds = [], [], []
    extra_speeds = {name: [] for name in extra or {}}
    for _ in range(rounds):
        seed_everything(0)
        helper_model = get_model(model_name)
        start = time.perf_counter()
        history = fit(helper_model, train, epochs=fit_epochs, batch_size=batch_size, device=device, quiet=True,
                      **fit_options)  # fmt: skip
        elapsed = time.perf_counter() - start
        helper_speeds.append(count / elapsed if fit_epochs == 1 else history.records[-1]["images_per_s"])
        first_epoch_speeds.append(history.records[0]["images_per_s"])

        seed_everything(0)
        textbook_model = get_model(model_name).to(device)
        optimizer = same_optimizer(textbook_model, history.meta["recipe"])
        start = time.perf_counter()
        textbook_epoch(textbook_model, make_textbook_loader(), optimizer, device)
        synchronize(device)
        textbook_speeds.append(count / (time.perf_counter() - start))
        for name, measure in (extra or {}).items():
            extra_speeds[name].append(measure(history.meta))
    return Race(helper_speeds, first_epoch_speeds, textbook_speeds, extra_speeds, history, helper_model,
                textbook_model)  # fmt: skip


def bare_step_speed(model: torch.nn.Module, train, batch_size: int, meta: dict, steps: int) -> float:
    """Images/s of `model`'s training step alone on the CPU: one batch of random images of `train`'s shape
    already in memory, fit's numerics, memory format and optimizer (from its History's meta), no loader, no
    augmentation. No loop can beat it with these kernels, so it bounds the ratio. Give a fresh model: its
    weights change."""
    memory_format = torch.channels_last if meta["channels_last"] else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = same_optimizer(model, meta["recipe"])
    images = torch.randn(batch_size, *train.image_shape).contiguous(memory_format=memory_format)
    labels = torch.randint(0, train.num_classes, (batch_size,))
    bf16 = meta["precision"]["used"] == "bf16"
    start = None
    for step in range(steps + 1):
        if step == 1:  # the first step allocates memory and picks kernels: not timed
            start = time.perf_counter()
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - start)


def bare_step_line(bare_speeds: list[float], helper_speed: float, textbook_speed: float) -> str:
    """The bare step's median, fit's share of it, and the best ratio any loop could reach on this machine."""
    bare_speed = statistics.median(bare_speeds)
    return (f"bare step      {bare_speed:8,.0f} images/s   fit's numerics, no data; {spread(bare_speeds)}: fit runs "
            f"at {helper_speed / bare_speed:.0%} of it, and no loop could beat ratio {bare_speed / textbook_speed:.2f} "
            "here")  # fmt: skip


def accuracy(model, test, meta: dict | None = None) -> str:
    """Test accuracy in percent, evaluated with the numerics the model was trained with: fit's (its History's
    meta) or, without meta, the textbook loop's (float32, contiguous)."""
    precision, channels_last = (meta["precision"]["used"], meta["channels_last"]) if meta else ("fp32", False)
    return f"{100 * evaluate(model, test, precision=precision, channels_last=channels_last).accuracy:.2f}%"


def numerics(meta: dict) -> str:
    """How fit ran: its precision (and the probe's figures) and memory format, from its History's meta."""
    note = meta["precision"]
    how = f"{note['used']}"
    if note.get("probe"):
        probe = note["probe"]
        how += f" (probe: bf16 {probe['bf16_images_per_s']:,.0f} / fp32 {probe['fp32_images_per_s']:,.0f} img/s)"
    elif note.get("reason"):
        how += f" ({note['reason']})"
    return how + (", channels_last" if meta["channels_last"] else ", contiguous")


def spread(speeds: list[float]) -> str:
    return f"median of {', '.join(f'{speed:,.0f}' for speed in speeds)}"


def describe_cpu() -> str:
    """The CPU's model, its flags that matter to these benchmarks, and torch's view of them."""
    from utils.training.runtime import cpu_flags, cpu_has_native_bf16

    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), name)
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "bf16")
    flags = " ".join(flag for flag in wanted if flag in cpu_flags()) or "(flags not readable here)"
    return (f"{name}, {os.cpu_count()} logical CPUs; flags: {flags}; torch kernels: "
            f"{torch.backends.cpu.get_cpu_capability()}; native bf16: {cpu_has_native_bf16()}")  # fmt: skip
