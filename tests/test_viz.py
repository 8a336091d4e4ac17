"""utils.viz: each function returns a Figure with the expected panels, showing what it says it shows.

The expected pictures are computed here with plain torch (a convolution by F.conv2d, a confusion matrix
counted by hand), not read back from utils.viz.
"""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.figure import Figure

from utils.data import synthetic_dataset
from utils.models import get_model
from utils.training import History
from utils.viz import (
    plot_comparison,
    plot_confusion_matrix,
    plot_feature_maps,
    plot_filters,
    plot_history,
    show_figures_in_notebooks,
    show_images,
)


def rescaled(array: torch.Tensor) -> torch.Tensor:
    """Min-max to [0, 1]: how a float picture is meant to be drawn."""
    return (array - array.min()) / (array.max() - array.min())


def test_show_images_titles_each_image_with_its_class():
    data = synthetic_dataset("cifar10", "test", size=12)
    fig = show_images(data, n=10, ncols=4)
    assert isinstance(fig, Figure) and len(fig.axes) == 10  # 3 rows of 4, the last two cells removed
    assert [ax.get_title() for ax in fig.axes] == [data.classes[int(label)] for label in data.labels[:10]]
    assert "synthetic" in fig._suptitle.get_text()
    first = torch.from_numpy(fig.axes[0].get_images()[0].get_array().data)  # [H, W, 3] in [0, 1]
    torch.testing.assert_close(first, data.images[0].permute(1, 2, 0).float() / 255)


def test_show_images_marks_wrong_predictions():
    images = torch.rand(3, 1, 8, 8)
    fig = show_images(images, torch.tensor([0, 1, 2]), predictions=torch.tensor([0, 2, 2]), classes=["a", "b", "c"])
    assert [ax.get_title() for ax in fig.axes] == ["a", "c (b)", "c"]
    assert [ax.title.get_color() for ax in fig.axes] == ["green", "red", "green"]
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        show_images(torch.rand(8, 8))


def test_plot_filters_draws_each_kernel_of_the_first_convolution():
    lenet = get_model("lenet5")
    fig = plot_filters(lenet)
    assert len(fig.axes) == 6  # LeNet-5's C1 has 6 maps
    drawn = torch.from_numpy(fig.axes[2].get_images()[0].get_array().data)
    torch.testing.assert_close(drawn, rescaled(lenet.c1.weight[2, 0].detach()))
    assert len(plot_filters(get_model("resnet20")).axes) == 16
    colour = plot_filters(torch.randn(40, 3, 3, 3), max_filters=32)
    assert len(colour.axes) == 32 and colour.axes[0].get_images()[0].get_array().shape == (3, 3, 3)


def test_plot_feature_maps_shows_the_layer_output():
    torch.manual_seed(0)
    lenet = get_model("lenet5").train()
    image = torch.randn(1, 32, 32)
    fig = plot_feature_maps(lenet, image, "c1")
    assert len(fig.axes) == 6
    with torch.no_grad():
        expected = F.conv2d(image[None], lenet.c1.weight, lenet.c1.bias)[0]  # [6, 28, 28], by hand
    for channel in (0, 5):
        drawn = torch.from_numpy(fig.axes[channel].get_images()[0].get_array().data)
        torch.testing.assert_close(drawn, expected[channel])
    assert lenet.training  # left as it was
    assert len(plot_feature_maps(get_model("resnet20"), torch.randn(3, 32, 32), "layer2", max_maps=10).axes) == 10
    with pytest.raises(ValueError, match="no layer 'c9'"):
        plot_feature_maps(lenet, image, "c9")
    with pytest.raises(ValueError, match="normalise"):
        plot_feature_maps(lenet, torch.zeros(1, 32, 32, dtype=torch.uint8), "c1")


def make_history(accuracies: list[float], model: str) -> History:
    records = [
        {"epoch": i + 1, "train_loss": 2.0 / (i + 1), "train_acc": a - 0.01, "val_loss": 2.1 / (i + 1), "val_acc": a,
         "lr": 0.1, "seconds": 1.0, "images_per_s": 100.0}
        for i, a in enumerate(accuracies)
    ]  # fmt: skip
    return History(records=records, meta={"model": model})


def test_plot_history_draws_loss_and_accuracy_for_each_run():
    fig = plot_history(make_history([0.5, 0.7, 0.8], "plain"), make_history([0.6, 0.8, 0.9], "residual"))
    loss_ax, acc_ax = fig.axes
    assert len(fig.axes) == 2
    assert [line.get_label() for line in acc_ax.get_lines()] == [
        "plain train", "plain val", "residual train", "residual val"]  # fmt: skip
    residual_val = acc_ax.get_lines()[3]
    assert list(residual_val.get_ydata()) == pytest.approx([60, 80, 90])  # percent
    assert list(loss_ax.get_lines()[0].get_xdata()) == [1, 2, 3]


def test_plot_history_draws_training_within_epochs_from_the_steps():
    history = make_history([0.5, 0.7], "net")
    history.steps = [{"epoch": e / 4, "train_loss": 2.0 - e / 4, "train_acc": e / 8, "images": 10}
                     for e in range(1, 9)]  # four points per epoch, two epochs
    loss_ax, acc_ax = plot_history(history).axes
    train, val = loss_ax.get_lines()
    assert list(train.get_xdata()) == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert list(acc_ax.get_lines()[0].get_ydata()) == pytest.approx([12.5 * e for e in range(1, 9)])
    assert list(val.get_xdata()) == [1, 2]  # validation stays once per epoch


def test_plot_confusion_matrix_counts_by_hand():
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    predicted = torch.tensor([0, 1, 1, 1, 2, 0])
    fig = plot_confusion_matrix(predicted, labels, ["cat", "dog", "eel"], normalize=False)
    assert len(fig.axes) == 1
    # rows: true class; columns: predicted. cat: 1 right, 1 as dog; dog: 2 right, 1 as eel; eel: 1 as cat.
    by_hand = [[1, 1, 0], [0, 2, 1], [1, 0, 0]]
    assert fig.axes[0].get_images()[0].get_array().tolist() == by_hand
    assert fig.axes[0].get_title() == "accuracy 50.00%"  # 3 of 6
    rows = plot_confusion_matrix(predicted, labels, normalize=True).axes[0].get_images()[0].get_array()
    assert rows.sum(axis=1).tolist() == pytest.approx([1, 1, 1])


def test_plot_comparison_puts_one_labelled_point_per_model_on_log_axes():
    results = [
        {"name": "lenet5", "accuracy": 0.99, "params": 61_706, "macs": 416_520},
        {"name": "resnet20", "accuracy": 0.92, "params": 269_722, "macs": 40_810_000},
        {"name": "densenet_bc100_k12", "accuracy": 0.95, "params": 769_162, "macs": 292_000_000},
    ]
    fig = plot_comparison(results)
    assert len(fig.axes) == 2
    for ax, key in zip(fig.axes, ("params", "macs"), strict=True):
        assert ax.get_xscale() == "log"
        assert [text.get_text() for text in ax.texts] == [r["name"] for r in results]
        points = [tuple(collection.get_offsets()[0]) for collection in ax.collections]
        assert points == [(r[key], pytest.approx(100 * r["accuracy"])) for r in results]
    with pytest.raises(ValueError, match="macs"):
        plot_comparison([{"name": "x", "accuracy": 0.5, "params": 10}])


def test_plot_comparison_draws_bubbles_by_parameters_and_the_front_it_is_given():
    results = [
        {"name": "small", "accuracy": 60.0, "params": 1_000, "macs": 10},
        {"name": "big", "accuracy": 70.0, "params": 4_000, "macs": 1_000},
        {"name": "worse", "accuracy": 50.0, "params": 2_000, "macs": 100},
    ]
    asked = []

    def front(points):  # a stand-in for the lesson's pareto_front: records what it was given
        asked.append(points)
        return ["small", "big"]

    fig = plot_comparison(results, bubbles=True, front=front)
    assert asked == [{"small": (1_000, 60.0), "big": (4_000, 70.0), "worse": (2_000, 50.0)},
                     {"small": (10, 60.0), "big": (1_000, 70.0), "worse": (100, 50.0)}]
    params_panel, macs_panel = fig.axes
    assert [c.get_sizes()[0] for c in params_panel.collections] == [36, 36, 36]  # plain points
    sizes = [c.get_sizes()[0] for c in macs_panel.collections]
    assert sizes[1] - 40 == pytest.approx(4 * (sizes[0] - 40))  # area above the minimum in proportion to params
    for ax, xs in ((params_panel, [1_000, 4_000]), (macs_panel, [10, 1_000])):
        (line,) = ax.get_lines()
        assert list(line.get_xdata()) == xs and list(line.get_ydata()) == [60.0, 70.0]


def _label_boxes(fig):
    """Each panel's labels as {name: window extent}, once drawn."""
    fig.draw_without_rendering()
    from matplotlib.text import Text

    return [{text.get_text(): Text.get_window_extent(text) for text in ax.texts} for ax in fig.axes]  # no line


def test_plot_comparison_moves_a_label_that_would_cover_another():
    twins = [{"name": name, "accuracy": 0.5, "params": 1_000, "macs": 10} for name in ("alpha", "beta")]
    twins += [{"name": "alone", "accuracy": 0.7, "params": 30_000, "macs": 300},
              {"name": "corner", "accuracy": 0.9, "params": 1_000_000, "macs": 10_000}]  # fmt: skip
    fig = plot_comparison(twins)
    for ax, boxes in zip(fig.axes, _label_boxes(fig), strict=True):
        assert not boxes["alpha"].overlaps(boxes["beta"])  # same point: the second label goes elsewhere
        alone = next(text for text in ax.texts if text.get_text() == "alone")
        dx, dy = alone.xyann
        assert dx > 0 and dy > 0 and alone.arrow_patch is None  # nothing near it: right and above, no line


# torchvision's documented ImageNet figures for lesson 08's eleven networks (name, top-1 %, parameters, GFLOPS,
# which torchvision counts as multiply-accumulates): a crowded, realistic chart.
IMAGENET = [("AlexNet", 56.522, 61_100_840, 0.71), ("VGG-16", 71.592, 138_357_544, 15.47),
            ("GoogLeNet", 69.778, 6_624_904, 1.5), ("Inception v3", 77.294, 27_161_264, 5.71),
            ("ResNet-18", 69.758, 11_689_512, 1.81), ("ResNet-50", 76.13, 25_557_032, 4.09),
            ("ResNet-152", 78.312, 60_192_808, 11.51), ("Wide ResNet-50-2", 78.468, 68_883_240, 11.4),
            ("ResNeXt-50 32x4d", 77.618, 25_028_904, 4.23), ("DenseNet-121", 74.434, 7_978_856, 2.83),
            ("DenseNet-201", 76.896, 20_013_928, 4.29)]  # fmt: skip


def _near_segment(point, a, b, radius) -> bool:
    """Whether a disc of `radius` around `point` touches segment ab (sampled finely rather than solved)."""
    return any(math.dist(point, (a[0] + (b[0] - a[0]) * k / 200, a[1] + (b[1] - a[1]) * k / 200)) < radius
               for k in range(201))  # fmt: skip


# Lesson 08's CIFAR-10 race as one cpu-profile run left it (name, accuracy, parameters, MACs), in its order.
RACE = [("LeNet-5", 26.5, 62_006, 0.7e6), ("AlexNet", 19.8, 20_326_218, 53.4e6),
        ("VGG-11-BN", 36.8, 9_493_770, 153.0e6), ("GoogLeNet (small)", 43.9, 351_506, 51.1e6),
        ("ResNet-20", 33.3, 269_722, 40.6e6), ("ResNet-56", 38.9, 853_018, 125.5e6),
        ("pre-act ResNet-20", 30.6, 269_722, 40.6e6), ("ResNeXt (small)", 33.5, 137_898, 26.4e6),
        ("DenseNet-BC-40", 32.7, 176_122, 72.4e6), ("your BudgetNet", 35.4, 78_042, 12.5e6)]  # fmt: skip


@pytest.mark.parametrize("chart", ["imagenet", "race"])
def test_plot_comparison_keeps_labels_apart_inside_the_axes_and_tells_models_apart(chart):
    if chart == "imagenet":
        rows = [(name, accuracy, params, gmacs * 1e9) for name, accuracy, params, gmacs in IMAGENET]
    else:
        rows = RACE
    results = [{"name": n, "accuracy": a, "params": p, "macs": m} for n, a, p, m in rows]

    def front(points):  # the names no other point beats on both cost and accuracy, as lesson 08 draws them
        return [name for name, (cost, accuracy) in points.items()
                if not any(c <= cost and a >= accuracy and (c, a) != (cost, accuracy) for c, a in points.values())]

    fig = plot_comparison(results, bubbles=chart == "imagenet", front=front, title=f"lesson 08's {chart} chart")
    for ax, boxes in zip(fig.axes, _label_boxes(fig), strict=True):
        frame = ax.get_window_extent()
        for name, box in boxes.items():
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, name
        crossings = [(a, b) for a in boxes for b in boxes if a < b and boxes[a].overlaps(boxes[b])]
        assert crossings == []
        styles = {(tuple(c.get_facecolor()[0][:3]), c.get_paths()[0].vertices.round(3).tobytes())
                  for c in ax.collections}  # fmt: skip
        assert len(styles) == len(rows)  # ImageNet's eleven models are more than the ten default colours
        lines = []  # a far label's line, from its point to the centre of its text (where matplotlib draws it)
        for text in ax.texts:
            if text.arrow_patch is not None:
                centre = boxes[text.get_text()].get_points().mean(axis=0)
                lines.append((tuple(ax.transData.transform(text.xy)), tuple(centre)))

        def turn(p, q, r):  # >0 when r lies left of the line from p to q
            return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

        # Each point as a disc of radius sqrt(s / pi): 13% more than matplotlib's drawn sqrt(s) / 2, so stricter.
        discs = [(ax.transData.transform(offsets[0]), (collection.get_sizes()[0] / math.pi) ** 0.5 * fig.dpi / 72)
                 for collection in ax.collections for offsets in [collection.get_offsets()]]  # fmt: skip
        for a, b in lines:  # no line runs over a point other than its own (b is the text's end of the line)
            over = [centre for centre, radius in discs if _near_segment(centre, a, b, radius) and tuple(centre) != a]
            assert over == [], "a label's line runs over another point"
        for k, (a, b) in enumerate(lines):
            for c, d in lines[k + 1 :]:
                assert not (turn(a, b, c) * turn(a, b, d) < 0 and turn(c, d, a) * turn(c, d, b) < 0), "lines cross"


def test_figures_are_not_kept_by_pyplot():
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    show_images(torch.rand(2, 3, 4, 4))
    plot_filters(nn.Conv2d(3, 4, 3))
    assert len(plt.get_fignums()) == before


def test_a_figure_ending_a_notebook_cell_is_drawn_without_matplotlib_magic():
    """IPython's own display machinery (what a notebook cell's last value goes through), with no %matplotlib."""
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.clear_instance()  # a fresh shell: no formatter left by an earlier test
    shell = InteractiveShell.instance()
    try:
        figure = plot_confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
        before, _ = shell.display_formatter.format(figure)
        show_figures_in_notebooks()
        after, _ = shell.display_formatter.format(figure)
    finally:
        InteractiveShell.clear_instance()
    assert "image/png" not in before  # the trap this guards against, still there in plain IPython
    assert after["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
