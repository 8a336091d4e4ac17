"""fit: train a model on a dataset with a sensible recipe, fast, and remember the result.

    from utils.training import fit
    history = fit(model, train, test)       # ImageData in, History out; the model is trained in place
    history = fit(model, train, test, checkpoint=True)   # the next run with the same model, recipe and
                                                          # data loads the result instead of training

What makes it fast on small images, in order of effect:
- the data stays on the device as uint8 and is augmented there a whole batch at a time (utils.data), so no
  per-image Python loader competes with the model for the CPU;
- loss and accuracy are summed on the device and read twice a second for the progress bar and once per
  epoch, never after every step (reading a GPU number makes the CPU wait until the GPU is done); the
  training curve's points within an epoch (History.steps) stay on the device until the epoch ends;
- the channels_last memory format for convolutional nets (on a CPU too: oneDNN's own layout);
- bf16 autocast on CUDA, and on a CPU that has bf16 in hardware when a short probe of the model finds it
  faster (runtime.probe_cpu_precision);
- on CUDA: cudnn.benchmark, and optionally torch.compile.

fit reads in steps, each a function below it: the recipe from its arguments; _set_up (the model on its device,
the loaders, optimizer, schedule, history and checkpoint folder, gathered in a Run); _resume (from the last
checkpoint, if any); _get_ready (the input check, DDP and torch.compile, the numerics); then _fit_epoch for
every epoch (train_one_epoch, evaluation, the history, the progress bar, a checkpoint).
"""

import contextlib
import sys
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from ..data import DeviceLoader, ImageData
from ..profiles import active_profile
from . import distributed, runtime
from .checkpoints import RunFolder, checkpoint_root, run_key
from .evaluation import EVAL_BATCH_SIZE, evaluate
from .history import History
from .loaders import batches, begin_epoch, check_model_takes, count_images, default_augment, make_loader
from .recipe import Recipe, build_optimizer, build_schedule, choose_optimizer, default_recipe
from .runtime import Speed, choose_speed, deterministic_mode, seed_everything

PROGRESS_REFRESH_S = 0.5  # how often the progress bar reads the running loss from the device
POINTS_PER_EPOCH = 20  # training-curve points per epoch (History.steps), so that a one-epoch run draws a curve


def fit(
    model: nn.Module,
    train_data,
    val_data=None,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    optimizer: str = "auto",
    lr: float | None = None,
    momentum: float = 0.9,
    weight_decay: float | None = None,
    schedule: str = "onecycle",
    label_smoothing: float = 0.1,
    augment: bool | None = None,
    lesson: str = "default",
    profile: str | None = None,
    device: str | torch.device | None = None,
    precision: str = "auto",
    channels_last: bool | str = "auto",
    compile: bool = False,
    progress: bool = True,
    quiet: bool = False,
    checkpoint: bool | str | Path = False,
    name: str | None = None,
    retrain: bool = False,
    seed: int = 0,
    deterministic: bool = False,
) -> History:
    """Train `model` on `train_data`, evaluating on `val_data` after every epoch; returns a History.

    Data: an ImageData (utils.data.load_dataset), a DeviceLoader, or a DataLoader of (images, labels).
    An ImageData is batched on the device, with random crop + flip where its dataset suits them (CIFAR-10, not
    MNIST; your own images: 32x32 colour ones) unless augment says otherwise.

    Recipe: epochs and batch_size default to the run profile's budget for `lesson` (utils.profiles);
    optimizer "sgd" (Nesterov momentum; lr 0.1 per 128 images of batch, weight decay 5e-4), "adamw"
    (lr 3e-3, weight decay 0.05) or "auto" (SGD if the model has normalisation layers, else AdamW);
    schedule "onecycle", "cosine" or "constant", stepped every batch; label smoothing 0.1; no weight decay
    on biases and norm scales. batch_size is the total over all processes under torchrun.

    Speed: device auto-detected (CUDA, MPS, CPU) unless given. precision "auto" is bf16 autocast on CUDA; on a
    CPU with native bf16 (AVX-512 BF16, AMX, Arm BF16) it is bf16 when a probe of a few steps each way finds it
    faster, else float32 (no probe where the CPU lacks it); "fp32" or "bf16" forces either ("fp16": a GPU
    without fast bf16). Evaluation uses the same numerics; the choice and the probe's figures are in
    history.meta["precision"], and on a CPU one line of the output says what was chosen and why. channels_last
    "auto" is on for CUDA and for convolutional nets on a CPU (see runtime.choose_speed); compile=True wraps the
    model in torch.compile. deterministic=True trades speed for repeatable kernels.

    Output: a progress bar per epoch (a widget in notebooks); progress=False prints one line per epoch
    instead; quiet=True writes nothing at all, to stdout or stderr (warnings included).

    Checkpoints: checkpoint=True saves under $CNN_COURSE_CHECKPOINTS (default <repo>/checkpoints), or give
    a folder. A later call with the same starting weights, recipe, data and seed loads the finished run
    instead of training (retrain=True trains anyway), and an interrupted run resumes from its last epoch.
    (The key looks inside an ImageData or DeviceLoader; of any other loader it only sees the type and the
    length, so give runs on different DataLoaders different names.) The model ends on the device in eval mode.
    """
    with _silenced(quiet):
        world = distributed.setup(device)
        seed_everything(seed)
        recipe = default_recipe(
            lesson, profile, epochs=epochs, batch_size=batch_size,
            optimizer=choose_optimizer(model) if optimizer == "auto" else optimizer, lr=lr, momentum=momentum,
            weight_decay=weight_decay, schedule=schedule, label_smoothing=label_smoothing,
            augment=_augment(train_data, augment),
        )  # fmt: skip
        run = _set_up(model, train_data, val_data, recipe, world, precision=precision, channels_last=channels_last,
                      compile=compile, checkpoint=checkpoint, name=name, profile=profile, seed=seed,
                      silent=quiet or not world.is_main, progress=progress)  # fmt: skip
        if _resume(run, retrain):
            return run.history  # a finished run, loaded: nothing to train
        _get_ready(run, train_data, name, compile, precision)
        with deterministic_mode(deterministic, world.device):
            for epoch in range(run.start_epoch, recipe.epochs):
                _fit_epoch(run, epoch)
        world.barrier()  # no process leaves before rank 0 has written the checkpoint
        model.eval()
        return run.history


# ---------------------------------------------------------------------------------------------------------
# Set-up: what fit trains with


@dataclass
class Run:
    """One call of fit: the model, what trains it, and what it has done so far. _set_up builds it, _resume and
    _get_ready complete it, and every epoch reads it and adds to its history."""

    model: nn.Module
    trainer: nn.Module  # the model as trained: the model itself, or wrapped in DDP and/or torch.compile
    train_loader: Iterable  # batches for this process: a DeviceLoader, or the DataLoader given
    val_loader: Iterable | None
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    recipe: Recipe
    speed: Speed
    world: distributed.World
    history: History
    folder: RunFolder | None  # where the checkpoints go, or None
    silent: bool  # nothing printed: quiet=True, or a process other than rank 0
    progress: bool  # a progress bar per epoch, or else one printed line per epoch
    scaler: torch.amp.GradScaler | None = None  # loss scaling, for fp16 only
    start_epoch: int = 0  # how many epochs a resumed run had done

    def say(self, message: str) -> None:
        if not self.silent:
            print(message, file=sys.stdout, flush=True)


def _augment(train_data, augment: bool | None) -> bool:
    """Whether the training images are cropped and flipped: a DeviceLoader decides for itself (and must agree
    with `augment` if that is given), else `augment`, else default_augment's rule."""
    if not isinstance(train_data, DeviceLoader):
        return default_augment(train_data) if augment is None else augment
    augments = bool(train_data.crop_padding or train_data.flip)
    if augment is not None and augment != augments:
        does = "does" if augments else "does not"
        raise ValueError(f"augment={augment} but this DeviceLoader {does} augment; set crop_padding and "
                         "flip on the loader, or pass the ImageData.")  # fmt: skip
    return augments


def _set_up(model, train_data, val_data, recipe: Recipe, world, *, precision, channels_last, compile, checkpoint,
            name, profile, seed, silent, progress) -> Run:  # fmt: skip
    """The model on its device, the loaders, optimizer and schedule, a fresh History and the checkpoint folder."""
    speed = choose_speed(world.device, precision, channels_last, model)
    model.to(world.device)
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)

    folder = None
    if checkpoint:
        root = checkpoint_root() if checkpoint is True else Path(checkpoint)
        key = run_key(model, recipe.to_dict(), train_data, val_data, seed)  # before any weight changes
        folder = RunFolder(root, name or type(model).__name__.lower(), key)

    train_loader = make_loader(train_data, recipe.batch_size, train=True, augment=recipe.augment,
                               world=world, seed=seed)  # fmt: skip
    val_loader = None
    if val_data is not None:
        val_loader = make_loader(val_data, EVAL_BATCH_SIZE * world.size, train=False, augment=False, world=world)
    optimizer = build_optimizer(model, recipe)
    schedule = build_schedule(optimizer, recipe, len(train_loader))
    history = History(meta=_history_meta(model, train_data, val_data, recipe, speed, world, compile, profile, name))
    if folder is not None:
        history.meta["checkpoint"] = str(folder.path)
    return Run(model=model, trainer=model, train_loader=train_loader, val_loader=val_loader, optimizer=optimizer,
               schedule=schedule, recipe=recipe, speed=speed, world=world, history=history, folder=folder,
               silent=silent, progress=progress)  # fmt: skip


def _resume(run: Run, retrain: bool) -> bool:
    """Carry on from the run's last checkpoint, if it has one (and retrain is off): True when that run had
    finished, with its weights and history loaded; else False, after loading where it stopped, if anywhere."""
    saved = run.folder.load_last() if run.folder is not None and not retrain else None
    if saved is None:
        return False
    run.model.load_state_dict(saved["model"])
    run.history = History.from_dict(saved["history"])
    if saved["epoch"] >= run.recipe.epochs:
        run.history.loaded = True
        run.model.eval()
        run.say(f"loaded {run.folder.last} (finished run, {len(run.history)} epochs{_val_note(run.history)}); "
                "retrain=True (--retrain) trains again.")  # fmt: skip
        return True
    run.optimizer.load_state_dict(saved["optimizer"])
    run.schedule.load_state_dict(saved["schedule"])
    run.start_epoch = saved["epoch"]
    run.say(f"resuming {run.folder.path} after epoch {run.start_epoch}")
    return False


def _get_ready(run: Run, train_data, name: str | None, compile: bool, precision: str) -> None:
    """Just before the first epoch: check that the model takes the images, wrap it for DDP and torch.compile,
    and settle the numerics (on a CPU, precision "auto" may probe the model)."""
    images = getattr(train_data, "data", train_data)  # a DeviceLoader's ImageData
    if isinstance(images, ImageData):
        check_model_takes(run.model, images.image_shape, name)
    if run.world.size > 1:
        on_gpu = run.world.device.type == "cuda"
        run.trainer = DistributedDataParallel(run.model, device_ids=[run.world.device.index] if on_gpu else None)
    if compile:
        run.trainer = torch.compile(run.trainer)
    epochs_left = run.recipe.epochs - run.start_epoch
    run.speed, note = _settle_cpu_precision(precision, run.speed, run.model, run.train_loader, epochs_left, run.world)
    run.history.meta["precision"] = note
    run.history.meta["amp"] = None if run.speed.amp_dtype is None else run.speed.precision
    if run.world.device.type == "cpu":  # the choice, and why, once per fit (on a GPU it is always the same)
        run.say(_precision_line(note))
    if run.speed.needs_loss_scaling():
        run.scaler = torch.amp.GradScaler(run.world.device.type)


# ---------------------------------------------------------------------------------------------------------
# The epochs


def _fit_epoch(run: Run, epoch: int) -> None:
    """Train one epoch, evaluate, record it in the history, show it, and save a checkpoint."""
    begin_epoch(run.train_loader, epoch)
    bar = _progress_bar(run.train_loader, epoch, run.recipe.epochs) if run.progress and not run.silent else None
    record = {"epoch": epoch + 1}
    record |= train_one_epoch(run, bar)
    run.history.steps += [step | {"epoch": epoch + step["epoch"]} for step in record.pop("steps")]
    if run.val_loader is not None:
        result = evaluate(run.model, run.val_loader, label_smoothing=run.recipe.label_smoothing,
                          precision=run.speed.precision, channels_last=run.speed.channels_last,
                          world=run.world)  # fmt: skip
        record.update(val_loss=result.loss, val_acc=result.accuracy)
    run.history.append(record)
    if bar is not None:
        bar.set_postfix_str(_summary(record), refresh=True)
        bar.close()
    elif not run.progress:
        run.say(f"epoch {epoch + 1}/{run.recipe.epochs}  {_summary(record)}")
    if run.folder is not None and run.world.is_main:
        _save_checkpoint(run, record)


def train_one_epoch(run: Run, bar=None) -> dict:
    """One pass over the run's training batches; returns the epoch's record (loss, accuracy, lr, seconds,
    images/s) and its "steps": the training curve within the epoch, POINTS_PER_EPOCH points (or one per batch
    if fewer). `bar`, a tqdm progress bar, is moved on every batch."""
    run.trainer.train()
    device = run.world.device
    loss_sum = torch.zeros((), device=device)  # summed on the device: no waiting for the GPU every step
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    num_batches = len(run.train_loader)
    batches_per_point = max(1, num_batches // POINTS_PER_EPOCH)
    points, point_start = [], (loss_sum.clone(), correct.clone(), 0)  # device tensors until the epoch ends
    start = last_refresh = time.perf_counter()
    for batch, (images, labels) in enumerate(batches(run.train_loader, device, run.speed.channels_last), start=1):
        loss, logits = _training_step(run, images, labels)
        loss_sum += loss.detach().float() * len(labels)
        correct += (logits.detach().argmax(1) == labels).sum()
        count += len(labels)
        if batch % batches_per_point == 0 or batch == num_batches:  # this process's share of the batches
            points.append((batch, loss_sum - point_start[0], correct - point_start[1], count - point_start[2]))
            point_start = (loss_sum.clone(), correct.clone(), count)
        if bar is not None:
            bar.update()
            now = time.perf_counter()
            if now - last_refresh > PROGRESS_REFRESH_S:  # the only reads from the device inside the epoch
                last_refresh = now
                seen = count * run.world.size
                bar.set_postfix_str(f"loss {loss_sum.item() / count:.4f}  acc {100 * correct.item() / count:.2f}%"
                                    f"  {seen / (now - start):,.0f} img/s", refresh=False)  # fmt: skip
    totals = run.world.sum(torch.stack([loss_sum, correct.float(), torch.tensor(float(count), device=device)]))
    loss_sum, correct, count = totals.tolist()  # waits for the device: the epoch's time is now real
    seconds = time.perf_counter() - start
    if count == 0:
        raise ValueError("the training data gave no batches; check that it is not empty.")
    return {"train_loss": loss_sum / count, "train_acc": correct / count, "lr": run.schedule.get_last_lr()[0],
            "seconds": seconds, "images_per_s": count / seconds,
            "steps": _curve_points(points, num_batches)}  # fmt: skip


def _training_step(run: Run, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward, backward and one optimizer and schedule step on one batch; returns the loss and the logits."""
    with run.speed.autocast(run.world.device):
        logits = run.trainer(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=run.recipe.label_smoothing)
    run.optimizer.zero_grad(set_to_none=True)
    if run.scaler is None:
        loss.backward()
        run.optimizer.step()
    else:
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
    run.schedule.step()
    return loss, logits


def _curve_points(points, num_batches) -> list[dict]:
    """The epoch's curve: for each stretch of batches, the fraction of the epoch done at its end and its mean
    training loss and accuracy (read from the device in one go, now that the epoch is over)."""
    if not points:
        return []
    sums = torch.stack([torch.stack([loss, right.float()]) for _, loss, right, _ in points]).tolist()
    chunks = [[batch, loss, right, images] for (batch, *_, images), (loss, right) in zip(points, sums, strict=True)]
    if len(chunks) > 1 and chunks[-1][3] < chunks[-2][3] / 2:  # a short last batch alone would be a noisy point
        batch, loss, right, images = chunks.pop()
        chunks[-1] = [batch, chunks[-1][1] + loss, chunks[-1][2] + right, chunks[-1][3] + images]
    return [{"epoch": batch / num_batches, "train_loss": loss / images, "train_acc": right / images, "images": images}
            for batch, loss, right, images in chunks if images]  # fmt: skip


def _save_checkpoint(run: Run, record: dict) -> None:
    """last.pt (and best.pt when this epoch has the best validation accuracy so far) and history.json."""
    state = {"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
             "schedule": run.schedule.state_dict(), "epoch": record["epoch"],
             "history": run.history.to_dict()}  # fmt: skip
    best = record.get("val_acc") is not None and record["val_acc"] >= run.history.best_val_acc
    run.folder.save(state, run.history, is_best=best)


# ---------------------------------------------------------------------------------------------------------
# Numerics: bf16 or float32 on a CPU


def _settle_cpu_precision(asked: str, speed: Speed, model, loader, epochs_left: int, world) -> tuple[Speed, dict]:
    """precision="auto" on a CPU: bf16 if the CPU has it natively and a probe of this model finds it faster
    (on every process, under DDP), else float32. Returns the speed to train with and what was decided, and why."""
    note = {"asked": asked, "used": speed.precision, "probe": None}
    if world.device.type != "cpu":
        return speed, note
    if asked != "auto":
        return speed, note | {"reason": "forced by the caller"}
    if not runtime.cpu_has_native_bf16():
        return speed, note | {"reason": "this CPU has no native bf16"}
    data = getattr(loader, "data", None)
    if not isinstance(data, ImageData):
        return speed, note | {"reason": "the probe needs an ImageData or a DeviceLoader"}
    if len(loader) * epochs_left < runtime.MIN_BATCHES_TO_PROBE:
        return speed, note | {"reason": f"fewer than {runtime.MIN_BATCHES_TO_PROBE} batches to train"}
    probe_batch = min(loader.batch_size, runtime.PROBE_BATCH)
    probe = runtime.probe_cpu_precision(model, (probe_batch, *data.image_shape), speed.channels_last)
    faster = probe["bf16_images_per_s"] > runtime.PROBE_MARGIN * probe["fp32_images_per_s"]
    if world.sum(torch.tensor(float(faster))).item() == world.size:  # bf16 only where every process found it faster
        speed = Speed(amp_dtype=torch.bfloat16, channels_last=speed.channels_last)
    return speed, note | {"used": speed.precision, "probe": probe}


def _precision_line(note: dict) -> str:
    """One line for the progress output: the numerics fit trains with on a CPU, and why."""
    probe = note["probe"]
    if probe is None:
        return f"precision {note['used']}: {note['reason']}"
    return (f"precision {note['used']}: a probe of this model ran {probe['bf16_images_per_s']:,.0f} images/s in bf16 "
            f"against {probe['fp32_images_per_s']:,.0f} in fp32 (bf16 is used when at least "
            f"{runtime.PROBE_MARGIN - 1:.0%} faster)")  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# Output


@contextlib.contextmanager
def _silenced(quiet: bool):
    """quiet=True: nothing reaches stderr, warnings included (nbgrader zeroes a cell that writes there)."""
    if not quiet:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _progress_bar(loader, epoch: int, epochs: int):
    from tqdm.auto import tqdm  # a widget in Jupyter, text in a terminal

    return tqdm(total=len(loader), desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=True, dynamic_ncols=True)


def _summary(record: dict) -> str:
    text = f"loss {record['train_loss']:.4f}  acc {100 * record['train_acc']:.2f}%"
    if record.get("val_acc") is not None:
        text += f"  val loss {record['val_loss']:.4f}  val acc {100 * record['val_acc']:.2f}%"
    return text + f"  {record['images_per_s']:,.0f} img/s  {record['seconds']:.1f} s"


def _val_note(history: History) -> str:
    best = history.best_val_acc
    return f", best val acc {100 * best:.2f}%" if best is not None else ""


def _history_meta(model, train_data, val_data, recipe, speed, world, compiled, profile, name) -> dict:
    """The History's meta: plain JSON data saying what ran where."""
    return {
        "model": name or type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_data": _data_name(train_data),
        "train_images": count_images(train_data) or None,
        "val_data": _data_name(val_data) if val_data is not None else None,
        "recipe": recipe.to_dict(),
        "profile": profile or active_profile(),
        "device": str(world.device),
        "processes": world.size,
        "amp": str(speed.amp_dtype).replace("torch.", "") if speed.amp_dtype else None,
        "channels_last": speed.channels_last,
        "compile": compiled,
    }


def _data_name(data) -> str:
    data = getattr(data, "data", data)  # a DeviceLoader's ImageData
    if hasattr(data, "split") and hasattr(data, "name"):
        return f"{data.name} {data.split}" + (" (synthetic)" if data.synthetic else "")
    return type(data).__name__
