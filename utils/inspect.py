"""Look inside a model: parameter counts, multiply-accumulates, a layer-by-layer table, receptive fields, speed.

    from utils.inspect import count_params, count_macs, layer_table, receptive_field, images_per_second
    count_params(model)                        # ParamCount(total=..., trainable=...)
    count_macs(model, (1, 3, 224, 224))        # multiply-accumulates of one forward pass
    images_per_second(model, (32, 3, 224, 224))  # measured forward speed on the model's device
    print(layer_table(model, (1, 3, 32, 32)))  # output shape and parameters of every layer
    receptive_field([nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3)])  # ReceptiveField(size=5, jump=1)

The layer table is written here in a few dozen lines rather than taken from torchinfo: one dependency
fewer, and a learner can read exactly how it works (a forward hook on every leaf module).
"""

import time
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

# course_helper: an exercise that asks for one of these computations refuses answers that call the helper.
from .checks import course_helper
from .modes import evaluating


class ParamCount(NamedTuple):
    total: int
    trainable: int


@course_helper
def count_params(model: nn.Module) -> ParamCount:
    """Number of parameters in `model`, all of them and those with requires_grad (shared ones once)."""
    params = list(model.parameters())  # parameters() already yields a shared tensor only once
    return ParamCount(
        total=sum(p.numel() for p in params),
        trainable=sum(p.numel() for p in params if p.requires_grad),
    )


def _example_input(model: nn.Module, input_size: Sequence[int]) -> torch.Tensor:
    if (
        not isinstance(input_size, Sequence)
        or len(input_size) < 2
        or not all(isinstance(n, int) and n > 0 for n in input_size)
    ):
        raise ValueError(
            "input_size must be a full input shape with the batch first, "
            f"e.g. (1, 3, 224, 224); got {input_size}."
        )
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    return torch.randn(*input_size, device=device, dtype=dtype)


@course_helper
def count_macs(model: nn.Module, input_size: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass on a random input of shape `input_size` (batch first).

    torch's FlopCounterMode counts 2 FLOPs per multiply-accumulate of every convolution and matrix
    product (and nothing for BatchNorm, activations, pooling or additions), so FLOPs / 2 is the figure
    torchvision publishes as GFLOPS / `_ops`, e.g. 1.814 G for resnet18 at (1, 3, 224, 224).
    Forward only, in eval mode: FlopCounterMode overcounts the backward of grouped convolutions.
    """
    x = _example_input(model, input_size)
    counter = FlopCounterMode(display=False)
    with evaluating(model), counter:
        model(x)
    return counter.get_total_flops() // 2


def _synchronize(device: torch.device) -> None:
    """Wait until the device has finished its queued work (GPUs run asynchronously; a CPU does not)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def images_per_second(model: nn.Module, input_size: Sequence[int], repeats: int = 3) -> float:
    """Measured inference speed: images per second of forward passes (eval mode, no autograd) on batches of
    shape `input_size`, on the device the model's parameters are on. One untimed pass first (it allocates
    memory and picks kernels), then the fastest of `repeats` timed passes, so that a busy moment of a shared
    machine counts as little as possible."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    x = _example_input(model, input_size)
    fastest = float("inf")
    with evaluating(model):
        for attempt in range(repeats + 1):
            _synchronize(x.device)
            start = time.perf_counter()
            model(x)
            _synchronize(x.device)
            if attempt:  # attempt 0 is the warm-up
                fastest = min(fastest, time.perf_counter() - start)
    return input_size[0] / fastest


class LayerRow(NamedTuple):
    name: str  # the module's qualified name inside the model, e.g. "features.denseblock1.denselayer1.conv1"
    kind: str  # its class name, e.g. "Conv2d"
    output_shape: tuple  # e.g. (1, 64, 56, 56); a tuple of shapes for modules that return several tensors
    params: int  # its own parameters, counted at its first call only, so the column sums to the total


class LayerTable(list):
    """A list of LayerRow that prints as an aligned text table (print(table), or show it in a notebook)."""

    def __str__(self) -> str:
        header = ("layer", "type", "output shape", "params")
        lines = [(r.name, r.kind, _format_shape(r.output_shape), f"{r.params:,}") for r in self]
        total = sum(r.params for r in self)
        footer = ("total", "", "", f"{total:,}")
        widths = [max(len(line[i]) for line in [header, *lines, footer]) for i in range(4)]

        def fmt(line: tuple[str, ...]) -> str:
            left = [cell.ljust(width) for cell, width in zip(line[:3], widths[:3], strict=True)]
            return "  ".join([*left, line[3].rjust(widths[3])])

        rule = "-" * (sum(widths) + 2 * 3)  # three two-space gaps between four columns
        return "\n".join([fmt(header), rule, *map(fmt, lines), rule, fmt(footer)])

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython / Jupyter display
        printer.text(str(self))


def _format_shape(shape) -> str:
    if isinstance(shape, tuple) and shape and isinstance(shape[0], tuple):
        return ", ".join(_format_shape(s) for s in shape)
    return "(" + ", ".join(str(n) for n in shape) + ")" if isinstance(shape, tuple) else str(shape)


def _output_shape(output) -> tuple:
    if isinstance(output, torch.Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):  # includes named tuples such as GoogLeNet's training outputs
        return tuple(_output_shape(o) for o in output)
    return (type(output).__name__,)


@course_helper
def layer_table(model: nn.Module, input_size: Sequence[int]) -> LayerTable:
    """Run one forward pass (eval mode, no autograd) and record, for every leaf module in call order,
    its output shape and its own parameter count. A module called twice gets two rows."""
    x = _example_input(model, input_size)
    table = LayerTable()
    seen: set[int] = set()

    def record(name: str):
        def hook(module: nn.Module, inputs, output) -> None:
            first_call = id(module) not in seen
            seen.add(id(module))
            params = sum(p.numel() for p in module.parameters(recurse=False)) if first_call else 0
            table.append(LayerRow(name, type(module).__name__, _output_shape(output), params))

        return hook

    # Leaves, plus any container that holds parameters of its own (e.g. a learned scale on a block).
    watched = [
        (name, m)
        for name, m in model.named_modules()
        if name and (not any(True for _ in m.children()) or any(True for _ in m.parameters(recurse=False)))
    ]
    handles = [m.register_forward_hook(record(name)) for name, m in watched]
    try:
        with evaluating(model):
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return table


class ReceptiveField(NamedTuple):
    size: int  # how many input pixels (along one axis) one output unit sees
    jump: int  # the distance in input pixels between neighbouring output units: the product of the strides


# Modules that act on each position separately and so leave the receptive field as it is.
_POINTWISE = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid,
    nn.BatchNorm2d, nn.Dropout, nn.Dropout2d, nn.Identity, nn.LocalResponseNorm,
)


def _one_axis(value, what: str, layer) -> int:
    if isinstance(value, int):
        return value
    if len(set(value)) != 1:
        raise ValueError(
            f"{layer} has a different {what} along each axis; pass (kernel, stride, dilation) for one axis."
        )
    return value[0]


def _kernel_stride_dilation(layer) -> Iterable[tuple[int, int, int]]:
    if isinstance(layer, nn.Sequential):
        for sub in layer:
            yield from _kernel_stride_dilation(sub)
    elif isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        kernel = _one_axis(layer.kernel_size, "kernel size", layer)
        stride = _one_axis(layer.stride if layer.stride is not None else layer.kernel_size, "stride", layer)
        dilation = _one_axis(getattr(layer, "dilation", 1), "dilation", layer)  # AvgPool2d has none
        yield kernel, stride, dilation
    elif isinstance(layer, _POINTWISE):
        return
    elif isinstance(layer, (tuple, list)) and len(layer) in (2, 3) and all(isinstance(n, int) for n in layer):
        kernel, stride, dilation = (*layer, 1) if len(layer) == 2 else layer
        yield kernel, stride, dilation
    else:
        raise ValueError(
            f"receptive_field cannot use {layer!r}: give Conv2d / MaxPool2d / AvgPool2d modules "
            "(pointwise ones like ReLU or BatchNorm2d are skipped) or (kernel, stride, dilation) tuples."
        )


@course_helper
def receptive_field(layers: Iterable) -> ReceptiveField:
    """Receptive field of a stack of conv / pool layers, applied in order, along one axis.

    Each layer is an nn.Module (Conv2d, MaxPool2d, AvgPool2d, an nn.Sequential of them; pointwise ones
    are skipped) or a (kernel, stride[, dilation]) tuple. A layer with kernel k and dilation d spans
    d*(k-1)+1 of its inputs, and its inputs are `jump` input pixels apart, so it widens the field by
    d*(k-1)*jump; its stride then multiplies the jump. Padding changes neither.
    """
    size, jump = 1, 1
    for layer in layers:
        for kernel, stride, dilation in _kernel_stride_dilation(layer):
            size += dilation * (kernel - 1) * jump
            jump *= stride
    return ReceptiveField(size=size, jump=jump)
