"""The public surface: what ``tinyconv`` advertises exists, nothing else leaks, the core has no
import circle, and every Function and public function follows the project's conventions."""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import subprocess
import sys
import types

import pytest

import tinyconv as tc
from tinyconv.autograd import Function
from tinyconv.tensor import Tensor

PACKAGE_ROOT = pathlib.Path(tc.__file__).parent

# Changing this list changes the public API: do it on purpose, in the same commit as the change.
EXPECTED_TOP_LEVEL = sorted([
    "Device", "LoadError", "MinMax", "Tensor", "abs", "add", "allclose", "amax", "amin", "arange",
    "argmax", "argmin", "as_dtype", "as_tensor", "bool", "cat", "chunk", "clamp", "clip", "concat",
    "cos", "cuda_available", "default_generator", "device", "div", "empty", "empty_like",
    "enable_grad", "eq", "equal", "exp", "eye", "flatten", "float16", "float32", "float64",
    "from_dlpack", "from_numpy", "full", "full_like", "ge", "get_kernels_name", "gt", "int32",
    "int64", "is_grad_enabled", "is_tensor", "le", "linspace", "load", "log", "logsumexp", "lt",
    "manual_seed", "matmul", "max", "maximum", "mean", "min", "minimum", "mul", "ne", "neg",
    "no_grad", "ones", "ones_like", "pad", "permute", "pow", "rand", "rand_like", "randint",
    "randn", "randn_like", "randperm", "register_kernels", "relu", "reshape", "save",
    "set_grad_enabled", "set_kernels", "sigmoid", "sin", "split", "sqrt", "squeeze", "stack",
    "std", "sub", "sum", "summary", "tanh", "tensor", "transpose", "uint8", "unsqueeze",
    "use_kernels", "var", "where", "zeros", "zeros_like",
])

# Modules whose __all__ is checked name by name (importing each is part of the test).
MODULES_WITH_ALL = [
    "tinyconv", "tinyconv.nn", "tinyconv.nn.functional", "tinyconv.optim", "tinyconv.data",
    "tinyconv.models", "tinyconv.testing", "tinyconv.cuda", "tinyconv.dtypes", "tinyconv.random",
    "tinyconv.shapes", "tinyconv.autograd", "tinyconv.ops", "tinyconv.tensor",
    "tinyconv.creation", "tinyconv.functions",
]

# The core, bottom to top: each module may import only tinyconv modules listed before it (and the
# kernels, which sit below everything). Function-level imports count too: they hide a circle,
# they do not remove it.
CORE_LAYERS = ["tinyconv.backend", "tinyconv.dtypes", "tinyconv.random", "tinyconv.shapes",
               "tinyconv.autograd", "tinyconv.ops", "tinyconv.tensor", "tinyconv.creation",
               "tinyconv.functions"]


def _public_attributes(module: types.ModuleType) -> set[str]:
    """Names in ``dir(module)`` a user would see: no dunders, no private names, no submodules."""
    names = set()
    for name in dir(module):
        if name.startswith("_"):
            continue
        value = getattr(module, name)
        if isinstance(value, types.ModuleType) and value.__name__.startswith(module.__name__ + "."):
            continue  # a submodule (tinyconv.tensor, tinyconv.ops...): Python puts it there
        names.add(name)
    return names


def test_top_level_namespace_is_exactly_all():
    assert _public_attributes(tc) == set(tc.__all__)


def test_top_level_all_is_the_frozen_list():
    assert sorted(tc.__all__) == EXPECTED_TOP_LEVEL
    assert len(tc.__all__) == len(set(tc.__all__)), "a name is listed twice in tc.__all__"


@pytest.mark.parametrize("name", ["np", "builtins", "Optional", "numbers", "Any", "Union",
                                  "annotations", "importlib", "array_module", "to_host"])
def test_implementation_names_do_not_leak(name):
    assert not hasattr(tc, name)
    assert name not in dir(tc)


@pytest.mark.parametrize("module_name", MODULES_WITH_ALL)
def test_every_name_in_all_exists(module_name):
    module = importlib.import_module(module_name)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{module_name}.__all__ advertises names that do not exist: {missing}"


@pytest.mark.parametrize("name", tc._LAZY_SUBMODULES)
def test_every_lazy_submodule_imports(name):
    module = getattr(tc, name)
    assert isinstance(module, types.ModuleType) and module.__name__ == f"tinyconv.{name}"
    assert name in dir(tc)


def test_import_tinyconv_loads_no_subpackage_and_no_heavy_dependency():
    code = ("import sys, tinyconv\n"
            "print(sorted(m for m in ('numba', 'hypothesis', 'cupy', 'torch', 'scipy', "
            "'tinyconv.nn', 'tinyconv.testing', 'tinyconv.models') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_nn_utils_loads_on_first_use():
    assert tc.nn.utils.__name__ == "tinyconv.nn.utils"


def test_unknown_attribute_is_a_clear_attribute_error():
    with pytest.raises(AttributeError, match="module 'tinyconv' has no attribute 'utils'"):
        tc.utils  # noqa: B018 - the attribute access is the test


def _tinyconv_imports(module_name: str) -> set[str]:
    """Every tinyconv module ``module_name`` imports, at any depth of its source."""
    path = pathlib.Path(importlib.import_module(module_name).__file__)
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "tinyconv":  # from tinyconv import ops
                imported |= {f"tinyconv.{alias.name}" for alias in node.names}
            elif node.module.startswith("tinyconv."):
                imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names if a.name.startswith("tinyconv.")}
    return {name for name in imported if not name.startswith("tinyconv.kernels")}


@pytest.mark.parametrize("index", range(len(CORE_LAYERS)), ids=CORE_LAYERS)
def test_core_modules_import_only_the_layers_below(index):
    module_name = CORE_LAYERS[index]
    allowed = set(CORE_LAYERS[:index])
    above = _tinyconv_imports(module_name) - allowed
    assert not above, f"{module_name} imports {sorted(above)}, which sit above it"


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub] + _all_subclasses(sub)
    return found


def test_every_function_is_named_and_placed_by_one_scheme():
    importlib.import_module("tinyconv.nn")  # loads every nn.functional module
    ours = [f for f in _all_subclasses(Function) if f.__module__.startswith("tinyconv.")]
    assert len(ours) > 40
    for function in ours:
        where = function.__module__
        assert function.__name__.endswith("Function"), f"{where}.{function.__name__}"
        assert where == "tinyconv.ops" or where.startswith("tinyconv.nn.functional."), \
            f"{function.__name__} lives in {where}"


def _public_functions(module: types.ModuleType) -> list[tuple[str, object]]:
    return [(name, getattr(module, name)) for name in module.__all__
            if inspect.isfunction(getattr(module, name))
            and getattr(module, name).__module__ == module.__name__]


@pytest.mark.parametrize("module_name", ["tinyconv.dtypes", "tinyconv.random", "tinyconv.shapes",
                                         "tinyconv.autograd", "tinyconv.creation",
                                         "tinyconv.functions", "tinyconv.cuda"])
def test_public_functions_have_type_hints_and_docstrings(module_name):
    module = importlib.import_module(module_name)
    for name, function in _public_functions(module):
        signature = inspect.signature(function)
        assert signature.return_annotation is not inspect.Signature.empty, f"{name}: no return hint"
        for parameter in signature.parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            assert parameter.annotation is not inspect.Parameter.empty, \
                f"{module_name}.{name}: parameter {parameter.name} has no type hint"
        assert (function.__doc__ or "").strip(), f"{module_name}.{name} has no docstring"


def test_every_function_in_ops_is_typed():
    import tinyconv.ops as ops

    for name in ops.__all__:
        for method in ("forward", "backward"):
            if method not in vars(getattr(ops, name)):
                continue  # inherited (AminFunction from AmaxFunction)
            signature = inspect.signature(vars(getattr(ops, name))[method])
            assert signature.return_annotation is not inspect.Signature.empty, f"{name}.{method}"
            for parameter in list(signature.parameters.values())[1:]:
                assert parameter.annotation is not inspect.Parameter.empty, \
                    f"{name}.{method}: {parameter.name}"


def test_every_public_tensor_method_is_documented():
    undocumented = [name for name, value in vars(Tensor).items()
                    if not name.startswith("_") and (callable(value) or isinstance(value, property))
                    and not (inspect.getdoc(value) or "").strip()]
    assert not undocumented
