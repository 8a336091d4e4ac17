"""Checks for the exercises: clear messages for learners, guarded comparisons for the hidden tests.

Every check raises CheckFailed (an AssertionError) whose message says what was expected, what was found
and, where we can guess, what to change. The checks never print and never warn: nbgrader scores any test
cell that writes to stderr as zero.

    checks.check_value(conv_output_size(32, 5), 28, "conv_output_size(32, 5)")
    checks.check_close(standardize(x), expected, "standardize(x)", atol=1e-4)
    checks.check_param_count(model, 61_706, hint="C5 is a convolution here, not a linear layer")
    checks.check_matches_reference(LeNet5(), get_model("lenet5"), torch.randn(2, 1, 32, 32), "LeNet5")
    checks.check_layout(LeNet5(), reference, "LeNet5")  # layer names first; reference built under torch.device("meta")
    count = checks.call_without_shortcuts(conv_param_count, 64, 128, 3, what="conv_param_count(64, 128, 3)")

A failed check shows the learner their own test line and the message, not this module's frames (IPython hides
frames that set __tracebackhide__); CNN_COURSE_FULL_TRACEBACKS=1 shows every frame, for maintainers.

Protections. A notebook's code runs in the same Python process as its tests, so the checks trust nothing
the notebook could have replaced:
- the grading kernel imports this module before any notebook code runs; the functions the checks use are
  captured then, and every check first compares torch, torch.nn, numpy, the builtins and this module
  against that snapshot, refusing to grade (TamperError) when something was replaced or a global hook or
  torch function mode was installed;
- values must have exactly the expected type, so an object whose __eq__ always says True, or a Tensor
  subclass with rigged operators, is rejected;
- parameters are counted and modules walked without calling methods the learner's class may override;
- a model must be built in the notebook, not taken or subclassed from utils.models, torchvision.models or
  timm (check_built_from_torch; check_matches_reference does it first);
- an exercise that *is* a computation the course's helpers or torch already do (a parameter count, a receptive
  field, local response normalisation) is called through call_without_shortcuts, which refuses an answer that
  calls those helpers or builds a layer to read the answer off.
"""

import builtins
import contextlib
import importlib
import math
import os
import sys
import warnings
from functools import wraps
from pathlib import Path
from types import ModuleType as _ModuleType

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack

from autograde.policy import CHECKED_MODULES, PROTECTED_BUILTINS, REFERENCE_PACKAGES

from .settings import full_tracebacks

# Frames of this module are hidden from learners' tracebacks unless a maintainer asks for them.
FULL_TRACEBACKS_VARIABLE = "CNN_COURSE_FULL_TRACEBACKS"  # utils.settings reads it
_HIDE_FRAMES = not full_tracebacks()


class CheckFailed(AssertionError):
    """An exercise check did not pass; the message says what to change."""


class TamperError(CheckFailed):
    """The checks refuse to grade: the notebook changed something they rely on."""


# ---- originals, captured at import (the grading kernel imports this module before notebook code runs) ----

_object_getattribute = object.__getattribute__
_type = type
_isinstance = isinstance
_len = len
_id = id
_Tensor = torch.Tensor
_Parameter = nn.Parameter
_Module = nn.Module
_numel = torch.Tensor.numel
_detach = torch.Tensor.detach
_to = torch.Tensor.to
_item = torch.Tensor.item
_abs = torch.abs
_isnan = torch.isnan
_any = torch.any
_max = torch.max
_argmax = torch.argmax
_as_tensor = torch.as_tensor
_no_grad = torch.no_grad
_module_call = nn.Module.__call__
_module_train = nn.Module.train
_load_state_dict = nn.Module.load_state_dict
_state_dict = nn.Module.state_dict
_unravel_index = np.unravel_index

_NUMPY_INTS = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
_NUMPY_FLOATS = (np.float16, np.float32, np.float64)

# What the snapshot watches: the namespaces a patch would have to touch to fool a check.
_WATCHED_MODULES = [importlib.import_module(name) for name in CHECKED_MODULES]
_WATCHED_CLASSES = [torch.Tensor, nn.Parameter] + sorted(
    {value for value in vars(nn).values() if _isinstance(value, type) and issubclass(value, nn.Module)},
    key=lambda cls: cls.__qualname__,
)
_GLOBAL_HOOK_DICTS = [
    name for name in vars(torch.nn.modules.module) if name.startswith("_global_") and name.endswith("_hooks")
]
_MISSING = object()
_TORCH_DIR = str(Path(torch.__file__).parent) + os.sep


def _label(namespace):
    return namespace.__name__ if _isinstance(namespace, _ModuleType) else namespace.__qualname__


def _watched_items(namespace):
    """The callables of a module or class, by name: what a monkeypatch would replace."""
    if namespace is builtins:
        return {name: vars(builtins)[name] for name in PROTECTED_BUILTINS}
    return {name: value for name, value in vars(namespace).items() if callable(value)}


def _take_snapshot(namespaces):
    return [(namespace, _watched_items(namespace)) for namespace in namespaces]


def _wrapped_by_torch(current, original):
    """True for torch's own wrappers: importing torch._dynamo (torchvision does) wraps torch.manual_seed."""
    code = getattr(current, "__code__", None)
    return (getattr(current, "__wrapped__", None) is original and code is not None
            and code.co_filename.startswith(_TORCH_DIR))


def _changes_since_import():
    """Names (like 'torch.allclose') that now differ from the snapshot taken at import."""
    changed = []
    for namespace, originals in _SNAPSHOT:
        current = vars(namespace)
        for name, original in originals.items():
            value = current.get(name, _MISSING)
            if value is not original and not _wrapped_by_torch(value, original):
                changed.append(f"{_label(namespace)}.{name}")
    return changed


def _refuse_if_tampered():
    changed = _changes_since_import()
    if changed:
        listed = ", ".join(changed[:3]) + (f" and {_len(changed) - 3} more" if _len(changed) > 3 else "")
        raise TamperError(
            f"not graded: {listed} was replaced by code in this notebook; answers must not modify torch, "
            "numpy, the builtins or the checking helpers"
        )
    hooks = [name for name in _GLOBAL_HOOK_DICTS if _len(vars(torch.nn.modules.module)[name])]
    if hooks:
        raise TamperError(
            f"not graded: a global module hook is registered ({hooks[0]}); answers must not register "
            "hooks that change every module's behaviour"
        )
    if torch._C._len_torch_function_stack() or torch._C._len_torch_dispatch_stack():
        raise TamperError("not graded: a torch function or dispatch mode is active; answers must not install one")


def _checked(check):
    """Run a check on an untampered torch, with warnings silenced (stderr output would cost the points).

    A failure is raised again from here without the frames below: IPython always shows the frame that raised,
    so this keeps the learner's traceback to their test line, one line of ours and the message."""

    @wraps(check)
    def guarded(*args, **kwargs):
        __tracebackhide__ = _HIDE_FRAMES
        _refuse_if_tampered()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return check(*args, **kwargs)
        except CheckFailed as failure:
            if not _HIDE_FRAMES:
                raise
            failed = failure
        # A check failed: the message below says what was expected and what was found.
        raise failed.with_traceback(None)

    return guarded


# ---- type guards: exact types only, so rigged __eq__ and Tensor subclasses are rejected ----

def _describe(value):
    cls = _type(value)
    return f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__qualname__


def _plain_tensor(value, what):
    """value itself if it is a plain torch.Tensor (or nn.Parameter), else a CheckFailed that says why."""
    if _type(value) in (_Tensor, _Parameter):
        return value
    if _isinstance(value, _Tensor):
        raise CheckFailed(f"{what}: expected a plain torch.Tensor, got a {_describe(value)} (a subclass); "
                          "return the tensor itself")
    raise CheckFailed(f"{what}: expected a torch.Tensor, got {_describe(value)}")


def _as_number(value, what, want_int):
    """value as a Python int or float, accepting only exact numeric types (never a user-defined class)."""
    cls = _type(value)
    if cls is bool:
        raise CheckFailed(f"{what}: expected a number, got the bool {value}")
    if cls is int or cls in _NUMPY_INTS:
        return int(value)
    if cls is float or cls in _NUMPY_FLOATS:
        number = float(value)
        if want_int:
            hint = ": use // for integer division" if number == int(number) else ""
            raise CheckFailed(f"{what}: expected an int, got the float {number}{hint}")
        return number
    if cls in (_Tensor, _Parameter) and _numel(value) == 1:
        number = _item(_detach(value))
        if want_int and _type(number) is not int:
            raise CheckFailed(f"{what}: expected an int, got a floating-point tensor ({number})")
        return number
    if _isinstance(value, (int, float)):
        raise CheckFailed(f"{what}: expected a plain number, got a {_describe(value)} (a subclass of "
                          f"{'int' if _isinstance(value, int) else 'float'}); return the number itself")
    raise CheckFailed(f"{what}: expected {'an int' if want_int else 'a number'}, got {_describe(value)}")


# ---- the checks ----

@_checked
def check_value(actual, expected, what, rel_tol=1e-6, hint=""):
    """actual equals expected: an int, float, bool, str, or a tuple/list of those (floats within rel_tol);
    `hint` says what usually explains a difference."""
    try:
        _compare_values(actual, expected, what, rel_tol)
    except CheckFailed as failure:
        raise CheckFailed(_with_hint(str(failure), hint)) from None


def _compare_values(actual, expected, what, rel_tol):
    if _type(expected) in (tuple, list):
        if _type(actual) not in (tuple, list, torch.Size):
            raise CheckFailed(f"{what}: expected a {_type(expected).__name__} like {expected!r}, "
                              f"got {_describe(actual)}")
        if _len(actual) != _len(expected):
            raise CheckFailed(f"{what}: expected {_len(expected)} values {expected!r}, got {_len(actual)}")
        for position, (item, wanted) in enumerate(zip(actual, expected, strict=True)):
            _compare_values(item, wanted, f"{what}[{position}]", rel_tol)
        return
    if _type(expected) in (bool, str):
        if _type(actual) is not _type(expected) or actual != expected:
            raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")
        return
    number = _as_number(actual, what, want_int=_type(expected) is int)
    if _type(expected) is int:
        if number != expected:
            raise CheckFailed(f"{what}: expected {expected}, got {number}")
    elif not math.isclose(number, expected, rel_tol=rel_tol, abs_tol=1e-12):
        raise CheckFailed(f"{what}: expected {expected:.6g}, got {number:.6g}")


def _with_hint(message, hint):
    return f"{message}: {hint}" if hint else message


@_checked
def check_shape(actual, expected_shape, what, hint=""):
    """actual is a tensor of shape expected_shape; `hint` says what usually explains a difference."""
    tensor = _plain_tensor(actual, what)
    shape = tuple(tensor.shape)
    if shape != tuple(expected_shape):
        raise CheckFailed(_with_hint(f"{what}: expected shape {tuple(expected_shape)}, got {shape}", hint))


def _compare_tensors(actual, expected, what, rtol, atol, hint):
    tensor = _plain_tensor(actual, what)
    expected = _as_tensor(expected)
    if tuple(tensor.shape) != tuple(expected.shape):
        raise CheckFailed(_with_hint(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(tensor.shape)}",
                                     hint))
    if expected.is_floating_point() and not (tensor.is_floating_point() or tensor.is_complex()):
        raise CheckFailed(f"{what}: expected floating-point values, got dtype {tensor.dtype}")
    got = _to(_detach(tensor), device="cpu", dtype=torch.float64)
    want = _to(_detach(expected), device="cpu", dtype=torch.float64)
    if _item(_any(_isnan(got))) and not _item(_any(_isnan(want))):
        raise CheckFailed(f"{what}: the result contains NaN")
    error = _abs(got - want)
    excess = error - (atol + rtol * _abs(want))
    if _numel(excess) and _item(_max(excess)) > 0:
        worst = _item(_argmax(excess))
        where = tuple(int(i) for i in _unravel_index(worst, tuple(want.shape))) if want.dim() else ()
        detail = f" at index {where}" if where else ""
        raise CheckFailed(
            f"{what}: values differ from the expected ones by up to {_item(error.reshape(-1)[worst]):.3g}{detail} "
            f"(got {_item(got.reshape(-1)[worst]):.6g}, expected {_item(want.reshape(-1)[worst]):.6g}; "
            f"tolerance atol={atol:g}, rtol={rtol:g})" + (f": {hint}" if hint else "")
        )


@_checked
def check_close(actual, expected, what, rtol=1e-5, atol=1e-6, hint=""):
    """actual is a plain tensor of expected's shape whose values are within atol + rtol * |expected|."""
    _compare_tensors(actual, expected, what, rtol, atol, hint)


def _submodules(model):
    """Every module in model's tree (model first), found without calling methods a class may override."""
    found, stack, seen = [], [model], set()
    while stack:
        module = stack.pop()
        if _id(module) in seen:
            continue
        seen.add(_id(module))
        if not _isinstance(module, _Module):
            raise CheckFailed(f"expected a torch.nn.Module, found {_describe(module)} inside the model")
        found.append(module)
        children = _object_getattribute(module, "_modules")
        stack.extend(child for child in reversed(list(children.values())) if child is not None)
    return found


def _parameters(model):
    """The distinct parameters of model's tree (shared ones once), without calling overridable methods."""
    params, seen = [], set()
    for module in _submodules(model):
        for param in _object_getattribute(module, "_parameters").values():
            if param is not None and _id(param) not in seen:
                seen.add(_id(param))
                params.append(_plain_tensor(param, "a parameter of the model"))
    return params


@_checked
def check_param_count(model, expected, hint="", what=None):
    """model has exactly `expected` parameters; `hint` says what usually explains a difference."""
    what = what or _type(model).__name__
    if not _isinstance(model, _Module):
        raise CheckFailed(f"{what}: expected a torch.nn.Module, got {_describe(model)}")
    count = sum(_numel(param) for param in _parameters(model))
    if count != expected:
        raise CheckFailed(_with_hint(f"{what}: expected {expected:,} parameters, found {count:,}", hint))


@_checked
def check_built_from_torch(model, what=None):
    """model and every module in it are built in the notebook from torch layers, not from a reference."""
    _require_own_model(model, what or _type(model).__name__)


def _require_own_model(model, what):
    if not _isinstance(model, _Module):
        raise CheckFailed(f"{what}: expected a torch.nn.Module, got {_describe(model)}")
    for module in _submodules(model):
        for cls in _type(module).__mro__:
            origin = vars(cls).get("__module__", "")
            if _type(origin) is str and origin.startswith(REFERENCE_PACKAGES):
                raise CheckFailed(
                    f"not graded: {what} uses {origin}.{cls.__qualname__}, a reference implementation; "
                    "build it yourself from torch.nn layers"
                )


def _layout_of(model_or_shapes, what):
    """{state_dict key: shape} of a module (read without its overridable methods' help) or of such a dict."""
    if _type(model_or_shapes) is dict:
        return {name: tuple(shape) for name, shape in model_or_shapes.items()}
    if not _isinstance(model_or_shapes, _Module):
        raise CheckFailed(f"{what}: expected a torch.nn.Module, got {_describe(model_or_shapes)}")
    return {name: tuple(tensor.shape) for name, tensor in _state_dict(model_or_shapes).items()}


def _sequential_in_place_of_layer(found_name, expected_names):
    """('c5', 'c5.weight') when found_name is 'c5.0.weight' and 'c5.weight' is expected: an nn.Sequential
    stands where the scaffold has a single layer. None otherwise."""
    parts = found_name.split(".")
    for position in range(1, _len(parts) - 1):
        wanted = ".".join(parts[:position] + parts[position + 1:])
        if parts[position].isdigit() and wanted in expected_names:
            return ".".join(parts[:position]), wanted
    return None


@_checked
def check_layout(model, reference, what=None, hint=""):
    """model's layers have the reference's names and shapes (its state_dict keys and tensor shapes), so that
    tests can load the reference's weights into it. reference: an nn.Module (the meta device is enough) or a
    dict {key: shape}. The message names what is missing or extra and, for the commonest slip, what to change."""
    _require_layout(model, reference, what or _type(model).__name__, hint)


def _require_layout(model, reference, what, hint):
    expected, found = _layout_of(reference, what), _layout_of(model, what)
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    for name in unexpected:
        slip = _sequential_in_place_of_layer(name, missing)
        if slip is not None:
            wrapper, wanted = slip
            raise CheckFailed(_with_hint(
                f"{what}: found {name} where the scaffold has {wanted}: {wrapper} is an nn.Sequential here; make "
                f"{wrapper} the layer itself and apply its activation (and any pooling or flattening) in forward",
                hint))
    if missing or unexpected:
        parts = ([f"missing {', '.join(missing[:4])}" + (" ..." if _len(missing) > 4 else "")] if missing else []) + (
            [f"unexpected {', '.join(unexpected[:4])}" + (" ..." if _len(unexpected) > 4 else "")]
            if unexpected else [])
        raise CheckFailed(_with_hint(f"{what}: the layer names differ from the scaffold's ({'; '.join(parts)}): "
                                     "name and nest the layers as the scaffold does", hint))
    for name, shape in expected.items():
        if found[name] != shape:
            raise CheckFailed(_with_hint(f"{what}: {name} has shape {found[name]}, expected {shape}", hint))


@_checked
def check_matches_reference(model, reference, inputs, what, rtol=1e-5, atol=1e-5):
    """model computes what reference computes: reference's weights are loaded into model (so the layer
    names must match the scaffold), both run in eval mode without gradients, and the outputs are compared."""
    _require_own_model(model, what)
    _require_layout(model, reference, what, "")
    _load_state_dict(model, _state_dict(reference), strict=True)
    inputs = inputs if _type(inputs) is tuple else (inputs,)
    with _no_grad():
        _module_train(model, False)
        _module_train(reference, False)
        expected = _module_call(reference, *inputs)
        actual = _module_call(model, *inputs)
    _compare_tensors(actual, expected, f"{what}: the output for the reference's weights", rtol, atol, "")


# ---- shortcuts: an exercise that *is* a computation the course or torch already does ----

_shortcut_logs = []  # one list per running call_without_shortcuts: what the answer called that it must not
_COURSE_HELPER = ", one of the course's own helpers"


def course_helper(function):
    """Mark a utils function that does an exercise's job (counting parameters, a receptive field):
    call_without_shortcuts refuses an answer that calls it."""
    name = f"{function.__module__}.{function.__qualname__}"

    @wraps(function)
    def helper(*args, **kwargs):
        for log in _shortcut_logs:
            log.append(f"called {name}{_COURSE_HELPER}")
        return function(*args, **kwargs)

    return helper


class _RecordFunctions(TorchFunctionMode):
    """Notes every call of the refused torch functions (nn.LocalResponseNorm reaches F.local_response_norm)."""

    def __init__(self, refused, log):
        super().__init__()
        self.refused, self.log = refused, log

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if any(func is refused for refused in self.refused):
            self.log.append(f"called {getattr(func, '__module__', 'torch')}.{getattr(func, '__name__', func)}")
        return func(*args, **(kwargs or {}))


class _RecordOperations(TorchDispatchMode):
    """Notes every tensor operation whose name contains one of the refused words ('convolution', 'pool')."""

    def __init__(self, words, log):
        super().__init__()
        self.words, self.log = words, log

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__.split(".")[0]
        if any(word in name for word in self.words):
            self.log.append(f"ran a built-in {name}")
        return func(*args, **(kwargs or {}))


@_checked
def call_without_shortcuts(function, *args, what, refuse_layers=True, refuse=(), **kwargs):
    """function(*args, **kwargs), refused ("not graded: ...") when the answer took a shortcut during the call:
    called one of the course's helpers (utils.inspect's counts and receptive fields), ran a model under torch's
    FlopCounterMode, built a layer with parameters (unless refuse_layers=False), or called a refused torch
    function (refuse: functions such as F.local_response_norm, or words naming tensor operations such as
    "convolution" or "pool")."""
    functions = tuple(item for item in refuse if _type(item) is not str)
    words = tuple(item for item in refuse if _type(item) is str)
    log = []

    def note_layer(module, name, param):
        cls = _type(module)
        where = "nn" if cls.__module__.startswith("torch.nn.") else cls.__module__
        log.append(f"built a layer with parameters ({where}.{cls.__qualname__})")

    def note_flop_counter(module, inputs):
        # FlopCounterMode counts through a dispatch mode of its own module, active while the model runs.
        if any(_type(mode).__module__ == "torch.utils.flop_counter" for mode in _get_current_dispatch_mode_stack()):
            log.append("counted with torch.utils.flop_counter.FlopCounterMode")

    handle = torch.nn.modules.module.register_module_parameter_registration_hook(note_layer) if refuse_layers else None
    counter_handle = torch.nn.modules.module.register_module_forward_pre_hook(note_flop_counter)
    _shortcut_logs.append(log)
    try:
        with contextlib.ExitStack() as modes:
            if functions:
                modes.enter_context(_RecordFunctions(functions, log))
            if words:
                modes.enter_context(_RecordOperations(words, log))
            result = function(*args, **kwargs)
    finally:
        _shortcut_logs.remove(log)
        counter_handle.remove()
        if handle is not None:
            handle.remove()
    if log:
        # A course helper is the telling reason: count_params(nn.Conv2d(...)) also builds a layer, first.
        reason = next((entry for entry in log if entry.endswith(_COURSE_HELPER)), log[0])
        raise CheckFailed(f"not graded: {what} {reason}; the exercise is to compute this yourself")
    return result


# The snapshot, last, so that it covers this module too: replacing one check (checks.check_close = ...)
# is then detected by every other.
_SNAPSHOT = _take_snapshot(_WATCHED_MODULES + _WATCHED_CLASSES + [sys.modules[__name__]])
