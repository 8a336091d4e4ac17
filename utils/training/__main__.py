"""Train any registry model on any supported dataset from the command line.

    python -m utils.training --model resnet20 --data cifar10 --epochs 30
    python -m utils.training --model lenet5 --data mnist --profile cpu
    python -m utils.training --model resnet20 --data path/to/my_images      # class folders (or train/, test/)
    torchrun --nproc_per_node=4 -m utils.training --model resnet56 --data cifar10   # 4 GPUs, DDP

Unset options come from the run profile's budget (utils.profiles) and fit's recipe defaults. Prints a
summary and saves a checkpoint; running the same command again loads it instead of training (--retrain).
Under torchrun every process trains its shard of each batch and only rank 0 prints and writes.
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

from ..data import DATASETS, ImageData, load_dataset, load_image_folder, pad_to_size, resize, to_rgb
from ..models import get_model, list_models, model_facts
from ..profiles import PROFILES, budget
from . import distributed
from .checkpoints import checkpoint_root
from .fitting import fit
from .loaders import check_model_takes
from .recipe import OPTIMIZERS, SCHEDULES
from .runtime import PRECISIONS

SWITCHES = {"auto": "auto", "on": True, "off": False}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m utils.training", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a registry name, e.g. lenet5, resnet20 (--list-models shows all)")
    parser.add_argument("--data", default="cifar10", help=f"{', '.join(DATASETS)}, or a folder of class folders")
    parser.add_argument("--list-models", action="store_true", help="print the model names and exit")
    plan = parser.add_argument_group("how much (defaults: the run profile's budget)")
    plan.add_argument("--profile", choices=PROFILES, help="smoke, cpu or full (default: picked for this machine)")
    plan.add_argument("--lesson", default="default", help="take the budget of this lesson, e.g. 05_resnet")
    plan.add_argument("--epochs", type=int)
    plan.add_argument("--batch-size", type=int, help="total over all processes")
    plan.add_argument("--train-size", type=int, help="train on a random subset of this many images")
    plan.add_argument("--test-size", type=int, help="evaluate on a random subset of this many images")
    recipe = parser.add_argument_group("recipe (defaults: fit's)")
    recipe.add_argument("--optimizer", choices=("auto", *OPTIMIZERS), default="auto",
                        help="auto: sgd if the model has normalisation layers, else adamw")  # fmt: skip
    recipe.add_argument("--lr", type=float, help="peak learning rate")
    recipe.add_argument("--momentum", type=float, default=0.9)
    recipe.add_argument("--weight-decay", type=float)
    recipe.add_argument("--schedule", choices=SCHEDULES, default="onecycle")
    recipe.add_argument("--label-smoothing", type=float, default=0.1)
    recipe.add_argument("--augment", choices=SWITCHES, default="auto",
                        help="crop + flip (auto: as the dataset's spec says; a folder: if 32x32 colour)")  # fmt: skip
    recipe.add_argument("--image-size", type=int, help="resize the images (default: as they are, MNIST padded to 32)")
    recipe.add_argument("--seed", type=int, default=0)
    run = parser.add_argument_group("how it runs")
    run.add_argument("--device", help="cuda, mps or cpu (default: the fastest present)")
    run.add_argument("--precision", choices=PRECISIONS, default="auto",
                     help="auto: bf16 autocast on CUDA, and on a CPU with native bf16 where a probe finds it faster")
    run.add_argument("--channels-last", choices=SWITCHES, default="auto",
                     help="(auto: on for convolutional nets)")  # fmt: skip
    run.add_argument("--compile", action="store_true", help="torch.compile the model")
    run.add_argument("--deterministic", action="store_true", help="repeatable kernels (slower)")
    run.add_argument("--checkpoints", type=Path, help=f"checkpoint folder (default: {checkpoint_root()})")
    run.add_argument("--no-checkpoint", action="store_true", help="neither save nor load")
    run.add_argument("--retrain", action="store_true", help="train even if a finished checkpoint exists")
    run.add_argument("--require-real", action="store_true", help="fail instead of using a synthetic stand-in")
    run.add_argument("--no-progress", action="store_true", help="one line per epoch instead of progress bars")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)
    if not args.list_models and not args.model:
        parser.error("--model is required (e.g. --model resnet20); --list-models shows the names.")
    return args


def load_splits(source: str, require_real: bool, seed: int) -> tuple[ImageData, ImageData]:
    """(train, test) of a named dataset or of a folder (its train/ and test/, else a 90/10 split)."""
    if source in DATASETS:
        return (load_dataset(source, "train", require_real=require_real),
                load_dataset(source, "test", require_real=require_real))  # fmt: skip
    folder = Path(source).expanduser()
    if not folder.is_dir():
        sys.exit(f"--data {source!r}: use one of {', '.join(DATASETS)}, or a folder with one sub-folder per class.")
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        return load_image_folder(folder, split="train"), load_image_folder(folder, split="test")
    everything = load_image_folder(folder)
    order = torch.randperm(len(everything), generator=torch.Generator().manual_seed(seed))
    cut = len(order) // 10
    test_part, train_part = order[:cut].sort().values, order[cut:].sort().values
    return replace(everything.select(train_part), split="train"), replace(everything.select(test_part), split="test")


def shape_for_model(data: ImageData, image_size: int | None) -> ImageData:
    """Resize if asked; else pad images smaller than 32x32 (MNIST) to 32x32 with background, as LeNet-5 does."""
    if image_size is not None:
        return resize(data, image_size)
    return pad_to_size(data, 32) if data.image_shape[1] < 32 else data


def build_model(name: str, train: ImageData) -> tuple[torch.nn.Module, bool]:
    """The model for this data, and whether the images must be turned to RGB for it. Images smaller than the
    model takes (its registry facts say how small) fail here, in one line."""
    facts = model_facts(name)
    channels, height, width = train.image_shape
    if min(height, width) < facts.smallest_size:
        raise ValueError(
            f"{name} takes images of at least {facts.smallest_size}x{facts.smallest_size}; these are {height}x{width}. "
            f"Pass --image-size {facts.natural_size} (its natural size), or pick a CIFAR-size model (resnet20, ...)."
        )
    if facts.takes_in_channels:
        return get_model(name, num_classes=train.num_classes, in_channels=channels), False
    return get_model(name, num_classes=train.num_classes), channels == 1 and facts.in_channels == 3


def check_input(model: torch.nn.Module, name: str, shape: tuple[int, int, int]) -> None:
    """Fail now, in one line, if the model cannot take these images (fit would fail on its first batch)."""
    try:
        check_model_takes(model, shape, name)
    except ValueError as error:
        sys.exit(f"{error} Or pick a CIFAR-size model (resnet20, lenet5, ...), or pass --image-size (e.g. 64 or 224).")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_models:
        print("\n".join(list_models()))
        return 0
    world = distributed.setup(args.device)
    say = (lambda *_: None) if args.quiet or not world.is_main else print
    plan = budget(args.lesson, args.profile)

    train, test = load_splits(args.data, args.require_real, args.seed)
    train = train.subset(args.train_size or plan.train_size, seed=args.seed)
    test = test.subset(args.test_size or plan.test_size, seed=args.seed)
    train, test = shape_for_model(train, args.image_size), shape_for_model(test, args.image_size)

    # Seed before building: the same command gives the same starting weights, in every process (DDP needs
    # that) and in every re-run (the checkpoint key includes them).
    torch.manual_seed(args.seed)
    try:
        model, needs_rgb = build_model(args.model, train)
    except ValueError as error:
        sys.exit(str(error))
    if needs_rgb:
        train, test = to_rgb(train), to_rgb(test)
    check_input(model, args.model, train.image_shape)

    history = fit(
        model, train, test,
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
        label_smoothing=args.label_smoothing, augment=None if args.augment == "auto" else SWITCHES[args.augment],
        lesson=args.lesson, profile=args.profile, device=args.device, precision=args.precision,
        channels_last=SWITCHES[args.channels_last], compile=args.compile, progress=not args.no_progress,
        quiet=args.quiet, checkpoint=False if args.no_checkpoint else (args.checkpoints or True),
        name=args.model, retrain=args.retrain, seed=args.seed, deterministic=args.deterministic,
    )  # fmt: skip

    say()
    say(summary(history, train, test))
    distributed.cleanup()
    return 0


def summary(history, train: ImageData, test: ImageData) -> str:
    """The per-epoch table, then what ran, how, and how well."""
    meta, final, recipe = history.meta, history.final, history.meta["recipe"]
    speed = [meta["amp"], "channels_last" if meta["channels_last"] else None, "compiled" if meta["compile"] else None]
    probe = (meta.get("precision") or {}).get("probe")
    if probe:
        speed.append(f"probe: bf16 {probe['bf16_images_per_s']:,.0f} / fp32 {probe['fp32_images_per_s']:,.0f} img/s")
    synthetic = " (SYNTHETIC stand-in)" if train.synthetic else ""
    c, h, w = train.image_shape
    how = (f"epochs {recipe['epochs']}, batch {recipe['batch_size']}, {recipe['optimizer']} lr {recipe['lr']:g}, "
           f"{recipe['schedule']}, weight decay {recipe['weight_decay']:g}, "
           f"label smoothing {recipe['label_smoothing']:g}")  # fmt: skip
    if recipe["augment"]:
        how += ", crop + flip"
    result = (f"train acc {100 * final['train_acc']:.2f}%, test acc {100 * final['val_acc']:.2f}% "
              f"(best {100 * history.best_val_acc:.2f}%), {history.total_seconds:.1f} s training, "
              f"{final['images_per_s']:,.0f} img/s")  # fmt: skip
    if history.loaded:
        result += " (loaded from the checkpoint, not trained now)"
    lines = [
        history.table(),
        "",
        f"model       {meta['model']} ({meta['parameters']:,} parameters)",
        f"data        {train.name}{synthetic}: {len(train):,} train / {len(test):,} test images, {c}x{h}x{w}",
        f"device      {meta['device']} x {meta['processes']} process(es), "
        f"{', '.join(filter(None, speed)) or 'float32'}, profile {meta['profile']}",
        f"recipe      {how}",
        f"result      {result}",
    ]
    if meta.get("checkpoint"):
        lines.append(f"checkpoint  {meta['checkpoint']}  (last.pt, best.pt, history.json)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
