"""The grading protections one by one, without nbgrader: the static scan, the checks' type and tamper
guards, the in-kernel guard (in a subprocess: an audit hook cannot be removed once installed) and the
bubblewrap sandbox."""

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import nbclient
import nbformat
import pytest
import torch
import torch.nn.functional as F
import torchvision
from test_autograde import processes_marked
from torch import nn

from autograde import bubblewrap
from autograde.course import kernel_readable
from autograde.plan import GradingPlan
from autograde.policy import REFUSED_EVENTS
from autograde.scan import scan_cell
from utils import checks
from utils.settings import REPO_ROOT

# ---- the static scan ----

FLAGGED = {
    # the reference implementation, by every route
    "import utils.models": "imports utils.models",
    "from utils.models import get_model": "imports utils.models",
    "from utils import models": "imports utils.models",
    "from utils.models.lenet import LeNet5": "imports utils.models.lenet",
    "import torchvision.models as tvm": "imports torchvision.models",
    "from torchvision import models": "imports torchvision.models",
    "from torchvision.models import resnet18": "imports torchvision.models",
    "from torchvision import *": "imports * from torchvision",
    "import timm": "imports timm",
    "import torchvision\nnet = torchvision.models.alexnet()": "imports torchvision.models",
    "import utils\nnet = utils.models.get_model('lenet5')": "imports utils.models",
    "import importlib\nm = importlib.import_module('utils.mod' + 'els')": "imports importlib",
    "m = __import__('utils.models')": "uses __import__",
    "import utils\nm = getattr(utils, 'models')": "reads the attribute 'models'",
    "import utils\nm = getattr(utils, 'mod' + 'els')": "computed attribute name on utils",
    "exec('import timm')": "uses exec",
    "%timeit import utils.models": "imports utils.models",
    # monkeypatching torch, numpy, builtins and the checks
    "torch.allclose = lambda *a, **k: True": "assigns torch.allclose",
    "import torch as T\nT.Tensor.__eq__ = lambda s, o: True": "assigns torch.Tensor.__eq__",
    "from torch import Tensor\nTensor.__eq__ = lambda s, o: True": "assigns torch.Tensor.__eq__",
    "T = torch.Tensor\nT.allclose = None": "assigns torch.Tensor.allclose",
    "setattr(torch, 'allclose', print)": "calls setattr() on torch",
    "np.allclose = print": "assigns numpy.allclose",
    "del torch.nn.functional.relu": "assigns torch.nn.functional.relu",
    "import builtins\nbuiltins.isinstance = print": "imports builtins",
    "__builtins__.isinstance = print": "uses __builtins__",
    "isinstance = lambda *a: True": "rebinds the name 'isinstance'",
    "checks.check_value = lambda *a, **k: None": "assigns utils.checks.check_value",
    "from utils import checks as c\nc.check_close = print": "assigns utils.checks.check_close",
    "checks = None": "rebinds the name 'checks'",
    "import numpy as torch": "rebinds the name 'torch'",
    "def f():\n    global F\n    F = None": "rebinds the global name 'F'",
    "type(x).__eq__ = lambda s, o: True": "assigns .__eq__ on another object",
    "f.__code__ = g.__code__": "rewrites a function's code",
    "x = [torch][0].__dict__['allclose']": "changes another object's attributes",
    "object.__setattr__(torch, 'allclose', print)": "changes another object's attributes",
    "torch.nn.modules.module.register_module_forward_hook(hook)": "registers a hook",
    "from torch.overrides import TorchFunctionMode": "overrides torch functions",
    "torch.library.impl('aten::add', 'CPU')": "overrides torch operators",
    # kernel hooks
    "get_ipython().input_transformers_post.append(lambda lines: ['pass'])": "input transformer",
    "ip = get_ipython()\nip.events.register('pre_run_cell', print)": "uses get_ipython",
    "%run ../helper.py": "uses get_ipython",
    "import sys\nframe = sys._getframe(1)": "reads other frames",
    "import inspect": "imports inspect",
    "import sys\nsys.settrace(print)": "traces the tests",
    "import threading": "imports threading",
    # the grader's files, processes
    "open('../../../solutions/01_lenet5/01_lenet5.ipynb').read()": "a file of the grader",
    "!cat ../../solutions/x.ipynb": "a file of the grader",
    "import sqlite3": "imports sqlite3",
    "path = 'gradebook.db'": "a file of the grader",
    "import sys\nsys.modules['utils.checks'] = None": "sys.modules",
    "import os\nos.system('sleep 100 &')": "starting a program is not allowed",
    "import os\nos.posix_spawn('/bin/true', ['true'], {})": "starting a program is not allowed",
    "import subprocess": "imports subprocess",
    "getattr([os][0], 'fo' + 'rk')()": "computed attribute name",
}

FINE = [
    "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nfrom torch import nn\nimport numpy as np\n"
    "import math\nfrom utils import checks",
    "from torchvision import transforms\nimport torchvision.transforms.v2 as T",
    textwrap.dedent('''
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                for i in range(3):
                    setattr(self, f"layer{i}", nn.Linear(2, 2))

            def forward(self, x):
                for i in range(3):
                    x = getattr(self, f"layer{i}")(x)
                return x

            def reset(self):
                for m in self.modules():
                    if isinstance(m, nn.Conv2d):
                        nn.init.kaiming_normal_(m.weight)
    '''),
    "%matplotlib inline\n%timeit x = torch.randn(3)",
    'def size(n, k, s=1, p=0):\n    """The solutions of ..."""\n    return (n + 2 * p - k) // s + 1',
    "torch.backends.cudnn.benchmark = True\ntorch.manual_seed(0)\nnp.random.seed(0)",
    "def f(x):\n    F = x.shape[0]\n    return F",
    "class Anything:\n    def __eq__(self, other):\n        return True",
    "x = F.relu(torch.flatten(t, 1))\nm = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())",
    "def helper(block, i):\n    setattr(block, f'conv{i}', nn.Conv2d(1, 1, 3))",
    "# YOUR CODE HERE\nraise NotImplementedError()",
    "this is not Python (",
]


@pytest.mark.parametrize("code", list(FLAGGED))
def test_scan_flags_ways_around_the_grading(code):
    findings = scan_cell(code)
    assert findings, f"not flagged: {code!r}"
    assert any(FLAGGED[code] in finding.reason for finding in findings), findings


@pytest.mark.parametrize("code", FINE)
def test_scan_leaves_ordinary_answers_alone(code):
    assert scan_cell(code) == []


# The functions of os and sys that raise each refused audit event (the Python documentation's audit events table).
FUNCTIONS_BEHIND = {
    "os.system": ["system"],
    "os.exec": ["execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe"],
    "os.posix_spawn": ["posix_spawn", "posix_spawnp"],
    "os.spawn": ["spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe"],
    "os.fork": ["fork"],
    "os.forkpty": ["forkpty"],
    "sys.addaudithook": ["addaudithook"],
}


@pytest.mark.parametrize("event", list(REFUSED_EVENTS))
def test_the_scan_flags_what_the_kernel_guard_refuses(event):
    """One policy: each refused audit event's module, or each function behind it, is flagged before it runs."""
    module, _, function = event.partition(".")
    if module not in ("os", "sys"):
        assert any(finding.reason.startswith(f"imports {module},") for finding in scan_cell(f"import {module}")), module
        return
    functions = FUNCTIONS_BEHIND[event]  # written out from the os and sys documentation, not from the scan's rule
    for name in functions:
        assert any(REFUSED_EVENTS[event] in finding.reason
                   for finding in scan_cell(f"import {module}\n{module}.{name}()")), name


def test_scan_reports_the_line():
    assert [finding.line for finding in scan_cell("x = 1\n\nimport timm\n")] == [3]


# ---- utils.checks: types, models, tampering ----

def failure(check, *args, **kwargs) -> str:
    with pytest.raises(checks.CheckFailed) as raised:
        check(*args, **kwargs)
    return str(raised.value)


class AlwaysEqual(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class RiggedTensor(torch.Tensor):
    def __eq__(self, other):
        return True


def test_check_value_accepts_plain_numbers_only():
    checks.check_value(28, 28, "size")
    checks.check_value(torch.tensor(28), 28, "size")
    checks.check_value((3, 32, 32), (3, 32, 32), "shape")
    assert failure(checks.check_value, 30, 28, "size") == "size: expected 28, got 30"
    assert "use // for integer division" in failure(checks.check_value, 28.0, 28, "size")
    assert "a subclass of int" in failure(checks.check_value, AlwaysEqual(0), 28, "size")
    assert "got the bool True" in failure(checks.check_value, True, 1, "flag")
    assert "got str" in failure(checks.check_value, "28", 28, "size")


def test_check_close_rejects_tensor_subclasses_and_says_where_values_differ():
    expected = torch.tensor([1.0, 2.0, 3.0])
    checks.check_close(expected + 1e-7, expected, "y")
    assert "a subclass" in failure(checks.check_close, expected.as_subclass(RiggedTensor), expected, "y")
    message = failure(checks.check_close, torch.tensor([1.0, 2.5, 3.0]), expected, "y", hint="check the mean")
    assert "by up to 0.5 at index (1,)" in message and message.endswith(": check the mean")
    assert "expected shape (3,), got (1, 3)" in failure(checks.check_close, expected[None], expected, "y")
    assert "expected a torch.Tensor, got list" in failure(checks.check_close, [1.0, 2.0, 3.0], expected, "y")


class CountsWrong(nn.Module):
    """Overrides parameters() to report a made-up count: the check must count for itself."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def parameters(self, recurse=True):
        return iter([torch.zeros(690)])


def test_check_param_count_counts_without_trusting_the_model():
    # 4 * 1 * 3 * 3 weights + 4 biases = 40, whatever the class claims
    checks.check_param_count(CountsWrong(), 40)
    message = failure(checks.check_param_count, nn.Conv2d(3, 64, 3, bias=True), 1728, hint="use bias=False")
    assert message == "Conv2d: expected 1,728 parameters, found 1,792: use bias=False"


class Small(nn.Module):
    def __init__(self, relu=True):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.relu = relu

    def forward(self, x):
        warnings.warn("a learner's warning", stacklevel=2)  # stderr would cost the test cell its points
        out = self.fc(x)
        return out.relu() if self.relu else out


def test_check_matches_reference_compares_behaviour_and_stays_silent(capfd):
    torch.manual_seed(0)  # so that some output of fc is negative, and relu=False differs (unseeded: ~1.5% are not)
    inputs = torch.randn(5, 3)
    checks.check_matches_reference(Small(), Small(), inputs, "Small")
    assert "the output for the reference's weights" in failure(
        checks.check_matches_reference, Small(relu=False), Small(), inputs, "Small")
    assert "missing fc.weight, fc.bias; unexpected 0.weight, 0.bias" in failure(
        checks.check_matches_reference, nn.Sequential(nn.Linear(3, 2)), Small(), inputs, "Small")
    assert capfd.readouterr().err == ""


class LeNetC5(nn.Module):
    def __init__(self, wrapped: bool):
        super().__init__()
        self.c5 = nn.Sequential(nn.Conv2d(16, 120, 5), nn.ReLU()) if wrapped else nn.Conv2d(16, 120, 5)


def test_check_layout_says_what_to_change():
    checks.check_layout(LeNetC5(wrapped=False), LeNetC5(wrapped=False).to("meta"), "LeNet5")
    assert failure(checks.check_layout, LeNetC5(wrapped=True), LeNetC5(wrapped=False), "LeNet5") == (
        "LeNet5: found c5.0.weight where the scaffold has c5.weight: c5 is an nn.Sequential here; make c5 the "
        "layer itself and apply its activation (and any pooling or flattening) in forward")
    assert "missing fc.weight, fc.bias; unexpected 0.weight, 0.bias" in failure(
        checks.check_layout, nn.Sequential(nn.Linear(3, 2)), Small(), "Small")
    assert failure(checks.check_layout, nn.Linear(3, 4), {"weight": (2, 3), "bias": (2,)}, "fc", hint="2 classes") == (
        "fc: weight has shape (4, 3), expected (2, 3): 2 classes")


def test_shape_mismatches_show_the_hint():
    assert failure(checks.check_shape, torch.zeros(2, 5), (2, 10), "logits", hint="one output per class") == (
        "logits: expected shape (2, 10), got (2, 5): one output per class")
    assert failure(checks.check_close, torch.zeros(4), torch.zeros(3), "y", hint="keep the batch") == (
        "y: expected shape (3,), got (4,): keep the batch")


def params_by_hand(c_in, c_out, k):
    return c_out * c_in * k * k + c_out


def params_from_a_layer(c_in, c_out, k):
    return sum(p.numel() for p in nn.Conv2d(c_in, c_out, k, device="meta").parameters())


def params_from_the_course(c_in, c_out, k):
    from utils.inspect import count_params

    return count_params(nn.Conv2d(c_in, c_out, k)).total


def field_from_the_course(layers):
    from utils.inspect import receptive_field

    return receptive_field(layers).size


def lrn_by_module(x):
    return nn.LocalResponseNorm(5)(x)


def side_by_running_a_pool(n, k):
    return F.max_pool2d(torch.zeros(1, 1, n, n), k, stride=1).shape[-1]


def macs_by_torch_counter(model, input_size):
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(input_size))
    return counter.get_total_flops() // 2


def macs_by_hooks(model, input_size):
    total = []
    hook = model.register_forward_hook(lambda conv, inputs, output: total.append(output.numel() * 27))
    model(torch.zeros(input_size))
    hook.remove()
    return sum(total)


def test_call_without_shortcuts_refuses_ready_made_answers_and_leaves_nothing_behind():
    # 64 * 3 * 3 * 3 weights + 64 biases, by hand
    assert checks.call_without_shortcuts(params_by_hand, 3, 64, 3, what="count") == 1_792
    cases = [
        (params_from_a_layer, (3, 64, 3), {}, "built a layer with parameters (nn.Conv2d)"),
        (params_from_the_course, (3, 64, 3), {}, "called utils.inspect.count_params"),  # not "built a layer"
        (field_from_the_course, ([(3, 1, 1)],), {}, "called utils.inspect.receptive_field"),
        (lrn_by_module, (torch.randn(1, 8, 4, 4),), {"refuse": (F.local_response_norm,)},
         "called torch.nn.functional.local_response_norm"),
        (side_by_running_a_pool, (8, 3), {"refuse": ("pool",)}, "ran a built-in max_pool2d"),
        (macs_by_torch_counter, (nn.Conv2d(3, 4, 3), (1, 3, 6, 6)), {},
         "counted with torch.utils.flop_counter.FlopCounterMode"),
    ]  # fmt: skip
    for answer, args, options, reason in cases:
        message = failure(checks.call_without_shortcuts, answer, *args, what="the answer", **options)
        assert message.startswith(f"not graded: the answer {reason}") and "compute this yourself" in message
    # Layers may be built when the exercise allows it, and the learner's own errors come through unchanged.
    assert checks.call_without_shortcuts(params_from_a_layer, 3, 64, 3, what="count", refuse_layers=False) == 1_792
    # forward hooks are fine: 4 x 4 x 4 outputs of a 3x3 conv over 3 channels, 27 MACs each, by hand
    assert checks.call_without_shortcuts(macs_by_hooks, nn.Conv2d(3, 4, 3), (1, 3, 6, 6), what="count") == 64 * 27
    with pytest.raises(ZeroDivisionError):
        checks.call_without_shortcuts(lambda: 1 // 0, what="a broken answer", refuse=(F.relu, "conv"))
    checks.check_value(1, 1, "nothing left behind")  # no global hook or torch mode: the tamper guard is quiet


def test_a_failed_check_shows_the_learner_their_line_and_the_message(monkeypatch):
    """In a real kernel: the test line, one frame of utils.checks and the message; every frame on request."""
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from utils import checks"),
        nbformat.v4.new_code_cell("checks.check_value(30, 28, 'conv_output_size(32, 5)')"),
    ])  # fmt: skip
    shown = {}
    for full in ("", "1"):
        monkeypatch.setenv(checks.FULL_TRACEBACKS_VARIABLE, full)  # the kernel inherits the environment
        executed = nbclient.NotebookClient(nbformat.from_dict(notebook), kernel_name="python3", allow_errors=True,
                                           resources={"metadata": {"path": str(REPO_ROOT)}}).execute()
        error = executed.cells[1].outputs[0]
        shown[full] = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"]))
        assert error["evalue"] == "conv_output_size(32, 5): expected 28, got 30"
    assert "Cell In[2], line 1" in shown[""] and shown[""].count("utils/checks.py") == 1
    assert "_compare_values" not in shown[""] and "_compare_values" in shown["1"]


class FromTorchvision(torchvision.models.AlexNet):
    pass


def test_models_must_not_come_from_a_reference_implementation():
    checks.check_built_from_torch(nn.Sequential(nn.Conv2d(1, 2, 3), Small()))
    assert "torchvision.models.resnet.ResNet" in failure(checks.check_built_from_torch, torchvision.models.resnet18())
    assert "torchvision.models.alexnet.AlexNet" in failure(checks.check_built_from_torch, FromTorchvision())
    wrapped = nn.Sequential(nn.Linear(2, 2), torchvision.models.alexnet())
    assert "a reference implementation" in failure(checks.check_matches_reference, wrapped, wrapped,
                                                   torch.zeros(1, 2), "Net")


def test_checks_refuse_to_grade_after_tampering(monkeypatch):
    checks.check_value(1, 1, "x")
    with monkeypatch.context() as patch:
        patch.setattr(torch, "allclose", lambda *args, **kwargs: True)
        with pytest.raises(checks.TamperError, match="torch.allclose was replaced"):
            checks.check_value(1, 1, "x")
    with monkeypatch.context() as patch:
        patch.setattr(checks, "check_close", lambda *args, **kwargs: None)
        with pytest.raises(checks.TamperError, match="utils.checks.check_close was replaced"):
            checks.check_value(1, 1, "x")
    handle = torch.nn.modules.module.register_module_forward_hook(lambda module, args, out: out * 0)
    try:
        with pytest.raises(checks.TamperError, match="global module hook"):
            checks.check_value(1, 1, "x")
    finally:
        handle.remove()
    with torch.overrides.TorchFunctionMode(), pytest.raises(checks.TamperError, match="function or dispatch mode"):
        checks.check_value(1, 1, "x")
    checks.check_value(1, 1, "x")  # everything restored: grading works again


def test_every_public_check_runs_through_the_tamper_guard(monkeypatch):
    """A check added without @_checked would grade a notebook that replaced what it computes with."""
    public = {name: value for name, value in vars(checks).items()
              if callable(value) and not isinstance(value, type) and not name.startswith("_")
              and getattr(value, "__module__", None) == checks.__name__}
    not_checks = {"course_helper"}  # marks a utils function as a shortcut; it checks nothing itself
    assert len(public) - len(not_checks) >= 8, sorted(public)
    monkeypatch.setattr(torch, "allclose", lambda *args, **kwargs: True)
    for name in sorted(set(public) - not_checks):
        with pytest.raises(checks.TamperError, match="torch.allclose was replaced"):
            public[name]()  # refused before its arguments are even looked at


# ---- the in-kernel guard ----

GUARD_PROBE = r"""
import json, os, sys
import autograde.kernel_guard as kernel_guard
from ipykernel.compiler import get_tmp_directory

protected, work = sys.argv[1], sys.argv[2]
os.chdir(work)
kernel_guard.install({"memory_mb": 1500, "file_mb": 10, "protected": [protected], "allowed": [work]})
import numpy, torch

def attempt(code, as_notebook_cell=True):
    # Code compiled under ipykernel's cell file names counts as notebook code, as in a real kernel.
    filename = os.path.join(get_tmp_directory(), "1234.py") if as_notebook_cell else "<library>"
    try:
        exec(compile(code, filename, "exec"), {"torch": torch, "numpy": numpy, "os": os, "sys": sys})
        return "allowed"
    except (PermissionError, MemoryError, RuntimeError) as error:
        return type(error).__name__ + ": " + str(error)

print(json.dumps({
    "read_protected": attempt(f"open({os.path.join(protected, 'answer.txt')!r}).read()"),
    "list_protected": attempt(f"os.listdir({protected!r})"),
    "read_own_folder": attempt("open('data.txt').read()"),
    "sqlite": attempt("import sqlite3; sqlite3.connect(':memory:')"),
    "system": attempt("os.system('true')"),
    "fork": attempt("os.fork()"),
    "ctypes": attempt("import ctypes; ctypes.CDLL(None)"),
    "gc": attempt("import gc; gc.get_objects()"),
    "settrace": attempt("sys.settrace(lambda *a: None)"),
    "replace_code": attempt("torch.nn.functional.relu.__code__ = (lambda input, inplace=False: input).__code__"),
    "replace_own_code": attempt("def mine():\n    pass\nmine.__code__ = (lambda: 1).__code__"),
    "replace_code_from_library": attempt("torch.nn.functional.relu.__code__ = torch.nn.functional.relu.__code__",
                                         as_notebook_cell=False),
    "getframe": attempt("sys._getframe(0)"),
    "memory": attempt("torch.ones(2**30)"),
    "cwd_on_path": os.path.realpath(work) in [os.path.realpath(p) for p in sys.path if p],
}))
"""


def test_kernel_guard_refuses_what_grading_must_not_allow(tmp_path):
    protected, work = tmp_path / "solutions", tmp_path / "autograded"
    protected.mkdir()
    work.mkdir()
    (protected / "answer.txt").write_text("42")
    (work / "data.txt").write_text("fine")
    done = subprocess.run([sys.executable, "-c", GUARD_PROBE, str(protected), str(work)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome.pop("read_own_folder") == "allowed"
    assert outcome.pop("replace_own_code") == "allowed"  # a learner's own functions are theirs
    assert outcome.pop("replace_code_from_library") == "allowed"  # libraries may manage their own code
    assert outcome.pop("cwd_on_path") is False
    assert "can't allocate memory" in outcome.pop("memory")
    refused = {name: result for name, result in outcome.items() if not result.startswith("GradingRefused")}
    assert refused == {}


# ---- the grading plan: whose cell is it, and what does excluding it cost ----

def _notebook(*cells):
    """cells: (kind, grade_id, source) with kind 'plain', 'answer' or 'test'."""
    made = []
    for kind, grade_id, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        if kind != "plain":
            cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": kind == "answer", "grade": kind == "test",
                                         "locked": kind == "test", "points": 1, "schema_version": 3}
        made.append(cell)
    return nbformat.v4.new_notebook(cells=made)


def test_plan_blames_the_exercise_of_a_cell_and_lets_learners_repeat_the_lessons_imports():
    setup = "import torch\nfrom utils.models.lenet import C3_CONNECTION_TABLE"
    source = _notebook(("plain", None, setup),
                       ("answer", "first", "def f(): ..."), ("test", "test_first", "checks.check_value(f(), 1, 'f')"),
                       ("answer", "second", "def g(): ..."), ("test", "test_second", "checks.check_value(g(), 1, 'g')"))
    submission = _notebook(("plain", None, setup + "  # edited by the learner"),
                           ("answer", "first", "from utils.models.lenet import C3_CONNECTION_TABLE\ndef f(): ..."),
                           ("test", "test_first", "checks.check_value(f(), 1, 'f')"),
                           ("plain", None, "import timm  # a helper cell added above the second answer"),
                           ("answer", "second", "def g(): ..."),
                           ("test", "test_second", "checks.check_value(g(), 1, 'g')"))
    plan = GradingPlan.for_submission(submission, source)
    assert plan.learner_cells == {0, 1, 3, 4}
    assert [plan.exercise_of[index] for index in range(6)] == ["first"] * 3 + ["second"] * 3
    plan.scan(submission)
    assert set(plan.skip) == {3, 5}  # the flagged cell itself, and the tests of its exercise only
    assert "a code cell you added or changed imports timm" in plan.skip[5][1]


def test_plan_protects_the_names_the_tests_take_from_the_lesson():
    source = _notebook(("plain", None, "from utils.models import get_model\ndevice = 'cpu'"),
                       ("answer", "net", "class Net: ..."),
                       ("test", "test_net", "checks.check_matches_reference(Net(), get_model('net'), x, 'Net')"))
    for learner_code, flagged in [("get_model = lambda name: Net()", True),
                                  ("from utils.models import get_model", False),  # the lesson's own import
                                  ("device = 'cuda'", False)]:  # a plain setting: rebinding it fools no test
        submission = _notebook(("plain", None, learner_code), *[("answer", "net", "class Net: ..."),
                               ("test", "test_net", source.cells[2].source)])
        plan = GradingPlan.for_submission(submission, source)
        plan.scan(submission)
        assert (0 in plan.skip) == flagged, learner_code
        if flagged:
            assert "rebinds the name 'get_model'" in plan.skip[0][1]


# ---- the bubblewrap sandbox ----

ESCAPE_PROBE = r"""
import json, os, socket, sys
course, home_pid, port, tmp_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def attempt(action):
    try:
        action()
        return "done"
    except Exception as error:
        return "failed: " + type(error).__name__

def connect():
    socket.create_connection(("127.0.0.1", port), timeout=3).close()

def write(path):
    with open(path, "w") as file:
        file.write("written by a grading kernel")

print(json.dumps({
    "read_solutions": attempt(lambda: open(os.path.join(course, "solutions", "99_mini", "99_mini.ipynb")).read()),
    "read_gradebook": attempt(lambda: open(os.path.join(course, "grading", "gradebook.db"), "rb").read()),
    "read_other_submission": attempt(lambda: open(os.path.join(course, "grading", "submitted", "bob", "99_mini",
                                                                "99_mini.ipynb")).read()),
    "write_course": attempt(lambda: write(os.path.join(course, "planted.txt"))),
    "write_own_folder": attempt(lambda: write("answer.txt")),
    "write_tmp": attempt(lambda: write(tmp_file)),
    "see_grader": attempt(lambda: os.stat(f"/proc/{home_pid}")),
    "connect": attempt(connect),
    "course_package": attempt(lambda: __import__("autograde.policy")),
}))
"""


@pytest.fixture
def fake_course():
    """A course's files: an instructor's notebook, a gradebook, two submissions, autograded copies. Not in
    /tmp, like a real course: the sandbox's private /tmp would hold the folders around a submission in it."""
    (REPO_ROOT / "grading").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sandbox-test-", dir=REPO_ROOT / "grading") as scratch:
        yield from _fill_course(Path(scratch) / "course")


def _fill_course(course):
    for path in ["solutions/99_mini/99_mini.ipynb", "grading/gradebook.db",
                 "grading/submitted/bob/99_mini/99_mini.ipynb", "grading/submitted/alice/99_mini/99_mini.ipynb",
                 "grading/autograded/alice/99_mini/99_mini.ipynb"]:
        (course / path).parent.mkdir(parents=True, exist_ok=True)
        (course / path).write_text("BEGIN SOLUTION")
    yield course


def test_bubblewrap_shows_a_kernel_only_its_folder_python_and_the_course(fake_course):
    """The same escapes, outside bubblewrap (all work: the probe is real) and inside (all fail but the
    kernel's own folder, its private /tmp and the course's packages)."""
    assert bubblewrap.unavailable_reason() is None, "the sandbox tests need bubblewrap (./course test installs it)"
    folder = fake_course / "grading" / "autograded" / "alice" / "99_mini"
    server = socket.create_server(("127.0.0.1", 0))
    tmp_file = Path(f"/tmp/autograde-probe-{os.getpid()}.txt")  # the host's /tmp: only the unsandboxed run writes it
    try:
        probe = [sys.executable, "-c", ESCAPE_PROBE, str(fake_course), str(os.getpid()),
                 str(server.getsockname()[1]), str(tmp_file)]
        outcomes = {}
        for sandboxed in (False, True):
            sandbox = bubblewrap.command(sys.executable, readable=[str(REPO_ROOT / "autograde")],
                                         writable=[str(folder)],
                                         hidden=[str(fake_course / "solutions"), str(fake_course / "grading")])
            done = subprocess.run(sandbox + probe if sandboxed else probe, cwd=folder, capture_output=True,
                                  text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
            assert done.returncode == 0, done.stderr
            outcomes[sandboxed] = json.loads(done.stdout)
            planted = fake_course / "planted.txt"
            if sandboxed:
                assert not planted.exists(), "a sandboxed kernel wrote into the course"
                assert not tmp_file.exists(), "a sandboxed kernel wrote into the host's /tmp"
            planted.unlink(missing_ok=True)
            tmp_file.unlink(missing_ok=True)
    finally:
        server.close()
        tmp_file.unlink(missing_ok=True)
    assert set(outcomes[False].values()) == {"done"}
    inside = outcomes[True]
    assert {name: inside.pop(name) for name in ("write_own_folder", "write_tmp", "course_package")} == dict.fromkeys(
        ("write_own_folder", "write_tmp", "course_package"), "done")
    # Where the course itself lies under /tmp (a CI clone, say) or the home folder (a developer's clone), its
    # folders around the submission are inside the kernel's private /tmp or home: the write "works" there and is
    # thrown away; the check above saw nothing planted.
    if any(fake_course.resolve().is_relative_to(private) for private in ("/tmp", os.path.realpath(Path.home()))):
        inside.pop("write_course")
    assert all(result.startswith("failed") for result in inside.values()), inside
    assert (folder / "answer.txt").read_text() == "written by a grading kernel"  # the kernel's own work stays


def test_the_sandbox_shows_the_datasets_where_utils_data_reads_them(monkeypatch, tmp_path):
    from utils.data import cache_dir, data_root

    assert str(data_root()) in kernel_readable(REPO_ROOT) or not data_root().is_dir()  # the default, if present
    for variable, folder in (("CNN_COURSE_DATA", tmp_path / "data"), ("CNN_COURSE_CACHE", tmp_path / "cache")):
        folder.mkdir()
        monkeypatch.setenv(variable, str(folder))
    assert {str(data_root()), str(cache_dir())} <= set(kernel_readable(REPO_ROOT))


def test_a_sandboxed_kernel_dies_with_its_grader(tmp_path):
    """Even when the grader is killed outright (no cleanup), nothing it started in the sandbox lives on."""
    marker = f"autograde-orphan-{os.getpid()}"
    sandbox = bubblewrap.command(sys.executable, readable=[], writable=[str(tmp_path)], hidden=[])
    grader = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time\n"
                               f"subprocess.Popen({sandbox + ['/bin/sh', '-c', 'sleep 600 & sleep 600']!r})\n"
                               "time.sleep(600)"], env={**os.environ, "AUTOGRADE_TEST_MARKER": marker})
    try:
        deadline = time.monotonic() + 30
        while len(processes_marked(marker)) < 4 and time.monotonic() < deadline:  # grader, bwrap (2), sh, sleeps
            time.sleep(0.2)
        assert len(processes_marked(marker)) >= 4
    finally:
        grader.kill()
        grader.wait()
    deadline = time.monotonic() + 10
    while processes_marked(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_marked(marker) == []


