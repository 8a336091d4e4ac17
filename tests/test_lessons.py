"""Every lesson: the released notebook is clean, and the real grader gives the solution full marks, the
untouched release zero, and known shortcut answers nothing, with a message that says why. (nbval runs the
solution notebooks themselves; lessons/ being in sync with solutions/ is checked by `autograde release
--check` in the test command.)"""

import json
import subprocess
import sys

import pytest

from utils.settings import REPO_ROOT

SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("*/*.ipynb"))
LESSON_IDS = [path.parent.name for path in SOLUTIONS]


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _released(solution):
    return REPO_ROOT / "lessons" / solution.relative_to(REPO_ROOT / "solutions")


@pytest.fixture(scope="module", autouse=True)
def decoded_datasets():
    """Grading kernels read the cache of decoded datasets but may not write it (their sandbox): fill it once
    here, as a run of the lessons does, so that no grading kernel decodes CIFAR-10's images again."""
    from utils.data import load_dataset

    for split in ("train", "test"):
        load_dataset("cifar10", split)


def _grade(notebook) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "autograde", "check", str(notebook), "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_there_are_lessons():
    assert SOLUTIONS, "no solutions/NN_name/NN_name.ipynb found"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=LESSON_IDS)
def test_released_lesson_is_clean(solution):
    lesson = _released(solution)
    assert lesson.exists(), f"{lesson} is missing: run `python -m autograde release`"
    for cell in _cells(lesson):
        source = "".join(cell["source"])
        assert "BEGIN SOLUTION" not in source and "BEGIN HIDDEN TESTS" not in source
        if cell["cell_type"] == "code":
            assert not cell["outputs"], "released lessons ship without outputs"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=LESSON_IDS)
def test_solution_has_exercises_a_figure_and_no_errors(solution):
    cells = _cells(solution)
    graded = [c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    answers = [c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    assert len(answers) >= 2 and len(graded) >= len(answers)
    assert all(c["metadata"]["nbgrader"]["points"] > 0 for c in graded)
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c["outputs"]]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the stored run shows no figure"
    assert not [o for o in outputs if o.get("output_type") == "error"], "the stored run has an error"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=LESSON_IDS)
def test_grader_gives_solution_full_marks_and_release_zero(solution):
    solved = _grade(solution)
    failed = [e for e in solved["exercises"] if not e["passed"]]
    assert solved["score"] == solved["max_score"] > 0, f"solution lost points: {failed}"

    stub = _grade(_released(solution))
    assert stub["max_score"] == solved["max_score"]
    assert stub["score"] == 0, [e for e in stub["exercises"] if e["points"]]


# Answers that must earn nothing: {lesson: {answer cell's grade_id: (answer source, what the learner is told)}}.
# Each one is pasted into its answer cell of the released lesson; one grading run per lesson.
SHORTCUTS = {
    "00_foundations": {
        "ex1-answer": ("def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):\n"
                       "    layer = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)\n"
                       "    return layer(torch.zeros(1, 1, size, size)).shape[-1]\n",
                       "not graded: conv_output_size(32, 5) built a layer with parameters (nn.Conv2d)"),
        "ex2-answer": ("def conv_param_count(in_channels, out_channels, kernel_size, groups=1, bias=True):\n"
                       "    layer = nn.Conv2d(in_channels, out_channels, kernel_size, groups=groups, bias=bias)\n"
                       "    return count_params(layer).total\n",
                       "not graded: conv_param_count(1, 6, 5) called utils.inspect.count_params"),
        "ex3-answer": ("def receptive_field_size(layers):\n    return receptive_field(layers).size\n",
                       "not graded: receptive_field_size([(3, 1, 1)]) called utils.inspect.receptive_field"),
    },
    "01_lenet5": {
        # c5 wrapped with its activation: every shape right, but the reference's c5.weight cannot load
        "ex2-lenet5": (
            "class LeNet5(nn.Module):\n"
            "    def __init__(self, num_classes=10, in_channels=1):\n"
            "        super().__init__()\n"
            "        self.c1 = nn.Conv2d(in_channels, 6, 5)\n"
            "        self.s2 = nn.MaxPool2d(2)\n"
            "        self.c3 = nn.Conv2d(6, 16, 5)\n"
            "        self.s4 = nn.MaxPool2d(2)\n"
            "        self.c5 = nn.Sequential(nn.Conv2d(16, 120, 5), nn.ReLU(), nn.Flatten())\n"
            "        self.f6 = nn.Linear(120, 84)\n"
            "        self.output = nn.Linear(84, num_classes)\n\n"
            "    def forward(self, x):\n"
            "        x = self.s4(F.relu(self.c3(self.s2(F.relu(self.c1(x))))))\n"
            "        return self.output(F.relu(self.f6(self.c5(x))))\n",
            "c5 is an nn.Sequential here; make c5 the layer itself"),
    },
    "02_alexnet": {
        "lrn-answer": ("def local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=2.0):\n"
                       "    return F.local_response_norm(x, size, alpha=alpha * size, beta=beta, k=k)\n",
                       "not graded: local_response_norm called torch.nn.functional.local_response_norm"),
        "cost-answer": ("def grouped_conv_cost(in_channels, out_channels, kernel_size, out_size, groups=1):\n"
                        "    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2,\n"
                        "                     groups=groups, bias=False)\n"
                        "    return count_params(conv).total, count_macs(conv, (1, in_channels, out_size, out_size))\n",
                        "not graded: grouped_conv_cost(96, 256, 5, 27, 1) called utils.inspect.count_params"),
    },
    "03_vgg": {
        # the paper's configs counted on the meta device by the course's helper, instead of by arithmetic
        "ex5_param_formula": (
            "def vgg_param_count(config, batch_norm=False, num_classes=1000):\n"
            "    layers, in_channels = [], 3\n"
            "    with torch.device('meta'):\n"
            "        for entry in config:\n"
            "            if entry == 'M':\n"
            "                layers.append(nn.MaxPool2d(2, 2))\n"
            "                continue\n"
            "            layers += [nn.Conv2d(in_channels, entry, 3, padding=1)]\n"
            "            layers += [nn.BatchNorm2d(entry)] if batch_norm else []\n"
            "            in_channels = entry\n"
            "        model = nn.Sequential(*layers, nn.Linear(512 * 7 * 7, 4096), nn.Linear(4096, 4096),\n"
            "                              nn.Linear(4096, num_classes))\n"
            "    return count_params(model).total\n",
            "not graded: vgg_param_count called utils.inspect.count_params"),
        # one nn.Sequential per stage: right layers, wrong nesting for the reference's weights
        "ex3_make_features": (
            "def make_features(config, batch_norm=False):\n"
            "    stages, layers, in_channels = [], [], 3\n"
            "    for entry in config:\n"
            "        if entry == 'M':\n"
            "            stages.append(nn.Sequential(*layers, nn.MaxPool2d(2, 2)))\n"
            "            layers = []\n"
            "            continue\n"
            "        layers += [nn.Conv2d(in_channels, entry, 3, padding=1)]\n"
            "        layers += [nn.BatchNorm2d(entry)] if batch_norm else []\n"
            "        layers += [nn.ReLU(inplace=True)]\n"
            "        in_channels = entry\n"
            "    return nn.Sequential(*stages)\n",
            "return one flat nn.Sequential"),
    },
    "04_inception": {
        # each branch built as layers on the meta device and counted by the course's helper
        "ex1_inception_macs": (
            "def inception_macs(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, size, kernel_5x5=5,\n"
            "                   reductions=True):\n"
            "    def macs(*convs):\n"
            "        with torch.device('meta'):\n"
            "            branch = nn.Sequential(*(nn.Conv2d(a, b, k, padding=k // 2) for a, b, k in convs))\n"
            "        return count_macs(branch, (1, in_channels, size, size))\n"
            "    if reductions:\n"
            "        middle = [((in_channels, ch3x3red, 1), (ch3x3red, ch3x3, 3)),\n"
            "                  ((in_channels, ch5x5red, 1), (ch5x5red, ch5x5, kernel_5x5))]\n"
            "    else:\n"
            "        middle = [((in_channels, ch3x3, 3),), ((in_channels, ch5x5, kernel_5x5),)]\n"
            "    return macs((in_channels, ch1x1, 1)), *(macs(*convs) for convs in middle), "
            "macs((in_channels, pool_proj, 1))\n",
            "not graded: inception_macs(*(192, 64, 96, 128, 16, 32, 32), 28) called utils.inspect.count_macs"),
    },
    "05_resnet": {
        "ex4_param_count": ("def cifar_resnet_param_count(depth, num_classes=10):\n"
                            "    with torch.device('meta'):\n"
                            "        net = CifarNet(depth, residual=True, num_classes=num_classes)\n"
                            "    return count_params(net).total\n",
                            "not graded: cifar_resnet_param_count(20) called utils.inspect.count_params"),
        "ex3_zero_pad_shortcut": ("class ZeroPadShortcut(reference.ZeroPadShortcut):\n"
                                  "    def __init__(self, in_channels, out_channels, stride):\n"
                                  "        super().__init__(out_channels - in_channels, stride)\n",
                                  "reference implementation"),
    },
    "06_resnext": {
        "ex3_answer": ("@torch.no_grad()\ndef copy_summed_into_grouped(summed, grouped):\n"
                       "    from utils.models.resnext import copy_from_grouped\n"
                       "    copy_from_grouped(grouped, summed)\n",
                       "the answer cell imports utils.models.resnext, a reference implementation"),
        "ex4_answer": ("def width_for_budget(cardinality, budget=69_632, channels=256):\n"
                       "    def count(d):\n"
                       "        with torch.device('meta'):\n"
                       "            inner = cardinality * d\n"
                       "            block = nn.Sequential(nn.Conv2d(channels, inner, 1, bias=False),\n"
                       "                                  nn.Conv2d(inner, inner, 3, groups=cardinality, bias=False),\n"
                       "                                  nn.Conv2d(inner, channels, 1, bias=False))\n"
                       "        return count_params(block).total\n"
                       "    return min(range(1, 300), key=lambda d: abs(count(d) - budget))\n",
                       "not graded: width_for_budget(1) called utils.inspect.count_params"),
    },
    "07_densenet": {
        # the count read off a layer by the course's helper, instead of by arithmetic
        "ex4_param_count": (
            "def densenet_param_count(depth, growth_rate, bottleneck, compression, num_classes=10):\n"
            "    with torch.device('meta'):\n"
            "        stem = nn.Conv2d(3, 2 * growth_rate, 3, padding=1, bias=False)\n"
            "    return count_params(stem).total\n",
            "not graded: densenet_param_count called utils.inspect.count_params"),
        # layers in a ModuleList: the reference's denselayer<i> keys cannot load
        "ex2_dense_block": (
            "class DenseBlock(nn.Module):\n"
            "    def __init__(self, num_layers, num_input_features, growth_rate, bn_size=4, layer=None):\n"
            "        super().__init__()\n"
            "        layer = layer or DenseLayer\n"
            "        self.layers = nn.ModuleList(layer(num_input_features + i * growth_rate, growth_rate, bn_size)\n"
            "                                    for i in range(num_layers))\n\n"
            "    def forward(self, init_features):\n"
            "        features = [init_features]\n"
            "        for dense_layer in self.layers:\n"
            "            features.append(dense_layer(features))\n"
            "        return torch.cat(features, 1)\n",
            "register it as denselayer1"),
    },
    "08_comparison": {
        # torch's own counter instead of forward hooks
        "ex1_count_macs": (
            "def count_multiply_accumulates(model, input_size):\n"
            "    from torch.utils.flop_counter import FlopCounterMode\n"
            "    counter = FlopCounterMode(display=False)\n"
            "    with torch.no_grad(), counter:\n"
            "        model(torch.randn(*input_size))\n"
            "    return counter.get_total_flops() // 2\n",
            "not graded: count_multiply_accumulates counted with torch.utils.flop_counter.FlopCounterMode"),
        # a network of the course's, not one's own design
        "ex3_budget_net": (
            "from utils.models import get_model\n\n\n"
            "class BudgetNet(nn.Module):\n"
            "    def __init__(self, num_classes=10):\n"
            "        super().__init__()\n"
            "        self.net = get_model('lenet5', num_classes=num_classes, in_channels=3)\n\n"
            "    def forward(self, x):\n"
            "        return self.net(x)\n",
            "imports utils.models"),
    },
}


@pytest.mark.parametrize("lesson", sorted(SHORTCUTS))
def test_shortcut_answers_earn_nothing_and_say_why(lesson, tmp_path):
    notebook = json.loads((REPO_ROOT / "lessons" / lesson / f"{lesson}.ipynb").read_text())
    answers = SHORTCUTS[lesson]
    pasted = set()
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id][0]
            pasted.add(grade_id)
    assert pasted == set(answers), f"no answer cells {sorted(set(answers) - pasted)} in {lesson}"
    copy = tmp_path / f"{lesson}.ipynb"
    copy.write_text(json.dumps(notebook))
    exercises = {exercise["name"]: exercise for exercise in _grade(copy)["exercises"]}
    for grade_id, (_, told) in answers.items():
        exercise = exercises[grade_id]
        assert exercise["points"] == 0 and told in exercise["message"], (grade_id, exercise)
