"""How the arithmetic runs, as opposed to what it computes: seeding, determinism, mixed precision and
memory format. None of these is part of a checkpoint's key."""

import contextlib
import os
import random
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Speed:
    amp_dtype: torch.dtype | None  # autocast to this dtype, or None for float32 throughout
    channels_last: bool

    def autocast(self, device: torch.device):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.amp_dtype)

    def needs_loss_scaling(self) -> bool:
        return self.amp_dtype == torch.float16  # fp16 gradients underflow without it; bf16's do not


def choose_speed(device: torch.device, amp="auto", channels_last="auto", model: nn.Module | None = None) -> Speed:
    """amp and channels_last: True, False or "auto".

    auto, as we measured it (benchmarks/ and the notes below):
    - amp: bf16 autocast on CUDA (fp16 on GPUs without fast bf16); off elsewhere, since bf16 on a CPU without
      bf16 instructions was 10x slower than float32 for ResNet-20.
    - channels_last: on CUDA, and on a CPU for any model with 2-D convolutions. On our 2-core AVX2 CPU fit
      trained LeNet-5 30% faster with it and ResNet-20 12-14% faster (oneDNN works in that layout, so the
      per-layer reorders disappear); VGG-11-BN, AlexNet, DenseNet-40 and ResNeXt-29 steps were within 3%."""
    on_cuda = device.type == "cuda"
    use_amp = on_cuda if amp == "auto" else bool(amp)
    dtype = None
    if use_amp:
        # bf16 keeps float32's range, so no loss scaling; older GPUs (a T4, say) lack fast bf16: use fp16.
        dtype = torch.bfloat16 if not on_cuda or torch.cuda.is_bf16_supported() else torch.float16
    if channels_last == "auto":
        channels_last = on_cuda or (device.type == "cpu" and model is not None and has_convolutions(model))
    return Speed(amp_dtype=dtype, channels_last=bool(channels_last))


def has_convolutions(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())
