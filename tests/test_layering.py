"""The layering rules of DESIGN.md, checked on the source (AST only, nothing imported).

a. no function-local import of one of the package's own modules;
b. no import cycle among the package's modules outside ``<pkg>._core`` (collapsed to one node);
c. the user-facing subpackages (nn, optim, data, distributed, amp, utils, torch) import only the
   public package, their own modules, other public subpackages and the declared modules, and never
   touch storage (``._data``, ``._device``, ``._backend``).

The checkers are plain functions of a package directory and a package name, so that
``test_checkers_*`` can run them on small fake packages built in ``tmp_path``.
"""
from __future__ import annotations

import ast
import importlib.util
import pathlib
import textwrap

import pytest

USER_FACING = ("nn", "optim", "data", "distributed", "amp", "utils", "torch")
# the declared private modules user-facing code may use: the fused nn kernels, and the
# PyTorch-signature functions the torch face re-exports
DECLARED_MODULES = ("_nn_kernels", "_torch_functions")
STORAGE_ATTRS = frozenset({"_data", "_device", "_backend"})


# -- reading the package ---------------------------------------------------------------------
class Module:
    def __init__(self, name, path, is_package, root):
        self.name, self.path, self.is_package = name, path, is_package
        self.where = path.relative_to(root).as_posix()
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def read_package(pkg_dir, pkg_name):
    """``{dotted name: Module}`` for every .py file under ``pkg_dir``."""
    pkg_dir = pathlib.Path(pkg_dir)
    mods = {}
    for path in sorted(pkg_dir.rglob("*.py")):
        parts = list(path.relative_to(pkg_dir).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join([pkg_name] + parts)
        mods[name] = Module(name, path, is_package, pkg_dir.parent)
    return mods


def _type_checking(test):
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_nodes(tree):
    """``(node, in_function, under_type_checking)`` for every import statement."""
    out = []

    def visit(node, in_func, in_tc):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append((child, in_func, in_tc))
            elif isinstance(child, ast.If) and _type_checking(child.test):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), in_func, True)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), in_func, in_tc)
            else:
                visit(child, in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                           ast.Lambda)), in_tc)
    visit(tree, False, False)
    return out


def _is_own(name, pkg):
    return name == pkg or name.startswith(pkg + ".")


def resolve_from(mod, node):
    """The absolute module named by an ``ImportFrom`` in ``mod`` (``None``: beyond the top)."""
    if not node.level:
        return node.module
    base = mod.name.split(".") if mod.is_package else mod.name.split(".")[:-1]
    if node.level - 1 > len(base) - 1:
        return None
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _prefixes(name):
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def imported_modules(mod, node, mods, pkg):
    """The package's modules that executing import ``node`` (in ``mod``) depends on.

    ``import a.b.c`` and ``from a.b.c import n`` run the ``__init__`` of every package on
    the way (except the ones ``mod`` itself lives in, which are already running) and the
    module itself; ``from X import n`` adds ``X.n`` when that is a submodule, and needs
    ``X`` itself whenever ``n`` is a name defined by ``X`` (``from .. import name``, ``from
    pkg import name``: a real dependency on that ``__init__``)."""
    def executed(target):
        return [p for p in _prefixes(target) if p in mods and not _is_own(mod.name, p)]

    if isinstance(node, ast.Import):
        deps = []
        for alias in node.names:
            if _is_own(alias.name, pkg):
                deps += executed(alias.name) or ([alias.name] if alias.name in mods else [])
        return deps
    target = resolve_from(mod, node)
    if target is None or not _is_own(target, pkg):
        return []
    deps = list(executed(target))
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if alias.name != "*" and sub in mods:
            deps.append(sub)
        elif target in mods:
            deps.append(target)  # a name defined by the package/module body itself
    return list(dict.fromkeys(deps))


# -- check a ----------------------------------------------------------------------------------
def function_local_imports(pkg_dir, pkg):
    """``file:line: statement`` for each import of an own module inside a function body."""
    bad = []
    for mod in read_package(pkg_dir, pkg).values():
        for node, in_func, _ in import_nodes(mod.tree):
            if not in_func:
                continue
            if isinstance(node, ast.ImportFrom):
                own = node.level > 0 or _is_own(node.module or "", pkg)
            else:
                own = any(_is_own(a.name, pkg) for a in node.names)
            if own:
                bad.append(f"{mod.where}:{node.lineno}: {ast.unparse(node)}")
    return bad


# -- check b ----------------------------------------------------------------------------------
def import_graph(pkg_dir, pkg):
    """``{node: {node: [file:line, ...]}}``: module-level imports between the package's
    modules, every ``<pkg>._core.*`` module collapsed into ``<pkg>._core``."""
    mods = read_package(pkg_dir, pkg)
    core = f"{pkg}._core"

    def node_of(name):
        return core if _is_own(name, core) else name

    graph = {node_of(m): {} for m in mods}
    for mod in mods.values():
        for node, in_func, in_tc in import_nodes(mod.tree):
            if in_func or in_tc:
                continue
            for dep in imported_modules(mod, node, mods, pkg):
                a, b = node_of(mod.name), node_of(dep)
                if a == b == core:
                    continue  # _core may import itself cyclically
                graph[a].setdefault(b, []).append(f"{mod.where}:{node.lineno}")
    return graph


def strongly_connected(graph):
    """Tarjan's SCCs (iterative), each a sorted list of nodes."""
    index, low, on_stack, stack, sccs = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    scc = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        scc.append(w)
                        if w == v:
                            break
                    sccs.append(sorted(scc))
    return sccs


def import_cycles(pkg_dir, pkg):
    """One line per cycle: its modules, then every import edge inside it (file:line)."""
    graph = import_graph(pkg_dir, pkg)
    bad = []
    for scc in strongly_connected(graph):
        members = set(scc)
        if len(scc) == 1 and scc[0] not in graph[scc[0]]:
            continue
        edges = [f"{a} -> {b} ({', '.join(where)})" for a in scc
                 for b, where in sorted(graph[a].items()) if b in members]
        bad.append(f"cycle {{{', '.join(scc)}}}: " + "; ".join(edges))
    return bad


# -- check c ----------------------------------------------------------------------------------
def _public(name, pkg):
    return all(not p.startswith("_") for p in name.split(".")[1:]) if _is_own(name, pkg) \
        else True


def user_facing_violations(pkg_dir, pkg, subpackages=USER_FACING, declared=DECLARED_MODULES):
    """``file:line: ...`` for each import from the package that the user-facing subpackages
    may not use, and each storage attribute access (``._data``, ``._device``, ``._backend``)."""
    mods = read_package(pkg_dir, pkg)
    declared = {f"{pkg}.{d}" for d in declared}
    bad = []

    def allowed_module(name, own_sub):
        return _is_own(name, own_sub) or name in declared or _public(name, pkg)

    for mod in mods.values():
        sub = next((f"{pkg}.{s}" for s in subpackages if _is_own(mod.name, f"{pkg}.{s}")), None)
        if sub is None:
            continue
        for node, _, _ in import_nodes(mod.tree):
            if isinstance(node, ast.Import):
                wrong = [a.name for a in node.names if _is_own(a.name, pkg)
                         and not allowed_module(a.name, sub)]
            else:
                target = resolve_from(mod, node)
                if target is None:
                    wrong = [f"{'.' * node.level}{node.module or ''} (beyond {pkg})"]
                elif not _is_own(target, pkg):
                    wrong = []
                elif not allowed_module(target, sub):
                    wrong = [target]
                elif _is_own(target, sub):
                    wrong = []  # anything from the subpackage's own modules
                else:  # a public module or a declared one: public names only
                    wrong = [f"{target}.{a.name}" for a in node.names
                             if a.name.startswith("_") and f"{target}.{a.name}" not in declared]
            for w in wrong:
                bad.append(f"{mod.where}:{node.lineno}: imports {w}: {ast.unparse(node)}")
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.Attribute) and node.attr in STORAGE_ATTRS:
                bad.append(f"{mod.where}:{node.lineno}: storage access "
                           f"{ast.unparse(node)}")
    return bad


# -- the real package ---------------------------------------------------------------------------
PKG = "arraylib"
# the installed package's directory, pathlib.Path(arraylib.__file__).parent, found without
# running the package (a broken import must not hide the layering report)
PKG_DIR = pathlib.Path(importlib.util.find_spec(PKG).origin).parent


def _report(what, bad):
    return f"{len(bad)} {what}:\n  " + "\n  ".join(bad)


def test_no_function_local_imports_of_arraylib():
    bad = function_local_imports(PKG_DIR, PKG)
    assert not bad, _report("function-local imports of arraylib modules "
                            "(import at module level, down the layer table)", bad)


def test_no_import_cycles_outside_core():
    bad = import_cycles(PKG_DIR, PKG)
    assert not bad, _report("import cycles among arraylib modules (outside arraylib._core)", bad)


def test_user_facing_subpackages_use_the_public_namespace():
    bad = user_facing_violations(PKG_DIR, PKG)
    assert not bad, _report(f"private imports or storage access in arraylib."
                            f"{{{','.join(USER_FACING)}}} (allowed: the public namespace, "
                            f"public subpackages, their own modules, {DECLARED_MODULES})",
                            bad)


def test_reads_the_whole_package():
    mods = read_package(PKG_DIR, PKG)
    assert {PKG, f"{PKG}.nn", f"{PKG}.optim", f"{PKG}._core"} <= set(mods)
    assert len(mods) > 40


# -- the checkers on fake packages ---------------------------------------------------------------
def _write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).format(pkg=root.name))
    return root


CLEAN = {
    "__init__.py": """
        from . import _dtypes, a, autograd  # not nn: nn imports the package
        from .a import public
        from ._core._t import Tensor
        """,
    "_dtypes.py": "",
    "a.py": """
        import importlib
        from . import b, _dtypes
        from .b import thing
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from . import c  # not executed: no edge
        def public():
            import scipy, numpy as np  # third-party lazy imports are fine
            importlib.import_module("{pkg}.c")
            return c
        """,
    "b.py": "thing = 1\n",
    "c.py": "from . import a\n",
    "_nn_kernels.py": "from ._core._t import Tensor\n",
    "_windows.py": "",
    "_core/__init__.py": "from . import _t\n",
    "_core/_t.py": "from . import _g\nclass Tensor: pass\n",
    "_core/_g.py": "from . import _t\nfrom ._t import Tensor\n",  # cyclic inside _core: fine
    "autograd/__init__.py": "from .. import _dtypes\nb = 2\n",
    "nn/__init__.py": "from .x import f\nfrom . import functional\n",
    "nn/functional.py": """
        import {pkg}
        from {pkg} import Tensor, autograd
        from {pkg}.autograd import b
        from .. import _nn_kernels
        from .._nn_kernels import Tensor as K
        from ._private import _helper
        import {pkg}.autograd
        def f(t):
            return t.data, t.device
        """,
    "nn/_private.py": "def _helper(): pass\n",
    "nn/x.py": "from .functional import {pkg} as _p\nfrom . import functional as F\n"
               "def f(x): return x\n",
    "optim/__init__.py": "from ..nn import functional\n",
}


@pytest.fixture(params=["fakepkg", "otherlib"])
def fake(request, tmp_path):
    """A clean fake package under a parametrized name (the checkers know no name)."""
    return lambda extra={}: _write(tmp_path / request.param, {**CLEAN, **extra})


def test_checkers_pass_a_clean_package(fake):
    root = fake()
    assert function_local_imports(root, root.name) == []
    assert import_cycles(root, root.name) == []
    assert user_facing_violations(root, root.name) == []
    g = import_graph(root, root.name)
    pkg = root.name
    # the graph is right: from-imports resolve to submodules, _core is one node
    assert set(g[f"{pkg}.a"]) == {f"{pkg}.b", f"{pkg}._dtypes"}
    assert set(g[pkg]) == {f"{pkg}._dtypes", f"{pkg}.a", f"{pkg}.autograd", f"{pkg}._core"}
    assert f"{pkg}._core._t" not in g and f"{pkg}._core" not in g[f"{pkg}._core"]
    assert set(g[f"{pkg}.nn.functional"]) == {pkg, f"{pkg}.autograd", f"{pkg}._nn_kernels",
                                              f"{pkg}.nn._private"}
    assert set(g[f"{pkg}.optim"]) == {f"{pkg}.nn", f"{pkg}.nn.functional"}


def test_checker_function_local_import(fake):
    root = fake({"b.py": """
        thing = 1
        class K:
            def m(self):
                from . import a
                import {pkg}.c
                from {pkg} import c as cc
                def inner():
                    from .a import public
        """})
    bad = function_local_imports(root, root.name)
    assert [b.split(": ")[0] for b in bad] == [f"{root.name}/b.py:{n}" for n in (5, 6, 7, 9)]
    assert "from . import a" in bad[0]


def test_checker_foreign_package_is_third_party(fake):
    # "arraylib" is just another third-party name to a package called otherwise
    root = fake({"b.py": "def f():\n    import arraylib\n    from arraylib import nn\n"})
    assert function_local_imports(root, root.name) == []


@pytest.mark.parametrize("files, members", [
    ({"b.py": "from . import a\n"}, ["a", "b"]),                     # a <-> b
    ({"b.py": "from .a import public\n"}, ["a", "b"]),
    ({"b.py": "from {pkg} import public\nthing = 1\n"}, ["", "a", "b"]),  # into __init__
    ({"b.py": "import {pkg}\n"}, ["", "a", "b"]),
    ({"autograd/__init__.py": "from . import g\n", "autograd/g.py": "from . import h\n",
      "autograd/h.py": ""}, []),  # siblings named through their package: no edge to it
    ({"autograd/__init__.py": "from . import g\n", "autograd/g.py": "from .. import autograd\n"},
     ["autograd", "autograd.g"]),  # names its (running) package, as `import pkg` does
    ({"autograd/__init__.py": "from . import g\nh = 1\n", "autograd/g.py": "from . import h\n"},
     ["autograd", "autograd.g"]),  # a name from the parent's body: a real cycle
    ({"nn/x.py": "from .y import g\n", "nn/y.py": "g = 1\n",
      "nn/__init__.py": "from .x import f\nf2 = f\n"}, []),
    ({"nn/x.py": "from ..nn import f2\n", "nn/__init__.py": "from .x import f\nf2 = f\n"},
     ["nn", "nn.x"]),
    ({"_core/_t.py": "from .. import c\nclass Tensor: pass\n",
      "c.py": "from ._core._t import Tensor\n"}, ["_core", "c"]),  # _core is one node
    ({"_core/_g.py": "from .._dtypes import x\n", "_dtypes.py": "from ._core._t import T\n"},
     ["_core", "_dtypes"]),
    ({"c.py": "from .d import e\n", "d/__init__.py": "", "d/e.py": "from ..c import x\n"},
     ["c", "d.e"]),
    ({"c.py": "from .d import e\n", "d/__init__.py": "from .. import c\n", "d/e.py": ""},
     ["c", "d"]),  # from .d import e runs d/__init__ too
    ({"c.py": "import {pkg}.d.e\n", "d/__init__.py": "from .. import c\n", "d/e.py": ""},
     ["c", "d"]),
    ({"b.py": "try:\n    from . import a\nexcept ImportError:\n    pass\n"}, ["a", "b"]),
    ({"b.py": "class K:\n    from . import a\n"}, ["a", "b"]),
])
def test_checker_import_cycles(fake, files, members):
    root = fake(files)
    pkg = root.name
    bad = import_cycles(root, pkg)
    if not members:
        assert bad == []
        return
    names = [f"{pkg}.{m}" if m else pkg for m in members]
    assert len(bad) == 1, bad
    assert bad[0].startswith("cycle {" + ", ".join(sorted(names)) + "}"), bad
    assert ".py:" in bad[0]


def test_checker_self_import(fake):
    root = fake({"b.py": "from .b import thing\nthing = 1\n"})
    bad = import_cycles(root, root.name)
    assert len(bad) == 1 and f"{root.name}.b -> {root.name}.b" in bad[0]


def test_strongly_connected_components():
    g = {1: {2: 0}, 2: {3: 0}, 3: {1: 0, 4: 0}, 4: {5: 0}, 5: {4: 0}, 6: {}, 7: {7: 0}}
    assert sorted(strongly_connected(g)) == [[1, 2, 3], [4, 5], [6], [7]]
    # a long chain: no recursion limit
    chain = {i: {i + 1: 0} for i in range(5000)}
    chain[5000] = {0: 0}
    assert strongly_connected(chain) == [sorted(range(5001))]


@pytest.mark.parametrize("source, offender", [
    ("from {pkg}._windows import y\n", "{pkg}._windows"),
    ("from .._windows import y\n", "{pkg}._windows"),
    ("from .. import _windows\n", "{pkg}._windows"),
    ("from {pkg} import _dtypes\n", "{pkg}._dtypes"),
    ("import {pkg}._core._t\n", "{pkg}._core._t"),
    ("from {pkg}._core import _t\n", "{pkg}._core"),
    ("from {pkg}.autograd import _secret\n", "{pkg}.autograd._secret"),
    ("from .._nn_kernels import _private_helper\n", "{pkg}._nn_kernels._private_helper"),
    ("def f():\n    from .._windows import y\n", "{pkg}._windows"),  # local imports count too
    ("def f(t):\n    return t._data\n", "t._data"),
    ("def f(t):\n    return t.grad._device.name\n", "t.grad._device"),
    ("def f(t):\n    return t._device._backend\n", "t._device._backend"),
])
def test_checker_user_facing(fake, source, offender):
    root = fake({"nn/x.py": source})
    pkg = root.name
    bad = user_facing_violations(root, pkg)
    offender = offender.format(pkg=pkg)
    assert bad and all(b.startswith(f"{pkg}/nn/x.py:") for b in bad), bad
    assert any(offender in b for b in bad), bad
    # the same code elsewhere in the package is not this check's business
    root2 = fake({"nn/x.py": "def f(x): return x\n", "b.py": source})
    assert user_facing_violations(root2, pkg) == []


def test_checker_user_facing_reports_every_offender(fake):
    root = fake({"optim/sgd.py": "from {pkg}._windows import y\nfrom {pkg} import _dtypes\n"
                                 "def f(t):\n    return t._data + t._backend\n",
                 "data/__init__.py": "from .._core._t import Tensor\n"})
    bad = user_facing_violations(root, root.name)
    lines = sorted(b.split(": ")[0] for b in bad)
    pkg = root.name
    assert lines == [f"{pkg}/data/__init__.py:1", f"{pkg}/optim/sgd.py:1",
                     f"{pkg}/optim/sgd.py:2", f"{pkg}/optim/sgd.py:4", f"{pkg}/optim/sgd.py:4"]
