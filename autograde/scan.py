"""Static scan of learner code: the answers that must get no points, whatever their tests say.

A cell is flagged when it
- imports a reference implementation (utils.models, torchvision.models, timm), by any route: import
  statements, importlib, __import__, getattr tricks, attribute access on the package;
- changes torch, numpy, the builtins or the checking helpers (assigning or deleting their attributes,
  setattr, rebinding the names the tests use, defining dunder attributes on other objects);
- hooks into the kernel or the interpreter (get_ipython and its input transformers, events and magics,
  shell escapes, tracing, audit hooks, frame inspection, global torch module hooks or function modes);
- reaches the grading machinery (solutions/, the gradebook, nbgrader, autograde, sqlite, subprocesses).

The scan reads the code the kernel will run: IPython syntax (magics, !shell) is first translated the way
IPython translates it. It is one layer of several; see autograde/kernel_guard.py and utils/checks.py for the
checks made while the code runs, and autograde/policy.py for the lists it applies.
"""

import ast
import re
import symtable
import sys
from dataclasses import dataclass

from IPython.core.inputtransformer2 import TransformerManager

from .policy import (
    FORBIDDEN_PACKAGES,
    PROTECTED_BUILTINS,
    PROTECTED_NAMES,
    PROTECTED_PACKAGES,
    REFERENCE_PACKAGES,
    REFUSED_EVENTS,
)

# Built-in names whose only use in an answer would be to reach around the grading.
FORBIDDEN_NAMES = {
    "__import__": "imports modules by computed names",
    "__builtins__": "can replace Python's built-in functions",
    "__loader__": "reaches the import machinery",
    "exec": "runs code from strings",
    "eval": "runs code from strings",
    "compile": "compiles code from strings",
    "globals": "can rewrite the notebook's global names",
    "vars": "can rewrite any namespace",
    "breakpoint": "stops the kernel",
    "get_ipython": "hooks into the kernel",
}
# Attribute names that only matter for tampering, whatever object they are read from.
FORBIDDEN_ATTRIBUTES = {
    "input_transformers_post": "registers an IPython input transformer",
    "input_transformers_cleanup": "registers an IPython input transformer",
    "input_transformer_manager": "registers an IPython input transformer",
    "ast_transformers": "registers an IPython AST transformer",
    "register_magic_function": "registers an IPython magic",
    "_getframe": "reads other frames (the tests' variables)",
    "_current_frames": "reads other frames (the tests' variables)",
    "currentframe": "reads other frames (the tests' variables)",
    "f_back": "reads other frames (the tests' variables)",
    "f_locals": "reads other frames (the tests' variables)",
    "f_globals": "reads other frames (the tests' variables)",
    "f_builtins": "reads other frames",
    "tb_frame": "reads other frames (the tests' variables)",
    "gi_frame": "reads other frames",
    "settrace": "traces the tests while they run",
    "setprofile": "traces the tests while they run",
    "modules": None,  # only on sys: see _forbidden_attribute
    "meta_path": "changes how imports are resolved",
    "path_hooks": "changes how imports are resolved",
    "excepthook": "changes how errors are reported",
    "displayhook": "changes how results are shown",
    "__globals__": "reaches another function's global names",
    "__code__": "rewrites a function's code",
    "__closure__": "reaches another function's variables",
    "__builtins__": "can replace Python's built-in functions",
    "__subclasses__": "walks the class hierarchy to reach hidden objects",
    "__bases__": "rewrites a class's bases",
    "__mro__": "walks the class hierarchy",
    "__torch_function__": "overrides every torch function",
    "__torch_dispatch__": "overrides every torch operation",
    "TorchFunctionMode": "overrides every torch function",
    "TorchDispatchMode": "overrides every torch operation",
    "popen": "starts other programs",
    "kill": "sends signals to other processes",
    "killpg": "sends signals to other processes",
    "setrlimit": "changes the kernel's resource limits",
}
for _prefix in ("register_module_forward", "register_module_backward", "register_module_full_backward",
                "register_module_buffer_registration", "register_module_module_registration",
                "register_module_parameter_registration"):
    FORBIDDEN_ATTRIBUTES[_prefix + "_hook"] = "registers a hook that changes every torch module"
    FORBIDDEN_ATTRIBUTES[_prefix + "_pre_hook"] = "registers a hook that changes every torch module"
# The os and sys functions behind the audit events the kernel guard refuses (os.system, os.execv,
# os.posix_spawn, sys.addaudithook...): the scan names them before the notebook runs.
REFUSED_FUNCTIONS = {}
for _event, _reason in REFUSED_EVENTS.items():
    _module, _, _prefix = _event.partition(".")
    if _module in ("os", "sys"):  # the event os.exec stands for execv, execve...; os.spawn for spawnv, spawnl...
        REFUSED_FUNCTIONS.update({name: _reason for name in dir(sys.modules[_module]) if name.startswith(_prefix)})
# Submodules of torch that only tampering needs.
FORBIDDEN_TORCH_PARTS = {"library": "overrides torch operators", "overrides": "overrides torch functions",
                         "_C": "reaches torch's internals", "_dynamo": "reaches torch's internals"}
SAFE_MAGICS = {"time", "timeit", "matplotlib"}
# Settings an answer may change: they tune torch, they do not replace what the tests call.
SETTINGS = ("torch.backends",)
# A string that names the grading machinery's files: solutions/, the gradebook, submissions.
GRADING_PATH = re.compile(
    r"(^|[/\\])(solutions|gradebook|autograded|submitted|\.git)([/\\]|$)|gradebook\.db|nbgrader_config",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Finding:
    line: int
    reason: str

    def __str__(self):
        return f"line {self.line}: {self.reason}"


def _parse(source: str):
    """The cell's code as the kernel runs it (IPython syntax translated), or None if it cannot run."""
    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return None


def scan_cell(source: str, protected: dict[str, str | None] | None = None) -> list[Finding]:
    """What, in one cell's code, must not earn points (empty when the cell is fine). `protected` adds names
    the tests rely on (name -> the module path it must be imported from, or None: not to be rebound)."""
    tree = _parse(source)
    if tree is None:
        return []  # the kernel cannot run it either: nothing of it executes
    scanner = _Scanner({**PROTECTED_NAMES, **(protected or {})})
    scanner.visit(tree)
    # by line, and on one line in the order found (an import's reference finding before its binding's)
    return sorted(dict.fromkeys(scanner.findings), key=lambda finding: finding.line)


def _dotted(node) -> str | None:
    """'torch.nn.functional' for the expression torch.nn.functional, None for anything not a plain chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id] + parts[::-1])
    return None


def _is_reference(module: str) -> bool:
    return any(module == ref or module.startswith(ref + ".") for ref in REFERENCE_PACKAGES)


def _forbidden_package(module: str) -> str | None:
    for package, why in FORBIDDEN_PACKAGES.items():
        if module == package or module.startswith(package + "."):
            return f"imports {package}, which {why}"
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, protected: dict[str, str | None]):
        self.protected = protected
        self.findings: list[Finding] = []
        # local name -> the module or object it stands for, e.g. {"tvm": "torchvision.models", "nn": "torch.nn"}
        self.aliases = {"torch": "torch", "nn": "torch.nn", "F": "torch.nn.functional", "np": "numpy",
                        "math": "math", "checks": "utils.checks", "utils": "utils", "os": "os", "sys": "sys"}
        self.depth = 0  # > 0 inside a function or class body

    def flag(self, node, reason):
        self.findings.append(Finding(getattr(node, "lineno", 1), reason))

    def resolve(self, node) -> str | None:
        """The full dotted name an expression stands for, through import aliases."""
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        base = self.aliases.get(head)
        if base is None:
            return None
        return f"{base}.{rest}" if rest else base

    def check_module(self, node, module: str):
        if _is_reference(module):
            self.flag(node, f"imports {module}, a reference implementation; build it yourself from torch.nn layers")
        elif module.startswith("torch.") and module.split(".")[1] in FORBIDDEN_TORCH_PARTS:
            self.flag(node, f"uses {module}, which {FORBIDDEN_TORCH_PARTS[module.split('.')[1]]}")
        else:
            why = _forbidden_package(module)
            if why:
                self.flag(node, why)

    # ---- imports ----

    def visit_Import(self, node):
        for alias in node.names:
            self.check_module(node, alias.name)
            if alias.asname:
                self.aliases[alias.asname] = alias.name
                self.check_binding(node, alias.asname, imported=alias.name)
            else:
                self.aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]

    def visit_ImportFrom(self, node):
        module = "." * node.level + (node.module or "")
        if node.level:
            self.flag(node, "uses a relative import; import modules by their full names")
            return
        self.check_module(node, module)
        for alias in node.names:
            if alias.name == "*":
                if module in ("utils", "torchvision") or _is_reference(module):
                    self.flag(node, f"imports * from {module}, which includes a reference implementation")
                continue
            self.check_module(node, f"{module}.{alias.name}")
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
            self.check_binding(node, alias.asname or alias.name, imported=f"{module}.{alias.name}")

    # ---- names and attributes ----

    def visit_Attribute(self, node):
        name = node.attr
        why = FORBIDDEN_ATTRIBUTES.get(name)
        on_self = isinstance(node.value, ast.Name) and node.value.id == "self"
        if name == "modules":
            why = "rewrites the table of imported modules" if self.resolve(node.value) == "sys" else None
        elif name in ("__dict__", "__setattr__", "__delattr__") and not on_self and not _is_super_call(node.value):
            why = "changes another object's attributes behind its back"
        if why:
            self.flag(node, f"uses .{name}, which {why}")
        if name in REFUSED_FUNCTIONS:
            self.flag(node, f"uses .{name}: {REFUSED_FUNCTIONS[name]} is not allowed while grading")
        resolved = self.resolve(node)
        if resolved:
            self.check_module(node, resolved)
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in FORBIDDEN_NAMES and isinstance(node.ctx, ast.Load):
            self.flag(node, f"uses {node.id}, which {FORBIDDEN_NAMES[node.id]}")

    def visit_Call(self, node):
        function = node.func
        if isinstance(function, ast.Name) and function.id in ("getattr", "setattr", "delattr", "hasattr"):
            if node.args:
                self.check_reflection(node, function.id)
        self.generic_visit(node)

    def visit_Expr(self, node):
        # IPython writes %timeit, %%time, %matplotlib as get_ipython().run_line_magic("timeit", "code"):
        # harmless magics pass, but the code they run is scanned like any other.
        call = node.value
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr in ("run_line_magic", "run_cell_magic")
                and isinstance(call.func.value, ast.Call) and isinstance(call.func.value.func, ast.Name)
                and call.func.value.func.id == "get_ipython" and call.args
                and all(isinstance(argument, ast.Constant) for argument in call.args)
                and call.args[0].value in SAFE_MAGICS):
            for argument in call.args[1:]:
                for finding in scan_cell(str(argument.value)):
                    self.flag(node, finding.reason)
            return
        self.generic_visit(node)

    def check_reflection(self, node, function):
        """getattr/setattr/delattr/hasattr: harmless on the learner's own objects, not on modules."""
        target = node.args[0]
        resolved = self.resolve(target)
        plain_target = _dotted(target) is not None  # a name or a.b.c, not a computed expression
        attribute = node.args[1] if len(node.args) > 1 else None
        literal = attribute.value if isinstance(attribute, ast.Constant) and isinstance(attribute.value, str) else None
        if function in ("setattr", "delattr"):
            if resolved and resolved.split(".")[0] in PROTECTED_PACKAGES or literal and literal.startswith("__"):
                self.flag(node, f"calls {function}() on {resolved or 'a dunder attribute'}, which changes "
                                "code the tests rely on (monkeypatching)")
            elif not plain_target:
                self.flag(node, f"calls {function}() on a computed object; set attributes directly")
            return
        if literal is not None:
            if resolved:
                self.check_module(node, f"{resolved}.{literal}")
            if literal in {*FORBIDDEN_ATTRIBUTES, *REFUSED_FUNCTIONS, "models", "__dict__", "__setattr__"}:
                self.flag(node, f"reads the attribute {literal!r} indirectly")
        elif resolved or not plain_target:
            self.flag(node, f"calls {function}() with a computed attribute name on "
                            f"{resolved or 'a computed object'}; name attributes directly")

    def visit_Constant(self, node):
        if isinstance(node.value, str) and GRADING_PATH.search(node.value):
            self.flag(node, f"refers to {node.value!r}, a file of the grader (solutions, gradebook, submissions)")
        if isinstance(node.value, str) and _is_reference(node.value.strip()):
            self.flag(node, f"names {node.value!r}, a reference implementation")

    # ---- assignments: monkeypatching and rebinding the names the tests use ----

    def check_target(self, node, target):
        if isinstance(target, ast.Attribute):
            resolved = self.resolve(target.value)
            if resolved and resolved.split(".")[0] in PROTECTED_PACKAGES and not resolved.startswith(SETTINGS):
                self.flag(node, f"assigns {resolved}.{target.attr}, which changes code the tests rely on "
                                "(monkeypatching)")
            elif target.attr.startswith("__") and target.attr.endswith("__") and not (
                    isinstance(target.value, ast.Name) and target.value.id == "self"):
                self.flag(node, f"assigns .{target.attr} on another object, which changes how it behaves "
                                "everywhere (monkeypatching)")
        elif isinstance(target, ast.Name):
            self.check_binding(node, target.id)
            if self.depth == 0 and target.id.startswith("__") and target.id.endswith("__"):
                self.flag(node, f"rebinds {target.id}, which the interpreter relies on")
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.check_target(node, element)
        elif isinstance(target, ast.Starred):
            self.check_target(node, target.value)
        elif isinstance(target, ast.Subscript):
            resolved = self.resolve(target.value)
            if resolved and resolved.split(".")[0] in PROTECTED_PACKAGES:
                self.flag(node, f"changes an entry of {resolved}, which the tests rely on")

    def check_binding(self, node, name, imported=None):
        """Binding a name the tests use is fine only when it is an import of the same module."""
        if self.depth == 0 and (name in self.protected or name in PROTECTED_BUILTINS):
            if imported is not None and self.protected.get(name) == imported:
                return  # `import torch`, `from torch import nn`: the same object the tests use
            self.flag(node, f"rebinds the name {name!r}, which the tests use")

    def visit_Assign(self, node):
        for target in node.targets:
            self.check_target(node, target)
        self.record_alias(node.targets, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self.check_target(node, node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self.check_target(node, node.target)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self.check_target(node, target)
        self.generic_visit(node)

    def visit_For(self, node):
        self.check_target(node, node.target)
        self.generic_visit(node)

    def visit_withitem(self, node):
        if node.optional_vars is not None:
            self.check_target(node.context_expr, node.optional_vars)
        self.generic_visit(node)

    def visit_Global(self, node):
        for name in node.names:
            if name in self.protected or name in PROTECTED_BUILTINS:
                self.flag(node, f"rebinds the global name {name!r}, which the tests use")

    def record_alias(self, targets, value):
        """`T = torch.Tensor` makes T stand for torch.Tensor in later lines."""
        resolved = self.resolve(value)
        if resolved:
            for target in targets:
                if isinstance(target, ast.Name):
                    self.aliases[target.id] = resolved

    def visit_FunctionDef(self, node):
        self.check_binding(node, node.name)
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self.check_binding(node, node.name)
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1


def _is_super_call(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def top_level_bindings(source: str) -> dict[str, str | None]:
    """Names a cell binds at its top level: name -> the module path imported (None for other bindings)."""
    tree = _parse(source)
    bound: dict[str, str | None] = {}
    for node in tree.body if tree else []:
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                bound[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and not node.level:
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound[node.name] = None
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With)):
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            for target in targets + [item.optional_vars for item in getattr(node, "items", [])]:
                for name in ast.walk(target) if target is not None else []:
                    if isinstance(name, ast.Name):
                        bound[name.id] = None
    return bound


def free_names(source: str) -> set[str]:
    """Names a cell reads from earlier cells: read at its top level or as globals inside its functions,
    comprehensions and classes, and not bound by the cell itself."""
    tree = _parse(source)
    if tree is None:
        return set()
    top = symtable.symtable(ast.unparse(tree), "<cell>", "exec")
    bound = {symbol.get_name() for symbol in top.get_symbols() if symbol.is_assigned() or symbol.is_imported()}
    read = {symbol.get_name() for symbol in top.get_symbols() if symbol.is_referenced()}
    nested = list(top.get_children())
    while nested:
        table = nested.pop()
        read |= {symbol.get_name() for symbol in table.get_symbols() if symbol.is_global() and symbol.is_referenced()}
        nested.extend(table.get_children())
    return read - bound
