"""The grading policy in one place: what an answer may not use, change or do, and what an unanswered cell is.

Everything that enforces the policy reads it from here: the static scan of answer cells (autograde.scan),
the guard installed inside the grading kernel (autograde.kernel_guard), the checks the tests call
(utils.checks), the learner's progress table (autograde.learner) and nbgrader's configuration
(nbgrader_config.py). Where bubblewrap runs, the operating system enforces the rest (autograde.bubblewrap).
This module imports nothing, so every one of them, the kernel included, can read it cheaply.
"""

# The answer cell's stub in a released lesson (nbgrader's ClearSolutions writes it); an answer cell that
# still holds STUB_LINE has not been answered.
STUB_LINE = "raise NotImplementedError()"
ANSWER_STUB = f"# YOUR CODE HERE\n{STUB_LINE}"

# Reference implementations: an answer that imports them, or a model built from (or subclassing) them,
# earns nothing.
REFERENCE_PACKAGES = ("utils.models", "torchvision.models", "timm")

# Packages whose code the tests compute with, or that are the grader: an answer must not change them
# (assign or delete their attributes, rewrite their functions' code or their classes).
PROTECTED_PACKAGES = ("torch", "numpy", "math", "builtins", "sys", "os", "utils", "autograde", "torchvision",
                      "timm", "IPython", "ipykernel", "nbgrader")

# The modules the checks compute with: utils.checks snapshots their functions when the grading kernel
# starts and refuses to grade when one was replaced.
CHECKED_MODULES = ("builtins", "math", "numpy", "torch", "torch.nn", "torch.nn.functional", "torch.nn.init")

# Names the tests use, with the module each must stand for: an answer must not rebind them (GradingPlan
# adds each lesson's own, e.g. get_model).
PROTECTED_NAMES = {"torch": "torch", "nn": "torch.nn", "F": "torch.nn.functional", "np": "numpy", "math": "math",
                   "checks": "utils.checks", "utils": "utils", "builtins": "builtins"}

# Built-in functions and classes the checks and the tests call: an answer must not rebind their names, and
# the checks refuse to grade when one was replaced in the builtins module.
PROTECTED_BUILTINS = (
    "isinstance", "issubclass", "type", "len", "bool", "float", "int", "str", "repr", "hasattr", "getattr",
    "setattr", "print", "AssertionError", "Exception", "callable", "object", "super", "abs", "all", "any",
    "round", "sum", "min", "max", "range", "zip", "enumerate", "iter", "next", "sorted", "list", "tuple",
    "dict", "set", "id", "hash", "open", "__import__", "compile", "exec", "eval", "vars",
)

# Packages an answer may not import, with why: each is a way around the grading, not a way to compute.
# (Plain computing, with torch, numpy, math, collections, itertools, functools..., is unaffected.)
FORBIDDEN_PACKAGES = {
    "importlib": "imports modules by computed names",
    "imp": "imports modules by computed names",
    "builtins": "can replace Python's built-in functions",
    "ctypes": "can rewrite the interpreter's memory",
    "gc": "can reach any object, including the checks' originals",
    "inspect": "can read the tests' variables from their frames",
    "IPython": "can hook into the kernel",
    "ipykernel": "can hook into the kernel",
    "subprocess": "starts other programs",
    "multiprocessing": "starts other processes",
    "threading": "runs code in the background while the tests run",
    "_thread": "runs code in the background while the tests run",
    "signal": "can intercept the grader's signals",
    "pty": "starts other programs",
    "sqlite3": "can open the gradebook",
    "sqlalchemy": "can open the gradebook",
    "nbgrader": "is the grader",
    "autograde": "is the grader",
    "unittest.mock": "patches other modules",
    "marshal": "builds code objects",
    "runpy": "runs other files",
    "code": "runs code from strings",
    "codeop": "compiles code from strings",
    "pickle": "can run arbitrary code when loading",
    "shutil": "copies and deletes files",
    "socket": "opens network connections",
    "resource": "changes the kernel's resource limits",
}

# Audit events (PEP 578) the kernel guard refuses whoever raises them (a thread or an atexit callback has no
# notebook code on its stack), with what the learner is told is not allowed. The static scan flags the
# modules and functions behind them as well (tests/test_autograde_guards.py checks that the two agree).
REFUSED_EVENTS = {
    "sqlite3.connect": "opening a database",
    "subprocess.Popen": "starting a program",
    "os.system": "starting a program",
    "os.exec": "starting a program",
    "os.posix_spawn": "starting a program",
    "os.spawn": "starting a program",
    "os.fork": "starting a process",
    "os.forkpty": "starting a process",
    "pty.spawn": "starting a program",
    "sys.addaudithook": "adding audit hooks",
}
# Audit events refused only when notebook code raises them: libraries use these tools for their own purposes.
REFUSED_FROM_NOTEBOOK = {
    "gc.get_objects": "walking every object",
    "gc.get_referrers": "walking every object",
    "gc.get_referents": "walking every object",
    "sys.settrace": "tracing the tests",
    "sys.setprofile": "tracing the tests",
    "sys._current_frames": "reading other threads' frames",
    "code.__new__": "building code objects",
}
