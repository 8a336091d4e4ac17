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
"""

import contextlib
import sys
import time
import warnings
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
    An ImageData is batched on the device; 32x32 colour images get random crop + flip unless augment=False.

    Recipe: epochs and batch_size default to the run profile's budget for `lesson` (utils.profiles);
    optimizer "sgd" (Nesterov momentum; lr 0.1 per 128 images of batch, weight decay 5e-4), "adamw"
    (lr 3e-3, weight decay 0.05) or "auto" (SGD if the model has normalisation layers, else AdamW);
    schedule "onecycle", "cosine" or "constant", stepped every batch; label smoothing 0.1; no weight decay
    on biases and norm scales. batch_size is the total over all processes under torchrun.

    Speed: device auto-detected (CUDA, MPS, CPU) unless given. precision "auto" is bf16 autocast on CUDA; on a
    CPU with native bf16 (AVX-512 BF16, AMX, Arm BF16) it is bf16 when a probe of a few steps each way finds it
    faster, else float32 (no probe where the CPU lacks it); "fp32" or "bf16" forces either ("fp16": a GPU
    without fast bf16). Evaluation uses the same numerics; the choice and the probe's figures are in
    history.meta["precision"]. channels_last "auto" is on for CUDA and for convolutional nets on a CPU (see
    runtime.choose_speed); compile=True wraps the model in torch.compile. deterministic=True trades speed for
    repeatable kernels.

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
        if isinstance(train_data, DeviceLoader):  # the loader decides; say so in the recipe
            augments = bool(train_data.crop_padding or train_data.flip)
            if augment is not None and augment != augments:
                does = "does" if augments else "does not"
                raise ValueError(f"augment={augment} but this DeviceLoader {does} augment; set crop_padding and "
                                 "flip on the loader, or pass the ImageData.")  # fmt: skip
            augment = augments
        if optimizer == "auto":
            optimizer = choose_optimizer(model)
        recipe = default_recipe(
            lesson, profile, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
            momentum=momentum, weight_decay=weight_decay, schedule=schedule, label_smoothing=label_smoothing,
            augment=default_augment(train_data) if augment is None else augment,
        )  # fmt: skip
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
        optimizer_ = build_optimizer(model, recipe)
        schedule_ = build_schedule(optimizer_, recipe, len(train_loader))
        history = History(meta=_describe(model, train_data, val_data, recipe, speed, world, compile, profile, name))
        if folder is not None:
            history.meta["checkpoint"] = str(folder.path)

        start_epoch = 0
        saved = folder.load_last() if folder is not None and not retrain else None
        if saved is not None:
            model.load_state_dict(saved["model"])
            history = History.from_dict(saved["history"])
            if saved["epoch"] >= recipe.epochs:
                history.loaded = True
                model.eval()
                _say(quiet or not world.is_main, f"loaded {folder.last} (finished run, {len(history)} epochs"
                     f"{_val_note(history)}); retrain=True (--retrain) trains again.")  # fmt: skip
                return history
            optimizer_.load_state_dict(saved["optimizer"])
            schedule_.load_state_dict(saved["schedule"])
            start_epoch = saved["epoch"]
            _say(quiet or not world.is_main, f"resuming {folder.path} after epoch {start_epoch}")

        images = getattr(train_data, "data", train_data)  # a DeviceLoader's ImageData
        if isinstance(images, ImageData):
            check_model_takes(model, images.image_shape, name)
        trainer = model
        if world.size > 1:
            on_gpu = world.device.type == "cuda"
            trainer = DistributedDataParallel(model, device_ids=[world.device.index] if on_gpu else None)
        if compile:
            trainer = torch.compile(trainer)
        speed, history.meta["precision"] = _settle_cpu_precision(precision, speed, model, train_loader,
                                                                 recipe.epochs - start_epoch, world)  # fmt: skip
        history.meta["amp"] = None if speed.amp_dtype is None else speed.precision
        if history.meta["precision"].get("probe"):
            _say(quiet or not world.is_main, _precision_line(history.meta["precision"]))
        scaler = torch.amp.GradScaler(world.device.type) if speed.needs_loss_scaling() else None
        show_bar = progress and not quiet and world.is_main

        with deterministic_mode(deterministic, world.device):
            for epoch in range(start_epoch, recipe.epochs):
                begin_epoch(train_loader, epoch)
                bar = _progress_bar(train_loader, epoch, recipe.epochs) if show_bar else None
                record = {"epoch": epoch + 1}
                record |= train_one_epoch(trainer, train_loader, optimizer_, schedule_, recipe, speed, world, scaler,
                                          bar)  # fmt: skip
                history.steps += [step | {"epoch": epoch + step["epoch"]} for step in record.pop("steps")]
                if val_loader is not None:
                    result = evaluate(model, val_loader, label_smoothing=recipe.label_smoothing,
                                      precision=speed.precision,
                                      channels_last=channels_last, world=world)  # fmt: skip
                    record.update(val_loss=result.loss, val_acc=result.accuracy)
                history.append(record)
                if bar is not None:
                    bar.set_postfix_str(_summary(record), refresh=True)
                    bar.close()
                elif not progress:
                    _say(quiet or not world.is_main, f"epoch {epoch + 1}/{recipe.epochs}  {_summary(record)}")
                if folder is not None and world.is_main:
                    state = {"model": model.state_dict(), "optimizer": optimizer_.state_dict(),
                             "schedule": schedule_.state_dict(), "epoch": epoch + 1,
                             "history": history.to_dict()}  # fmt: skip
                    best = record.get("val_acc") is not None and record["val_acc"] >= history.best_val_acc
                    folder.save(state, history, is_best=best)
        world.barrier()  # no process leaves before rank 0 has written the checkpoint
        model.eval()
        return history


def _settle_cpu_precision(asked: str, speed: Speed, model, loader, epochs_left: int, world) -> tuple[Speed, dict]:
    """precision="auto" on a CPU: bf16 if the CPU has it natively and a probe of this model finds it faster
    (on every process, under DDP), else float32. Returns the speed to train with and what was decided, and why."""
    note = {"asked": asked, "used": speed.precision, "probe": None}
    if asked != "auto" or world.device.type != "cpu":
        return speed, note
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
    probe = note["probe"]
    return (f"precision {note['used']}: a probe of this model ran {probe['bf16_images_per_s']:,.0f} images/s in bf16 "
            f"against {probe['fp32_images_per_s']:,.0f} in fp32 (bf16 is used when at least "
            f"{runtime.PROBE_MARGIN - 1:.0%} faster)")  # fmt: skip


def train_one_epoch(trainer, loader, optimizer, schedule, recipe: Recipe, speed: Speed, world, scaler, bar) -> dict:
    """One pass over `loader`; returns the epoch's record (loss, accuracy, lr, seconds, images/s) and its
    "steps": the training curve within the epoch, POINTS_PER_EPOCH points (or one per batch if fewer)."""
    trainer.train()
    device = world.device
    loss_sum = torch.zeros((), device=device)  # summed on the device: no waiting for the GPU every step
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    num_batches = len(loader)
    batches_per_point = max(1, num_batches // POINTS_PER_EPOCH)
    points, point_start = [], (loss_sum.clone(), correct.clone(), 0)  # device tensors until the epoch ends
    start = last_refresh = time.perf_counter()
    for batch, (images, labels) in enumerate(batches(loader, device, speed.channels_last), start=1):
        with speed.autocast(device):
            logits = trainer(images)
            loss = F.cross_entropy(logits, labels, label_smoothing=recipe.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        schedule.step()
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
                seen = count * world.size
                bar.set_postfix_str(f"loss {loss_sum.item() / count:.4f}  acc {100 * correct.item() / count:.2f}%"
                                    f"  {seen / (now - start):,.0f} img/s", refresh=False)  # fmt: skip
    totals = world.sum(torch.stack([loss_sum, correct.float(), torch.tensor(float(count), device=device)]))
    loss_sum, correct, count = totals.tolist()  # waits for the device: the epoch's time is now real
    seconds = time.perf_counter() - start
    if count == 0:
        raise ValueError("the training data gave no batches; check that it is not empty.")
    return {"train_loss": loss_sum / count, "train_acc": correct / count, "lr": schedule.get_last_lr()[0],
            "seconds": seconds, "images_per_s": count / seconds,
            "steps": _curve_points(points, num_batches)}  # fmt: skip


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


def _say(silent: bool, message: str) -> None:
    if not silent:
        print(message, file=sys.stdout, flush=True)


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


def _describe(model, train_data, val_data, recipe, speed, world, compiled, profile, name) -> dict:
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
