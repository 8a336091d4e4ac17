"""Pictures for the lessons: image grids, learned filters, feature maps, training curves, a confusion matrix,
and the comparison of architectures by accuracy, parameters and compute.

Every function returns a matplotlib Figure and draws nothing else: in a notebook a Figure that ends a cell
is shown once; elsewhere call fig.savefig("name.png"). The figures are made without pyplot, so they are
not kept alive by pyplot's list of open figures and are never shown twice. (Without pyplot nothing tells
the notebook how to draw a Figure, so importing this module does: see show_figures_in_notebooks.)

    from utils.viz import show_images, plot_filters, plot_feature_maps, plot_history
    show_images(train, n=16)                         # an ImageData: labels come with it
    plot_filters(model)                              # the first convolution's kernels
    plot_feature_maps(model, image, "layer1")        # what one layer makes of one image
    plot_history(history)                            # loss and accuracy curves
"""

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

from .modes import evaluating


def _grid(panels: int, ncols: int, panel_size: float = 1.3, title: str | None = None) -> tuple[Figure, list]:
    """A figure with exactly `panels` axes in rows of `ncols` (the unused cells of the last row removed)."""
    if panels < 1:
        raise ValueError("nothing to draw: ask for at least one panel.")
    ncols = max(1, min(ncols, panels))
    nrows = math.ceil(panels / ncols)
    fig = Figure(figsize=(panel_size * ncols, panel_size * nrows + (0.4 if title else 0)), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for extra in axes[panels:]:
        fig.delaxes(extra)
    for ax in axes[:panels]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig, axes[:panels]


def _as_picture(image: torch.Tensor):
    """[C, H, W] tensor -> an array imshow draws: uint8 as is, floats rescaled to [0, 1] (normalised inputs)."""
    image = image.detach().cpu()
    if image.dtype == torch.uint8:
        image = image.float() / 255
    else:
        image = image.float()
        low, high = image.min(), image.max()
        image = (image - low) / (high - low) if high > low else torch.zeros_like(image)
    if image.shape[0] == 1:
        return image[0].numpy(), "gray"
    return image.permute(1, 2, 0).numpy(), None  # [H, W, 3]


def _label_text(index: int, classes: Sequence[str] | None) -> str:
    return str(classes[index]) if classes is not None and index < len(classes) else str(index)


# ---------------------------------------------------------------------------------------------------------
# Images


def show_images(
    images,
    labels: Sequence[int] | torch.Tensor | None = None,
    *,
    classes: Sequence[str] | None = None,
    predictions: Sequence[int] | torch.Tensor | None = None,
    n: int = 16,
    ncols: int = 8,
    title: str | None = None,
) -> Figure:
    """A grid of the first `n` images with their labels (and predictions: green if right, red if wrong).

    `images`: an ImageData (labels and class names come with it) or a tensor [N, C, H, W]."""
    if hasattr(images, "images") and hasattr(images, "labels"):  # an ImageData
        labels = images.labels if labels is None else labels
        classes = images.classes if classes is None else classes
        if title is None and getattr(images, "synthetic", False):
            title = f"synthetic stand-in for {images.name}"
        images = images.images
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError("show_images takes an ImageData or a tensor of images shaped [N, C, H, W].")
    count = min(n, len(images))
    fig, axes = _grid(count, ncols, title=title)
    for i, ax in enumerate(axes):
        picture, cmap = _as_picture(images[i])
        ax.imshow(picture, cmap=cmap)
        if labels is not None:
            truth = int(labels[i])
            text, colour = _label_text(truth, classes), "black"
            if predictions is not None:
                guess = int(predictions[i])
                text = f"{_label_text(guess, classes)} ({text})" if guess != truth else text
                colour = "green" if guess == truth else "red"
            ax.set_title(text, fontsize=8, color=colour)
    return fig


def _find_layer(model: nn.Module, layer: str | nn.Module | None, kind: type = nn.Module) -> nn.Module:
    if isinstance(layer, nn.Module):
        return layer
    if layer is None:  # the first layer of the kind asked for, in definition order
        found = next((m for m in model.modules() if isinstance(m, kind)), None)
        if found is None:
            raise ValueError(f"the model has no {kind.__name__}; name the layer to use.")
        return found
    try:
        return model.get_submodule(layer)
    except AttributeError:
        names = [name for name, _ in model.named_modules() if name][:12]
        raise ValueError(f"the model has no layer {layer!r}; some of its layers: {', '.join(names)}.") from None


def plot_filters(
    model_or_weight, layer: str | nn.Module | None = None, *, max_filters: int = 64, ncols: int = 8
) -> Figure:
    """The kernels of a convolution (the model's first one unless `layer` names another), one panel each.

    Kernels with 3 input channels are drawn in colour, others in grey (input channel 0 only when there are
    more than one: deeper kernels have no natural picture)."""
    if isinstance(model_or_weight, nn.Module):
        conv = _find_layer(model_or_weight, layer, nn.Conv2d)
        weight = conv.weight
    else:
        weight = model_or_weight
    if weight.dim() != 4:
        raise ValueError(f"expected convolution weights [out, in, kH, kW], got shape {tuple(weight.shape)}.")
    weight = weight.detach().float().cpu()
    if weight.shape[1] != 3:
        weight = weight[:, :1]
    count = min(max_filters, weight.shape[0])
    title = f"{weight.shape[0]} filters, {weight.shape[2]}x{weight.shape[3]}" + (
        f" (first {count})" if count < weight.shape[0] else "")  # fmt: skip
    fig, axes = _grid(count, ncols, panel_size=1.0, title=title)
    for ax, kernel in zip(axes, weight, strict=False):
        picture, cmap = _as_picture(kernel)
        ax.imshow(picture, cmap=cmap, interpolation="nearest")
    return fig


def plot_feature_maps(
    model: nn.Module, image: torch.Tensor, layer: str | nn.Module, *, max_maps: int = 16, ncols: int = 8
) -> Figure:
    """The output channels of `layer` (a name like "layer1.0.conv1", or the module) for one image.

    `image`: one normalised image [C, H, W] or [1, C, H, W], as a loader yields it. A forward hook records
    the layer's output; the model runs in eval mode and is left as it was."""
    if image.dtype == torch.uint8:
        raise ValueError("feature maps need the image the model sees: normalise it first, e.g. take it from a "
                         "DeviceLoader batch (x[0]) rather than from data.images.")  # fmt: skip
    module = _find_layer(model, layer)
    captured = []
    handle = module.register_forward_hook(lambda _module, _inputs, output: captured.append(output.detach()))
    device = next(model.parameters()).device
    try:
        with evaluating(model):
            model(image.reshape(1, *image.shape[-3:]).to(device))
    finally:
        handle.remove()
    maps = captured[0][0]  # the first call's output, image 0: [C, H, W]
    if maps.dim() != 3:
        raise ValueError(f"layer {layer!r} gives {tuple(captured[0].shape)}, not feature maps; pick a conv layer.")
    count = min(max_maps, maps.shape[0])
    name = layer if isinstance(layer, str) else type(module).__name__
    fig, axes = _grid(count, ncols, title=f"{name}: {maps.shape[0]} maps of {maps.shape[1]}x{maps.shape[2]}")
    for i, ax in enumerate(axes):
        ax.imshow(maps[i].float().cpu().numpy(), cmap="viridis")
        ax.set_title(str(i), fontsize=7)
    return fig


# ---------------------------------------------------------------------------------------------------------
# Training and results


def plot_history(*histories, labels: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """Loss and accuracy of one or more Histories against the epoch: two panels. Training is drawn as a line
    through the points within epochs (History.steps), so a one-epoch run still shows a curve; validation as
    dashed points at the end of each epoch. Histories without steps draw training per epoch."""
    if not histories:
        raise ValueError("plot_history needs at least one History.")
    labels = labels or [h.meta.get("model", f"run {i + 1}") for i, h in enumerate(histories)]
    if len(labels) != len(histories):
        raise ValueError(f"got {len(histories)} histories but {len(labels)} labels.")
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for i, (history, label) in enumerate(zip(histories, labels, strict=True)):
        colour = f"C{i}"
        prefix = f"{label} " if len(histories) > 1 else ""
        train = history.steps or history.records  # both have "epoch", "train_loss" and "train_acc"
        curves = [("train", train, "-", "" if history.steps else ".")]
        if all(v is not None for v in history["val_loss"]):
            curves.append(("val", history.records, "--", "o"))
        for split, rows, style, marker in curves:
            if not rows:
                continue
            line = dict(linestyle=style, color=colour, marker=marker, markersize=4, label=f"{prefix}{split}")
            epochs = [row["epoch"] for row in rows]
            loss_ax.plot(epochs, [row[f"{split}_loss"] for row in rows], **line)
            acc_ax.plot(epochs, [100 * row[f"{split}_acc"] for row in rows], **line)
    smoothing = histories[0].meta.get("recipe", {}).get("label_smoothing")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy" + (f" (label smoothing {smoothing})" if smoothing else ""))
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)")
    for ax in (loss_ax, acc_ax):
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_confusion_matrix(
    predicted, labels, classes: Sequence[str] | None = None, *, normalize: bool = True, title: str | None = None
) -> Figure:
    """Row i, column j: how many images of class i were predicted as j (fractions of row i if normalize)."""
    predicted, labels = torch.as_tensor(predicted).long().cpu(), torch.as_tensor(labels).long().cpu()
    if predicted.shape != labels.shape:
        raise ValueError(f"predicted and labels differ in shape: {tuple(predicted.shape)} vs {tuple(labels.shape)}.")
    num_classes = len(classes) if classes is not None else int(max(predicted.max(), labels.max())) + 1
    counts = torch.bincount(labels * num_classes + predicted, minlength=num_classes**2).view(num_classes, num_classes)
    shown = counts.float() / counts.sum(1, keepdim=True).clamp(min=1) if normalize else counts.float()
    names = list(classes) if classes is not None else [str(i) for i in range(num_classes)]
    size = 1.5 + 0.5 * num_classes
    fig = Figure(figsize=(size, size), layout="constrained")
    ax = fig.subplots()
    ax.imshow(shown.numpy(), cmap="Blues", vmin=0)
    ax.set(xticks=range(num_classes), yticks=range(num_classes), xlabel="predicted", ylabel="true")
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(names, fontsize=8)
    threshold = shown.max().item() / 2
    for i in range(num_classes):
        for j in range(num_classes):
            value = shown[i, j].item()
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if value > threshold else "black")
    accuracy = counts.diag().sum().item() / max(1, counts.sum().item())
    ax.set_title(title or f"accuracy {100 * accuracy:.2f}%")
    return fig


def _field(result, name: str):
    return result[name] if isinstance(result, dict) else getattr(result, name)


# Where a point's label may go, as directions from the point: right-above first, then the other corners, then
# straight above, below, right and left. Each direction is tried near the point's edge, then farther out with
# a thin line back to the point; _label_points says what each place costs, and the first cheapest wins.
_LABEL_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1), (0, -1), (1, 0), (-1, 0))
_LABEL_DISTANCES = (1.0, 2.5, 4.0, 6.0, 9.0)  # times the gap between a point's edge and its label
_LABEL_GAP = 3.0  # points
_TEXT = TextToPath()  # measures a label in points, before anything is drawn


def _overlap(box, others) -> float:
    """The area of `box` (left, bottom, right, top) that lies on the boxes in `others`, summed."""
    return sum(max(0, min(box[2], o[2]) - max(box[0], o[0])) * max(0, min(box[3], o[3]) - max(box[1], o[1]))
               for o in others)  # fmt: skip


def _gap(box, x: float, y: float) -> float:
    """From (x, y) to the nearest part of `box`."""
    return math.hypot(max(box[0] - x, 0, x - box[2]), max(box[1] - y, 0, y - box[3]))


def _along(start, end) -> list[tuple]:
    """A segment as small boxes every 3 pixels, so that _overlap can tell how much of it a label covers."""
    (x0, y0), (x1, y1) = start, end
    steps = max(1, int(math.hypot(x1 - x0, y1 - y0) / 3))
    return [(x0 + (x1 - x0) * k / steps - 1.5, y0 + (y1 - y0) * k / steps - 1.5,
             x0 + (x1 - x0) * k / steps + 1.5, y0 + (y1 - y0) * k / steps + 1.5) for k in range(steps + 1)]  # fmt: skip


def _cross(a, b, c, d) -> bool:
    """Whether segments ab and cd cross (each pair of ends on opposite sides of the other segment)."""
    def side(p, q, r):
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
    return side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0


def _distance_to_segment(point, start, end) -> float:
    """From `point` to the nearest point of the segment from `start` to `end`."""
    (x, y), (x0, y0), (x1, y1) = point, start, end
    length2 = (x1 - x0) ** 2 + (y1 - y0) ** 2
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((x - x0) * (x1 - x0) + (y - y0) * (y1 - y0)) / length2))
    return math.hypot(x - (x0 + t * (x1 - x0)), y - (y0 + t * (y1 - y0)))


def _line_boxes(ax) -> list[tuple]:
    """The axes' lines (the Pareto front), as small boxes in pixels that a label should not cover."""
    boxes = []
    for line in ax.get_lines():
        xy = ax.transData.transform(line.get_xydata())
        for start, end in zip(xy[:-1], xy[1:], strict=True):
            boxes += _along(start, end)
    return boxes


def _label_points(ax, labelled: list[tuple[str, float, float, float]], fontsize: int = 8) -> None:
    """Write each name beside its (x, y) point of the given radius (in points), where it covers the least.

    Call it once the figure's layout is settled (fig.draw_without_rendering()): it reasons in pixels. A place
    costs the area it covers of other labels (twenty times: text on text is the worst), of other points (as
    much: it would hide them), of lines, and (a hundred times) of the space outside the axes. A place next to its
    point costs much more when another point is nearer; a place farther out, with a line back to the point,
    costs a little for being far, and is all but ruled out when its line crosses another or runs over a point.
    """
    to_pixels = ax.get_figure().dpi / 72
    frame = ax.get_window_extent()
    frame = (frame.x0, frame.y0, frame.x1, frame.y1)
    points = [(*ax.transData.transform((x, y)), radius * to_pixels) for _, x, y, radius in labelled]
    discs = [(px - r, py - r, px + r, py + r) for px, py, r in points]  # every point, as a box
    lines, labels, leaders = _line_boxes(ax), [], []  # leaders: the lines from far labels to their points
    for i in sorted(range(len(labelled)), key=lambda i: labelled[i][1:3]):
        name, x, y, radius = labelled[i]
        px, py, r = points[i]
        other_discs = discs[:i] + discs[i + 1 :]
        font = FontProperties(size=fontsize)
        width = _TEXT.get_text_width_height_descent(name, font, ismath=False)[0] * to_pixels
        height = _TEXT.get_text_width_height_descent("lp", font, ismath=False)[1] * to_pixels  # a line's height
        air = 1.5 * to_pixels  # kept clear on every side of a label
        best = None
        for distance in _LABEL_DISTANCES:
            reach = radius * 0.7 + _LABEL_GAP * distance  # points from the centre, along each axis
            for sx, sy in _LABEL_DIRECTIONS:
                left = px + sx * reach * to_pixels - (width if sx < 0 else width / 2 if sx == 0 else 0)
                bottom = py + sy * reach * to_pixels - (height if sy < 0 else height / 2 if sy == 0 else 0)
                box = (left - air, bottom - air, left + width + air, bottom + height + air)
                area = (width + 2 * air) * (height + 2 * air)
                cost = (20 * _overlap(box, labels) + 20 * _overlap(box, other_discs) + _overlap(box, lines)
                        + 100 * (area - _overlap(box, [frame])))  # fmt: skip
                cost += (distance - 1) * 0.1 * area
                leader = ((px, py), ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))  # drawn to the text's centre
                if distance > 1 and (any(_cross(*leader, *other) for other in leaders)
                                     or any(_distance_to_segment((qx, qy), *leader) < q + 2
                                            for qx, qy, q in points[:i] + points[i + 1 :])):  # fmt: skip
                    cost += 100 * area  # a line crossing another, or over another point, would name the wrong point
                own = _gap(box, px, py) - r
                if distance == 1 and any(_gap(box, qx, qy) - q < own for qx, qy, q in points[:i] + points[i + 1 :]):
                    cost += 3 * area  # with no line back to its point, it would seem to name a nearer one
                if best is None or cost < best[0]:
                    best = (cost, box, reach, sx, sy, distance, leader)
        _, box, reach, sx, sy, distance, leader = best
        labels.append(box)
        if distance > 1:
            leaders.append(leader)
            lines += _along(*leader)  # later labels keep off this line too
        line = {"arrowstyle": "-", "color": "0.5", "linewidth": 0.6, "shrinkA": 0, "shrinkB": radius * 0.7}
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(sx * reach, sy * reach), fontsize=fontsize,
                    ha={1: "left", 0: "center", -1: "right"}[sx], va={1: "bottom", 0: "center", -1: "top"}[sy],
                    arrowprops=line if distance > 1 else None, annotation_clip=False).set_in_layout(False)  # fmt: skip


def _marker_styles(count: int) -> list[tuple[str, str]]:
    """A (colour, marker) pair per point, all different: the ten default colours, then again as squares, ..."""
    markers = "osD^v"
    return [(f"C{i % 10}", markers[(i // 10) % len(markers)]) for i in range(count)]


def plot_comparison(
    results: Sequence, *, title: str | None = None, bubbles: bool = False, front: Callable | None = None
) -> Figure:
    """Accuracy against parameters and against MACs, log x axes, one labelled point per model: two panels.

    `results`: one entry per model, each a dict (or an object with attributes) with keys name, accuracy
    (a fraction or a percentage), params and macs. bubbles=True draws the points of the MACs panel with an
    area in proportion to the parameters (as Canziani et al. 2016 did). `front`, a function that takes
    {name: (cost, accuracy)} and returns the names on the Pareto front, draws that front in each panel."""
    if not results:
        raise ValueError("plot_comparison needs at least one result (name, accuracy, params, macs).")
    try:
        rows = [(str(_field(r, "name")), float(_field(r, "accuracy")), float(_field(r, "params")),
                 float(_field(r, "macs"))) for r in results]  # fmt: skip
    except (KeyError, AttributeError) as missing:
        raise ValueError(f"each result needs name, accuracy, params and macs; one lacks {missing}.") from None
    scale = 1.0 if max(row[1] for row in rows) > 1.0 else 100.0  # fractions are drawn as percentages
    largest = max(row[2] for row in rows)
    styles = _marker_styles(len(rows))
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    to_label = []
    for ax, column, xlabel in ((axes[0], 2, "parameters"), (axes[1], 3, "multiply-accumulates per image")):
        sized = bubbles and column == 3
        ax.set_xscale("log")
        ax.margins(x=0.14 if sized else 0.08, y=0.12)  # room for the outermost labels, and for bubbles
        areas = [40 + 1500 * row[2] / largest if sized else 36 for row in rows]  # in points squared
        for row, area, (colour, marker) in zip(rows, areas, styles, strict=True):
            ax.scatter(row[column], scale * row[1], s=area, color=colour, marker=marker,
                       alpha=0.6 if sized else 1.0, zorder=3)  # fmt: skip
        # A point's radius for the labels: sqrt(s / pi), 13% more than the drawn sqrt(s) / 2 (scatter's s is the
        # square of the marker's width), which keeps labels and lines a little clear of the marker's edge.
        to_label.append((ax, [(row[0], row[column], scale * row[1], (area / math.pi) ** 0.5)
                              for row, area in zip(rows, areas, strict=True)]))  # fmt: skip
        if front is not None:
            names = front({row[0]: (row[column], row[1]) for row in rows})
            points = sorted((row[column], scale * row[1]) for row in rows if row[0] in names)
            xs, ys = [x for x, _ in points], [y for _, y in points]
            ax.plot(xs, ys, color="0.4", linestyle="--", linewidth=1, zorder=2, label="Pareto front")
        ax.set(xlabel=f"{xlabel} (log scale)" + ("; area: parameters" if sized else ""))
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("accuracy (%)")
    if title:
        fig.suptitle(title)
    if front is not None:  # one legend above the panels, where it covers no point and no label
        fig.legend(handles=axes[0].get_lines(), loc="outside upper right", fontsize=8)
    fig.draw_without_rendering()  # settle the layout, so that labels are placed where they will be drawn
    for ax, labelled in to_label:
        _label_points(ax, labelled)
    return fig


# ---------------------------------------------------------------------------------------------------------
# Display


def show_figures_in_notebooks() -> None:
    """Let a notebook draw a Figure that ends a cell, as a PNG.

    IPython learns to draw Figures when pyplot starts its inline backend (or after `%matplotlib inline`).
    Our figures never touch pyplot, so without this a cell ending in plot_history(...) would show only the
    text "<Figure size 800x300 with 2 Axes>". Outside IPython this does nothing."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
    except ImportError:  # plain Python: figures are saved with savefig, never displayed
        return
    shell = get_ipython()
    if shell is not None:
        png = shell.display_formatter.formatters["image/png"]
        png.for_type(Figure, lambda fig: print_figure(fig, "png", bbox_inches="tight"))


show_figures_in_notebooks()
