"""How the arithmetic runs, as opposed to what it computes: seeding, determinism, numerics (float32 or bf16
autocast, chosen on a CPU by a short probe) and memory format. None of these is part of a checkpoint's key."""

import contextlib
import copy
import os
import platform
import random
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and torch's generators (all devices): same seed, same run."""
    random.seed(seed)
    torch.manual_seed(seed)
    with contextlib.suppress(ImportError):
        import numpy

        numpy.random.seed(seed)


@contextlib.contextmanager
def deterministic_mode(enabled: bool, device: torch.device):
    """Bit-for-bit repeatable kernels for the duration (slower); otherwise let cuDNN pick the fastest."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs this to be deterministic
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: time the conv algorithms once, keep the best
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0])
        torch.backends.cudnn.benchmark = saved[1]


PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # fp16: for GPUs without fast bf16 (with loss scaling)


@dataclass(frozen=True)
class Speed:
    amp_dtype: torch.dtype | None  # autocast to this dtype, or None for float32 throughout
    channels_last: bool

    @property
    def precision(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]

    def autocast(self, device: torch.device):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.amp_dtype)

    def needs_loss_scaling(self) -> bool:
        return self.amp_dtype == torch.float16  # fp16 gradients underflow without it; bf16's do not


def choose_speed(device: torch.device, precision="auto", channels_last="auto", model: nn.Module | None = None) -> Speed:
    """precision "auto", "fp32", "bf16" or "fp16"; channels_last True, False or "auto".

    auto, as we measured it (benchmarks/ and the notes below):
    - precision: bf16 autocast on CUDA (fp16 on GPUs without fast bf16); float32 elsewhere. On a CPU fit decides
      "auto" itself with probe_cpu_precision, since bf16 there pays only on CPUs that have it natively (ResNet-20's
      step: 2.2x on one with AMX, 1.44x on our AVX-512 BF16 EPYC) and is about 10x slower than float32 on one
      that emulates it (AVX2 only).
    - channels_last: on CUDA, and on a CPU for any model with 2-D convolutions. On our 2-core AVX2 CPU fit
      trained LeNet-5 30% faster with it and ResNet-20 12-14% faster (oneDNN works in that layout, so the
      per-layer reorders disappear); VGG-11-BN, AlexNet, DenseNet-40 and ResNeXt-29 steps were within 3%."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}.")
    on_cuda = device.type == "cuda"
    dtype = torch.float16 if precision == "fp16" else None
    if precision == "bf16" or (precision == "auto" and on_cuda):
        # bf16 keeps float32's range, so no loss scaling; older GPUs (a T4, say) lack fast bf16: use fp16.
        fast_bf16 = not on_cuda or torch.cuda.is_bf16_supported()
        dtype = torch.bfloat16 if fast_bf16 or precision == "bf16" else torch.float16
    if channels_last == "auto":
        channels_last = on_cuda or (device.type == "cpu" and model is not None and has_convolutions(model))
    return Speed(amp_dtype=dtype, channels_last=bool(channels_last))


def has_convolutions(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


# ---------------------------------------------------------------------------------------------------------
# bf16 on a CPU: only where the hardware has it, and only where a probe of the actual model finds it faster


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes in bfloat16 in hardware: x86 with AVX-512 BF16 or AMX (Intel Sapphire Rapids
    and later, AMD Zen 4 and later), or Arm with the BF16 extension (Apple M2 and later, Graviton 3)."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        try:
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        except AttributeError:  # an older torch: the flags Linux reports
            return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    if machine in ("arm64", "aarch64"):
        if platform.system() == "Darwin":
            answer = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True)
            return answer.stdout.strip() == "1"
        return "bf16" in cpu_flags()
    return False


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them in /proc/cpuinfo (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    lines = (line for line in text.splitlines() if line.startswith(("flags", "Features")))
    return set(next(lines, ":").split(":", 1)[1].split())


PROBE_ROUNDS = 3  # timed steps each way, interleaved, after one untimed step each way
PROBE_BATCH = 32  # images per probe step (fewer if the run's batches are smaller): 8 steps cost about 2 batches
PROBE_MARGIN = 1.05  # bf16 must be this much faster to be used: its rounding is not worth a tie
MIN_BATCHES_TO_PROBE = 20  # a shorter run would spend too large a share of its time probing


def probe_cpu_precision(model: nn.Module, batch_shape: tuple, channels_last: bool) -> dict:
    """Images per second of a training step (forward and backward) of a copy of `model` on a random batch of
    shape `batch_shape`, in float32 and under bf16 autocast. The two take turns, so that a busy moment of the
    machine hits both, and the fastest step of each counts. The model itself is not touched."""
    trial = copy.deepcopy(model).train()
    images = torch.randn(batch_shape, generator=torch.Generator().manual_seed(0))
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)

    def step_seconds(bf16: bool) -> float:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = trial(images)
        logits.float().logsumexp(dim=1).mean().backward()  # a loss of cross-entropy's cost, without labels
        trial.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    seconds = {False: [], True: []}
    for bf16 in (False, True):
        step_seconds(bf16)  # warm-up: memory, and the library's choice of kernels
    for _ in range(PROBE_ROUNDS):
        for bf16 in (False, True):
            seconds[bf16].append(step_seconds(bf16))
    return {"fp32_images_per_s": batch_shape[0] / min(seconds[False]),
            "bf16_images_per_s": batch_shape[0] / min(seconds[True])}  # fmt: skip
