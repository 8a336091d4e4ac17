"""Reference implementations of every architecture in the course, and a registry to build them by name.

    from utils.models import get_model, list_models, model_facts
    model = get_model("resnet20", num_classes=10)
    model_facts("alexnet").smallest_size  # 63: smaller images pool down to nothing

Adding a model: write its builder in a family module, decorated with @register_model(...) and its facts; a new
family module also gets a line in the import below.
"""

# Importing each family module registers its builders.
from . import alexnet, cifar, densenet, googlenet, inception, lenet, resnet, resnext, vgg  # noqa: F401
from ._registry import ModelFacts, get_model, list_models, model_facts, register_model

__all__ = ["ModelFacts", "get_model", "list_models", "model_facts", "register_model"]
