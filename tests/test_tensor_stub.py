"""The type stub ``arraylib/_core/_tensor.pyi`` lists every member of ``Tensor``."""
import ast
import importlib.util
from pathlib import Path

import arraylib as xp

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("gen_tensor_stub", ROOT / "tools" / "gen_tensor_stub.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


def _stub_members() -> set:
    tree = ast.parse(gen.STUB.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    names = set()
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
    return names


def test_stub_lists_every_member_of_tensor():
    bound = set(gen.members()) | {"__array_priority__", "__array_ufunc__"}
    stub = _stub_members()
    assert not bound - stub, f"missing from the stub (run tools/gen_tensor_stub.py): {sorted(bound - stub)}"
    assert not stub - bound, f"in the stub but not on Tensor: {sorted(stub - bound)}"


def test_stub_is_up_to_date():
    assert gen.render() == gen.STUB.read_text(), "run tools/gen_tensor_stub.py"


def test_stub_covers_standard_and_pytorch_members():
    stub = _stub_members()
    for name in ("__add__", "__matmul__", "__getitem__", "__setitem__", "__array_namespace__",
                 "to_device", "mT", "shape", "dtype", "device", "backward", "view", "sum",
                 "add_", "uniform_"):
        assert name in stub and hasattr(xp.Tensor, name), name
