"""How the arithmetic runs, as opposed to what it computes: seeding, determinism, mixed precision and
memory format. None of these is part of a checkpoint's key."""

import contextlib
import os
import random
from dataclasses import dataclass

import torch


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


def choose_speed(device: torch.device, amp="auto", channels_last="auto") -> Speed:
    """amp and channels_last: True, False or "auto" (on for CUDA, off elsewhere).

    Off on CPUs by default because we measured it there (benchmarks/): bf16 autocast is slower than float32
    on CPUs without bf16 instructions, and channels_last speeds some models up and slows others down."""
    on_cuda = device.type == "cuda"
    use_amp = on_cuda if amp == "auto" else bool(amp)
    dtype = None
    if use_amp:
        # bf16 keeps float32's range, so no loss scaling; older GPUs (a T4, say) lack fast bf16: use fp16.
        dtype = torch.bfloat16 if not on_cuda or torch.cuda.is_bf16_supported() else torch.float16
    return Speed(amp_dtype=dtype, channels_last=on_cuda if channels_last == "auto" else bool(channels_last))
