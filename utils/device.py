"""Which device to train on: CUDA, then Apple's MPS, then the CPU, unless told otherwise."""

import torch

from .settings import device_name


def pick_device(explicit: str | torch.device | None = None) -> torch.device:
    """The device to use. An explicit argument wins, then CNN_COURSE_DEVICE, then the fastest present."""
    choice = explicit if explicit is not None else device_name()
    if choice is not None:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {choice!r} was asked for but CUDA is not available here; use 'cpu'.")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(f"device {choice!r} was asked for but Apple MPS is not available here; use 'cpu'.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
