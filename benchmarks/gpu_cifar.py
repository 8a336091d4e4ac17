"""CIFAR-10 on one GPU: the textbook loop against fit, and fit's time to 94% test accuracy.

    python -m benchmarks.gpu_cifar                  # on CUDA: a few minutes
    python -m benchmarks.gpu_cifar --compile        # fit with torch.compile too
    python -m benchmarks.gpu_cifar --dry-run        # on the CPU with tiny sizes: checks the script still works

1. Throughput, for ResNet-18 (CIFAR variant) and ResNet-20, through the same race as the CPU benchmarks
   (benchmarks/textbook.py): images/s of one epoch of the textbook loop (ImageFolder + per-image
   crop/flip/ToTensor/Normalize, DataLoader num_workers=2 with pinned memory, float32) against fit's second
   epoch (bf16 autocast, channels_last, cudnn.benchmark, optionally compiled; the first epoch pays for
   compilation and cuDNN's algorithm search, so its speed is printed separately). The two take turns for three
   rounds (--rounds) and the medians are reported.
2. Time to accuracy: fit's full-profile recipe (utils.profiles: 30 epochs, batch 512, SGD with one-cycle,
   label smoothing, crop + flip) on ResNet-18, evaluated after every epoch; the training time until the
   test accuracy first reaches --target. Anchors: airbench94 reaches 94% in about 3 s on an A100 with a
   network and tricks built for it; a ResNet-9 took 26 s on a V100 in DAWNBench; a standard ResNet-18 reaches
   96% in about 7 minutes on an A100.

The last line is ratio=<fit images/s / textbook images/s>, the geometric mean over the two models' medians.
"""

import argparse
import math
import time

import torch

from benchmarks.cpu_resnet20_cifar import textbook_loader
from benchmarks.textbook import numerics, race, spread, warm_up
from utils.data import load_dataset
from utils.models import get_model
from utils.training import fit, seed_everything

MODELS = {"resnet18 (CIFAR)": "cifar_resnet18", "resnet20": "resnet20"}  # label: name in utils.models


def time_to_accuracy(label, model_name, train, test, device, compile: bool, target: float, epochs: int | None,
                     dry_run: bool):  # fmt: skip
    seed_everything(0)
    model = get_model(model_name)
    start = time.perf_counter()
    history = fit(model, train, test, profile="smoke" if dry_run else "full", epochs=epochs, device=device,
                  compile=compile, progress=False, name=label)  # fmt: skip
    wall = time.perf_counter() - start
    elapsed, reached = 0.0, None
    for record in history.records:
        elapsed += record["seconds"]
        if reached is None and record["val_acc"] >= target:
            reached = (record["epoch"], elapsed)
    return history, wall, reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, 8 images, 1 round, 1 epoch to a target of 0")
    parser.add_argument("--compile", action="store_true", help="fit with torch.compile")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3, help="fit and the textbook loop take turns this often")
    parser.add_argument("--target", type=float, default=0.94, help="test accuracy to reach (a fraction)")
    parser.add_argument("--epochs", type=int, help="for the time-to-accuracy run (default: the full profile's)")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()

    if args.dry_run:
        device, batch_size, size, target, epochs, rounds = torch.device("cpu"), 4, 8, 0.0, 1, 1
    else:
        if not torch.cuda.is_available():
            raise SystemExit("gpu_cifar needs CUDA; on a CPU run it with --dry-run (or see benchmarks/cpu_*.py).")
        device, batch_size, size = torch.device("cuda"), args.batch_size, None
        target, epochs, rounds = args.target, args.epochs, args.rounds
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {name}, torch {torch.__version__}, batch {batch_size}, compile {args.compile}")

    train = load_dataset("cifar10", "train", require_real=True)
    test = load_dataset("cifar10", "test", require_real=True)
    indices = torch.arange(len(train))
    if size is not None:
        indices = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:size].sort().values
        test = test.subset(size)
    train = train.select(indices)

    ratios = []
    if not args.skip_throughput:
        for label, model_name in MODELS.items():
            warm_up(model_name, (3, 32, 32), batch_size, device)
            result = race(model_name, train,
                          lambda: textbook_loader(indices, batch_size, pin_memory=device.type == "cuda"), batch_size,
                          rounds=rounds, device=device, fit_epochs=2, augment=True, compile=args.compile)  # fmt: skip
            ratios.append(result.helper_speed / result.textbook_speed)
            print(f"{label:17s} textbook {result.textbook_speed:9,.0f} img/s   fp32, contiguous; "
                  f"{spread(result.textbook_speeds)}")  # fmt: skip
            print(f"{'':17s} fit      {result.helper_speed:9,.0f} img/s   {numerics(result.history.meta)}"
                  f"{', compiled' if args.compile else ''}; {spread(result.helper_speeds)}; first epoch "
                  f"{spread(result.helper_first_epoch_speeds)}   ratio {ratios[-1]:.2f}")  # fmt: skip

    label = "resnet20" if args.dry_run else "resnet18 (CIFAR)"  # ResNet-18 is too slow for a CPU check
    history, wall, reached = time_to_accuracy(label, MODELS[label], train, test, device, args.compile, target,
                                              epochs, args.dry_run)  # fmt: skip
    recipe = history.meta["recipe"]
    print(f"time to accuracy: {history.meta['model']}, {recipe['epochs']} epochs, batch {recipe['batch_size']}, "
          f"{recipe['optimizer']} lr {recipe['lr']:g} {recipe['schedule']}, "
          f"{history.meta['amp'] or 'float32'}")  # fmt: skip
    if reached is None:
        print(f"  did not reach {100 * target:.1f}% (best {100 * history.best_val_acc:.2f}%) in {wall:.1f} s")
    else:
        print(f"  reached {100 * target:.1f}% after epoch {reached[0]}: {reached[1]:.1f} s of training "
              f"(final {100 * history.final['val_acc']:.2f}%, whole run with evaluation {wall:.1f} s)")  # fmt: skip
    if ratios:
        print(f"ratio={math.exp(sum(math.log(r) for r in ratios) / len(ratios)):.2f}")


if __name__ == "__main__":
    main()
