"""Reference implementations of every architecture in the course, and a registry to build them by name.

    from utils.models import get_model, list_models
    model = get_model("resnet20", num_classes=10)
"""

# Importing each family module registers its builders.
from . import alexnet, cifar, densenet, googlenet, inception, lenet, resnet, resnext, vgg  # noqa: F401
from ._registry import get_model, list_models, register_model

__all__ = ["get_model", "list_models", "register_model"]
