"""``to_dot``: the graph behind a tensor as Graphviz DOT text."""
from __future__ import annotations

from .._core._tensor import Tensor
from .._core._graph import Node

__all__ = ["to_dot"]


def _shape(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def to_dot(*outputs, names=None) -> str:
    """Graphviz DOT text of the graph behind ``outputs``: one box per operation
    (with its output shapes), one ellipse per leaf tensor that requires grad
    (shape, dtype, and its name if ``names`` maps names to tensors), and the
    outputs.  Arrows point the way data flows.  Render with
    ``dot -Tpng graph.dot -o graph.png``."""
    if len(outputs) == 1 and isinstance(outputs[0], (tuple, list)):
        outputs = tuple(outputs[0])
    label_of = {id(t): n for n, t in (names or {}).items()}
    lines = ["digraph autograd {", '  rankdir="LR";',
             '  node [fontname="Helvetica", fontsize=11];']
    ids: dict = {}

    def ident(obj) -> str:
        key = id(obj)
        if key not in ids:
            ids[key] = f"n{len(ids)}"
        return ids[key]

    stack = []
    for j, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"to_dot: expected Tensors, got {type(out).__name__}")
        oid = f"out{j}"
        name = label_of.get(id(out), f"output {j}" if len(outputs) > 1 else "output")
        lines.append(f'  {oid} [label="{name}\\n{_shape(out.shape)} {out.dtype}", shape=doubleoctagon, '
                     'style=filled, fillcolor="#c6e5c6"];')
        if out._grad_fn is not None:
            lines.append(f"  {ident(out._grad_fn)} -> {oid};")
            stack.append(out._grad_fn)
        elif out._requires_grad:
            lines.append(f"  {ident(out)} -> {oid};")
            stack.append(out)
    seen = set()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        me = ident(obj)
        if isinstance(obj, Node):
            shapes = ", ".join(_shape(s) for s, _ in obj.out_meta)
            lines.append(f'  {me} [label="{obj.prim.name}\\n{shapes}", shape=box, style="rounded,filled", '
                         'fillcolor="#dde8f8"];')
            for e in obj.edges:
                if e is None:
                    continue
                src = e[0]
                stack.append(src)
                lines.append(f"  {ident(src)} -> {me};")
        else:
            name = label_of.get(id(obj), "leaf")
            lines.append(f'  {me} [label="{name}\\n{_shape(obj.shape)} {obj.dtype}", shape=ellipse, '
                         'style=filled, fillcolor="#f8e4c8"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
