"""A small model registry in torchvision's style: every builder registers itself under its name, with the facts
about its input and size that torchvision keeps as weights metadata (utils.models.model_facts(name))."""

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn

# Where published counts come from (shared/reference/NUMBERS.md gathers them all).
TORCHVISION = "torchvision's documented num_params"


@dataclass(frozen=True)
class ModelFacts:
    """What a registered model takes and how big it is, with its builder's default options.

    Sizes are the side of a square image. smallest_size is the smallest the model runs a training step on
    (tests/test_models_registry.py checks it takes that size and, where it is above 1, fails one pixel
    below). published_params counts the trainable parameters at the builder's default num_classes, as the
    source gives them; None where no count is published (the lessons' own small versions, variants whose
    count the tests derive by hand)."""

    in_channels: int  # channels of the images it is built for
    natural_size: int  # the size its paper or dataset uses
    smallest_size: int
    takes_in_channels: bool = False  # whether the builder has an in_channels option (else it is fixed)
    published_params: int | None = None
    params_source: str | None = None

    def __post_init__(self) -> None:
        if (self.published_params is None) != (self.params_source is None):
            raise ValueError("give published_params and params_source together (a count says where it is from)")
        if not 1 <= self.smallest_size <= self.natural_size:
            raise ValueError(f"smallest_size {self.smallest_size} must be between 1 and natural_size")


_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_FACTS: dict[str, ModelFacts] = {}


def register_model(**facts) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make a builder available as get_model(builder.__name__), with its ModelFacts fields, e.g.
    @register_model(in_channels=3, natural_size=32, smallest_size=1)."""
    model_facts = ModelFacts(**facts)

    def register(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = builder.__name__
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is registered twice")
        _BUILDERS[name], _FACTS[name] = builder, model_facts
        return builder

    return register


def list_models() -> list[str]:
    """Every registered model name, sorted."""
    return sorted(_BUILDERS)


def _check_known(name: str) -> None:
    if name not in _BUILDERS:
        close = difflib.get_close_matches(name, _BUILDERS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}.{hint} utils.models.list_models() lists all {len(_BUILDERS)} names.")


def get_model(name: str, **options) -> nn.Module:
    """Build a registered model by name, e.g. get_model("resnet20", num_classes=10)."""
    _check_known(name)
    return _BUILDERS[name](**options)


def model_facts(name: str) -> ModelFacts:
    """A registered model's input channels, smallest and natural input size and published parameter count."""
    _check_known(name)
    return _FACTS[name]
