"""A small model registry in torchvision's style: every builder registers itself under its name."""

import difflib
from collections.abc import Callable

import torch.nn as nn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: make `builder` available as get_model(builder.__name__)."""
    name = builder.__name__
    if name in _BUILDERS:
        raise ValueError(f"model {name!r} is registered twice")
    _BUILDERS[name] = builder
    return builder


def list_models() -> list[str]:
    """Every registered model name, sorted."""
    return sorted(_BUILDERS)


def get_model(name: str, **options) -> nn.Module:
    """Build a registered model by name, e.g. get_model("resnet20", num_classes=10)."""
    try:
        builder = _BUILDERS[name]
    except KeyError:
        close = difflib.get_close_matches(name, _BUILDERS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown model {name!r}.{hint} utils.models.list_models() lists all {len(_BUILDERS)} names."
        ) from None
    return builder(**options)
