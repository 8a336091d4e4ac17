"""Training helpers: fit, evaluate, History, checkpoints, and a command line (python -m utils.training).

    from utils.data import load_dataset
    from utils.models import get_model
    from utils.training import fit, evaluate, seed_everything

    seed_everything(0)
    model = get_model("resnet20")
    history = fit(model, load_dataset("cifar10", "train"), load_dataset("cifar10", "test"), checkpoint=True)
    history.plot()

The package reads top to bottom in this order: recipe (what to compute), runtime (how fast), loaders,
evaluation, fitting, history, checkpoints, distributed, and __main__ (the command line).
"""

from ..data import pad_to_size, resize, to_rgb  # where they live; lessons import them from here
from .checkpoints import checkpoint_root, load_checkpoint
from .evaluation import Evaluation, evaluate, predict
from .fitting import fit, train_one_epoch
from .history import History
from .recipe import Recipe, default_recipe
from .runtime import seed_everything

__all__ = [
    "Evaluation",
    "History",
    "Recipe",
    "checkpoint_root",
    "default_recipe",
    "evaluate",
    "fit",
    "load_checkpoint",
    "pad_to_size",
    "predict",
    "resize",
    "seed_everything",
    "to_rgb",
    "train_one_epoch",
]
