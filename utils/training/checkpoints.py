"""Checkpoints, and the key that lets a re-run load a finished run instead of training it again.

A run's folder is <root>/<name>-<key>, where the key hashes everything that decides the result:
the model (its class, its structure as printed, its starting weights and the code of every module's
forward), the recipe, the data (name, split, size, a sample of the pixels and all the labels) and the seed.
Change any of these and the key changes, so a stale checkpoint is never loaded by mistake. For a re-run to
find its checkpoint, build the model after seeding (`seed_everything(0)`), so that it starts from the same
weights.

In the folder: last.pt (weights, optimizer and schedule after the latest epoch, to resume or load),
best.pt (weights of the epoch with the best validation accuracy) and history.json.
The root is $CNN_COURSE_CHECKPOINTS, else <repo>/checkpoints (git-ignored).
"""

import hashlib
import json
import os
from pathlib import Path

import torch
import torch.nn as nn

from ..data import DeviceLoader, ImageData
from ..settings import checkpoint_root


def model_fingerprint(model: nn.Module) -> str:
    """A hash of the model as training finds it: structure, starting weights, each module's forward code.

    Starting weights: a model built after the same seed gets the same key, and a model that was already
    trained (fit called again to train it further) gets a new one instead of the first run's checkpoint.
    The bytecode of forward catches an edited forward in a notebook cell, where no source file exists.
    """
    digest = hashlib.sha1(f"{type(model).__module__}.{type(model).__qualname__}\n{model!r}".encode())
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    for cls in sorted({type(m) for m in model.modules()}, key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        code = getattr(cls.forward, "__code__", None)
        if code is not None:
            digest.update(code_fingerprint(code).encode())
    return digest.hexdigest()


def code_fingerprint(code) -> str:
    """A hash of a function's bytecode, names and constants that is the same in every process.

    A constant can itself be code (a comprehension or lambda inside forward, in Python 3.11), whose repr
    holds a memory address: hash such constants by their own content instead, or no re-run would ever
    find its checkpoint."""
    digest = hashlib.sha1(code.co_code + repr(code.co_names).encode())
    for constant in code.co_consts:
        digest.update((code_fingerprint(constant) if hasattr(constant, "co_code") else repr(constant)).encode())
    return digest.hexdigest()


def data_fingerprint(data) -> dict:
    """A description of a dataset that changes whenever its content does (cheaply: a sample of images)."""
    if isinstance(data, DeviceLoader):
        described = data_fingerprint(data.data)
        described["loader"] = {"crop_padding": data.crop_padding, "flip": data.flip, "shuffle": data.shuffle}
        return described
    if isinstance(data, ImageData):
        step = max(1, len(data) // 1000)  # about a thousand images: enough to notice another subset
        digest = hashlib.sha1(data.labels.cpu().numpy().tobytes())
        digest.update(data.images[::step].cpu().contiguous().numpy().tobytes())
        return {"name": data.name, "split": data.split, "size": len(data), "synthetic": data.synthetic,
                "content": digest.hexdigest()}  # fmt: skip
    # Any other iterable of batches: we cannot look inside cheaply, so describe it by type and length.
    return {"type": type(data).__name__, "batches": len(data) if hasattr(data, "__len__") else None}


def run_key(model: nn.Module, recipe: dict, train_data, val_data, seed: int | None) -> str:
    described = {
        "model": model_fingerprint(model),
        "recipe": recipe,
        "train": data_fingerprint(train_data),
        "val": data_fingerprint(val_data) if val_data is not None else None,
        "seed": seed,
    }
    return hashlib.sha1(json.dumps(described, sort_keys=True).encode()).hexdigest()[:12]


class RunFolder:
    """The files of one run: last.pt, best.pt, history.json."""

    def __init__(self, root: str | Path, name: str, key: str):
        self.path = Path(root).expanduser() / f"{name}-{key}"
        self.last, self.best = self.path / "last.pt", self.path / "best.pt"
        self.history = self.path / "history.json"

    def load_last(self) -> dict | None:
        if not self.last.is_file():
            return None
        return torch.load(self.last, map_location="cpu", weights_only=True)

    def save(self, state: dict, history, is_best: bool) -> None:
        """Write last.pt (and best.pt when this epoch is the best so far) and history.json."""
        self.path.mkdir(parents=True, exist_ok=True)
        _atomic_save(state, self.last)
        if is_best:
            _atomic_save({"model": state["model"], "epoch": state["epoch"]}, self.best)
        history.save(self.history)


def _atomic_save(state: dict, path: Path) -> None:
    # Write then rename: a run interrupted while saving leaves the previous file, never a truncated one.
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def load_checkpoint(model: nn.Module, path: str | Path, which: str = "best") -> nn.Module:
    """Load weights into `model` from a run folder (its best.pt or last.pt) or from a .pt file."""
    path = Path(path).expanduser()
    if path.is_dir():
        if which not in ("best", "last"):
            raise ValueError(f"which={which!r}: use 'best' or 'last'.")
        path = path / f"{which}.pt"
        if which == "best" and not path.is_file():
            path = path.with_name("last.pt")  # a run without validation data has no best.pt
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; give a run folder under {checkpoint_root()} or a .pt file.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"] if "model" in state else state)
    return model
