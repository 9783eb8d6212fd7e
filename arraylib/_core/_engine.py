"""The reverse-mode engine: one pass over the graph in reverse topological order."""
from __future__ import annotations

from operator import attrgetter
from threading import get_ident as _get_ident

from .._dtypes import native_to_dtype
from ._tensor import Tensor, _new
from . import _batching, _graph
from ._graph import Node
from ._grad_mode import anywhere, set_grad_mode, state
from ._namespace import tensor_namespace


def queue_callback(fn) -> None:
    """Run ``fn()`` once, when this thread's next ``backward()`` has accumulated every
    gradient (PyTorch's ``Variable._execution_engine.queue_callback``)."""
    state.callbacks.append(fn)


def _run_callbacks(callbacks) -> None:
    while callbacks:
        callbacks.pop(0)()


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaves) into the leaves' ``.grad``."""
    tensor_backward(tensors, grad_tensors, retain_graph, create_graph, inputs)


def tensor_backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate the gradient of this tensor into the leaves' ``.grad`` (``Tensor.backward``;
    ``autograd.backward`` passes a tensor or a sequence of them as ``self``)."""
    if self.__class__ is not Tensor and _batching.current_level():  # a plain Tensor passes
        _batching.check_backward(self)
    try:
        roots, seeds = _as_roots("backward", self, gradient)
        retain = create_graph if retain_graph is None else retain_graph
        if inputs is None:
            _run(roots, seeds, retain, create_graph, None, accumulate=True)
        else:
            _backward_to_inputs(roots, seeds, retain, create_graph, inputs)
    except BaseException:
        state.callbacks.clear()
        raise
    callbacks = state.callbacks
    if callbacks:
        _run_callbacks(callbacks)


def _backward_to_inputs(roots, seeds, retain, create_graph, inputs):
    """``backward(inputs=...)``: accumulate into the given tensors' ``.grad`` only."""
    targets = _as_tuple("backward", inputs)
    if not targets:
        raise RuntimeError("backward: 'inputs' argument to backward() cannot be empty")
    result = _run(roots, seeds, retain, create_graph, targets, accumulate=True)
    for t, g in zip(targets, result):  # non-leaf inputs get their gradient in .grad too
        if g is not None and t._grad_fn is not None:
            g = g if create_graph else g.detach()
            old = getattr(t, "_grad", None)
            t._grad = g if old is None else (old + g if create_graph else _add_detached(old, g))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not accumulated)."""
    if _batching.current_level():  # inside vmap: batched tensors differentiate their values
        return _batching.grad(_grad, outputs, inputs, grad_outputs, dict(
            retain_graph=retain_graph, create_graph=create_graph, allow_unused=allow_unused,
            materialize_grads=materialize_grads))
    return _grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused,
                 materialize_grads)


def _grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
          allow_unused=None, materialize_grads=False):
    outputs, grad_outputs = _as_roots("grad", outputs, grad_outputs)
    targets = _as_tuple("grad", inputs)
    for t in targets:
        if not t._requires_grad:
            raise RuntimeError("grad: one of the differentiated tensors does not require grad")
    retain = create_graph if retain_graph is None else retain_graph
    result = _run(outputs, grad_outputs, retain, create_graph, targets, accumulate=False)
    for i, g in enumerate(result):
        if g is None:
            if materialize_grads:
                result[i] = tensor_namespace().zeros_like(targets[i])
            elif not allow_unused:
                raise RuntimeError(f"grad: input {i} (shape {targets[i].shape}) was not used in the "
                                   "graph; set allow_unused=True if this is the desired behavior")
    return tuple(result)


def _as_tuple(func, xs):
    xs = (xs,) if isinstance(xs, Tensor) else tuple(xs)
    for x in xs:
        if not isinstance(x, Tensor):
            raise TypeError(f"{func}: expected Tensors, got {type(x).__name__}")
        if x._base is not None:
            _graph.sync_view(x)  # a view sees its base's newest history
    return xs


def _as_roots(func, tensors, grads):
    if grads is None and tensors.__class__ is Tensor and tensors._base is None \
            and tensors._grad_fn is not None:
        data = tensors._data  # the common ``loss.backward()``: one scalar root, seed 1
        if data.shape == ():
            B = tensors._device._backend
            return (tensors,), [_new(B.ones((), dtype=data.dtype, device=B.native_device),
                                     tensors._device)]
    tensors = _as_tuple(func, tensors)
    if grads is None:
        grads = (None,) * len(tensors)
    elif isinstance(grads, Tensor):
        grads = (grads,)
    else:
        grads = tuple(grads)
    if len(grads) != len(tensors):
        raise RuntimeError(f"{func}: got {len(tensors)} tensors and {len(grads)} gradients")
    seeds = []
    for i, (t, g) in enumerate(zip(tensors, grads)):
        if not t._requires_grad:
            raise RuntimeError(f"{func}: element {i} of tensors does not require grad and does not "
                               "have a grad_fn")
        if g is None:
            data = t._data
            if data.ndim != 0 and t.size != 1:
                raise RuntimeError(f"{func}: grad can be implicitly created only for scalar outputs; "
                                   f"got output of shape {t.shape}, pass a gradient")
            B = t._device._backend
            g = _new(B.ones(data.shape, dtype=data.dtype, device=B.native_device), t._device)
        elif not isinstance(g, Tensor):
            g = tensor_namespace().asarray(g, dtype=t.dtype, device=t.device)
        elif g.shape != t.shape:
            raise RuntimeError(f"{func}: mismatch in shape: grad_output[{i}] has shape {g.shape} "
                               f"and output[{i}] has shape {t.shape}")
        elif g._device is not t._device:
            raise RuntimeError(f"{func}: grad_output[{i}] is on device '{g.device}' but output[{i}] "
                               f"is on device '{t.device}'")
        seeds.append(g)
    return tensors, seeds


def _freed_error(node):
    return RuntimeError(
        f"Trying to backward through the graph a second time (or directly access saved "
        f"tensors after they have already been freed): {node!r} was freed by an earlier "
        "backward. Specify retain_graph=True if you need to backward twice.")


def _collect(roots):
    """Nodes reachable from ``roots`` and, for each, how many edges point at it."""
    deps: dict = {}
    stack = []
    for r in roots:
        fn = r._grad_fn
        if fn is not None and fn not in deps:
            deps[fn] = 0
            stack.append(fn)
    get = deps.get
    while stack:
        node = stack.pop()
        if node.freed:
            raise _freed_error(node)
        for e in node.edges:
            if e is not None and e[1] is not None:
                nxt = e[0]
                count = get(nxt)
                if count is None:
                    deps[nxt] = 1
                    stack.append(nxt)
                else:
                    deps[nxt] = count + 1
    return deps, None


def _collect_pruned(roots, target_nodes, target_leaves):
    """Like ``_collect`` but only over the part of the graph that leads to the targets.

    Returns ``(deps, run)``: ``deps`` counts, for each node to visit, the edges from
    nodes whose rule must run; ``run`` is the set of nodes whose VJP rule must run
    (some target lies strictly below them)."""
    leads: dict = {}  # node -> whether a target lies strictly below it
    starts = [r._grad_fn for r in roots if r._grad_fn is not None]
    for root in starts:
        if root in leads:
            continue
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                hit = False
                for e in node.edges:
                    if e is None:
                        continue
                    if e[1] is None:
                        if id(e[0]) in target_leaves:
                            hit = True
                    elif leads[e[0]] or e[0] in target_nodes:
                        hit = True
                leads[node] = hit
                continue
            if node in leads:
                continue
            if node.freed:
                raise _freed_error(node)
            leads[node] = False  # provisional (graphs are acyclic)
            stack.append((node, True))
            for e in node.edges:
                if e is not None and e[1] is not None and e[0] not in leads:
                    stack.append((e[0], False))
    run = {n for n, hit in leads.items() if hit}
    deps = {n: 0 for n in leads if n in run or n in target_nodes}
    for node in run:
        for e in node.edges:
            if e is not None and e[1] is not None and e[0] in deps:
                deps[e[0]] += 1
    return deps, run


def _run(roots, seeds, retain_graph, create_graph, targets, accumulate):
    """Propagate ``seeds`` from ``roots`` through the graph in reverse topological order.

    Leaves get their total gradient once (so their hooks see the sum).  With
    ``targets``, only the part of the graph leading to them runs, and their
    gradients are returned (and accumulated into ``.grad`` when ``accumulate``).

    Without ``create_graph`` (and outside forward mode) the cotangents flow as
    backend storage, not tensors: nothing is recorded or pushed forward, and each rule
    runs on the backend (``Primitive.vjp_storage`` where a primitive has one).
    Tensors are made only where someone sees them: hooks, ``grad()`` results, leaves.
    """
    capture = None
    run = None
    if targets is not None:
        capture, target_nodes, target_leaves = _capture_map(targets)
        deps, run = _collect_pruned(roots, target_nodes, target_leaves)
    else:
        deps, _ = _collect(roots)
    raw = not create_graph and not state.dual_level  # forward-over-reverse needs tensors
    call_vjp = _call_vjp_storage if raw else _call_vjp
    fit = _fit_raw if raw else _fit
    result = [None] * (len(targets) if targets is not None else 0)
    buffers: dict = {}
    leaf_buf: dict = {}
    prev_mode = state.grad_enabled
    turn_off = prev_mode and not create_graph  # the common case, inlined: set_grad_mode(False)
    if turn_off:
        state.grad_enabled = False
        anywhere.no_grad.add(_get_ident())
    elif prev_mode is not bool(create_graph):
        set_grad_mode(create_graph)
    try:
        ready = []
        for r, s in zip(roots, seeds):
            fn = r._grad_fn
            if raw:
                s = s._data
            if fn is None:
                _add_leaf(leaf_buf, r, s)
            elif fn in deps:
                _accumulate(buffers, fn, r._oi, s)
                if deps[fn] == 0 and fn not in ready:
                    ready.append(fn)
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None)
            if grads is None:
                grads = [None] * node.prim.nout
            if node.hooks or node.retained:
                grads = _apply_node_hooks(node, grads, raw)
            if capture is not None:
                for k, g in enumerate(grads):
                    for i in capture.get((node, k), ()):
                        result[i] = _as_tensor(g, node.device) if raw else g
                if node not in run:
                    continue
            in_grads = call_vjp(node, grads)
            if not retain_graph:  # free what the node holds
                node.saved = node.out_data = node.out_tangents = node.params = None
                node.freed = True
            edges = node.edges
            if len(in_grads) != len(edges):
                _checked(node.prim, in_grads, node)  # raises
            for e, meta, g in zip(edges, node.in_meta, in_grads):  # (no strict=: 0.1 us)
                if e is None:
                    continue
                target, k = e
                if g is not None:
                    data = g if raw else g._data
                    if data.shape != meta[0] or data.dtype is not meta[1]:
                        g = fit(g, meta, node)  # (a no-op for an equal dtype object)
                if k is not None:
                    left = deps.get(target)
                    if left is None:
                        continue
                    if g is not None:
                        slot = buffers.get(target)
                        if slot is None:
                            slot = buffers[target] = [None] * target.prim.nout
                        prev = slot[k]
                        slot[k] = g if prev is None else prev + g
                    deps[target] = left - 1
                    if left == 1:
                        ready.append(target)
                elif g is not None:
                    if capture is not None and id(target) not in capture:
                        continue
                    prev = leaf_buf.get(id(target))
                    leaf_buf[id(target)] = (target, g if prev is None else prev[1] + g)
        handed = {id(seeds[0]._data)} if len(seeds) == 1 else {id(s._data) for s in seeds}
        for leaf, g in leaf_buf.values():
            if raw:
                g = _new(leaf._device._backend.ensure_array(g), leaf._device)
            _deliver_leaf(leaf, g, capture, accumulate, result, handed, create_graph)
    finally:
        if turn_off:
            state.grad_enabled = True
            anywhere.no_grad.discard(_get_ident())
        else:
            set_grad_mode(prev_mode)
    return result


def _as_tensor(g, device):
    """A tensor around a storage cotangent (None stays None)."""
    if g is None:
        return None
    return _new(device._backend.ensure_array(g), device)


def _capture_map(targets):
    capture: dict = {}
    target_nodes = set()
    target_leaves = set()
    for i, t in enumerate(targets):
        if t._grad_fn is not None:
            key = (t._grad_fn, t._oi)
            target_nodes.add(t._grad_fn)
        else:
            key = id(t)
            target_leaves.add(key)
        capture.setdefault(key, []).append(i)
    return capture, target_nodes, target_leaves


def _add_leaf(leaf_buf, leaf, g):
    prev = leaf_buf.get(id(leaf))
    leaf_buf[id(leaf)] = (leaf, g if prev is None else prev[1] + g)


def _deliver_leaf(leaf, g, capture, accumulate, result, handed, create_graph):
    """Run the leaf's hooks, then return or accumulate its gradient."""
    hooks = getattr(leaf, "_hooks", None)  # set by requires_grad_: no AttributeError
    if hooks:
        g = _run_hooks(hooks, g)
    if capture is not None:
        idx = capture.get(id(leaf))
        if idx is None:
            return
        if not accumulate:
            for i in idx:
                result[i] = g if result[i] is None else result[i] + g
            return
    if id(g._data) in handed or not create_graph and g._requires_grad:
        g = g.detach() if not create_graph else g
        g = _copy(g)  # never hand out storage the caller or another leaf holds
    handed.add(id(g._data))
    old = getattr(leaf, "_grad", None)
    leaf._grad = g if old is None else (old + g if create_graph else _add_detached(old, g))
    post = getattr(leaf, "_post_hooks", None)
    if post:
        for hook in list(post):
            hook(leaf)


def _accumulate(buffers, node, k, g):
    slot = buffers.get(node)
    if slot is None:
        slot = buffers[node] = [None] * node.prim.nout
    slot[k] = g if slot[k] is None else slot[k] + g


def _apply_node_hooks(node, grads, raw=False):
    if raw:
        grads = [_as_tensor(g, node.device) for g in grads]
        grads = _apply_node_hooks(node, grads)
        return [None if g is None else g._data for g in grads]
    if node.hooks:
        for k, hooks in node.hooks.items():
            if grads[k] is not None:
                grads[k] = _run_hooks(hooks, grads[k])
    if node.retained:
        for k, ref in node.retained.items():
            t = ref()
            if t is not None and grads[k] is not None:
                g = grads[k] if grads[k]._grad_fn is not None else _copy(grads[k])
                old = getattr(t, "_grad", None)
                t._grad = g if old is None else old + g
    return grads


def _run_hooks(hooks, g):
    for hook in list(hooks):
        new = hook(g)
        if new is not None:
            g = _checked_hook_result(hook, new, g)
    return g


def _checked_hook_result(hook, new, g):
    """A tensor hook's replacement gradient, which must be a tensor like ``g``."""
    name = getattr(hook, "__name__", type(hook).__name__)
    if not isinstance(new, Tensor):
        raise TypeError(f"backward: hook '{name}' returned {type(new).__name__!r}; expected a "
                        "Tensor or None")
    if new.shape != g.shape:
        raise RuntimeError(f"backward: hook '{name}' has changed the size of the gradient: got "
                           f"shape {new.shape}, expected {g.shape}")
    if new._device is not g._device:
        raise RuntimeError(f"backward: hook '{name}' returned a gradient on device "
                           f"'{new.device}', expected '{g.device}'")
    return new


def _call_vjp(node: Node, grads):
    """Run the node's VJP rule on tensors, on arraylib's namespace (a graph of it is made)."""
    prim = node.prim
    nout = prim.nout
    if nout == 1:
        g = grads[0]
        if g is None:
            g = _zeros_for(node, 0)
    else:
        g = tuple(gk if gk is not None else _zeros_for(node, k) for k, gk in enumerate(grads))
    if prim.saves_output:
        out = node.output(0) if nout == 1 else tuple(node.output(k) for k in range(nout))
    else:
        out = None
    inputs = node.inputs() if prim.saves_inputs else (None,) * len(node.edges)
    result = prim.vjp(tensor_namespace(), _needs(node), g, out, *inputs, **node.params)
    return _checked(prim, result, node)


def _needs(node: Node):
    """Which inputs of ``node`` want a cotangent: the node's edges, truthy where one is
    wanted (no list is built on the hot path)."""
    return node.edges


def _checked(prim, result, node):
    if len(result) != len(node.edges):
        raise RuntimeError(f"internal error: vjp of {prim.name} returned {len(result)} gradients "
                           f"for {len(node.edges)} inputs")
    return result


def _call_vjp_storage(node: Node, grads):
    """``_call_vjp`` on storage: the rule runs on the backend (its storage form if it has one)."""
    prim = node.prim
    rule = prim.vjp_storage or prim.vjp
    if prim.nout == 1:
        g = grads[0]
        if g is None:
            g = _zeros_for(node, 0)._data
        out = node.output_data(0) if prim.saves_output else None
    else:
        g = tuple(gk if gk is not None else _zeros_for(node, k)._data
                  for k, gk in enumerate(grads))
        out = tuple(node.output_data(k) for k in range(prim.nout)) if prim.saves_output else None
    if prim.saves_inputs:
        for vc, seen in node.versions:
            if vc[0] != seen:
                node.inputs()  # raises, naming the modified input
        inputs = map(_storage_of, node.saved)  # (no comprehension frame)
    else:
        inputs = (None,) * len(node.edges)
    return rule(node.device._backend, node.edges, g, out, *inputs, **node.params)  # needs: edges


_storage_of = attrgetter("_data")


def _zeros_for(node: Node, k: int) -> Tensor:
    """A zero cotangent for output ``k`` of ``node`` (an output that got none)."""
    shape, native_dtype = node.out_meta[k]
    B = node.device.backend
    return _new(B.zeros(shape, dtype=native_dtype, device=B.native_device), node.device)


def _broadcast_axes(gshape, shape) -> tuple:
    """Axes of a cotangent of shape ``gshape`` that broadcasting added to ``shape``."""
    lead = len(gshape) - len(shape)
    return tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1)


def _fit_raw(g, meta, node):
    """``_fit`` on storage (cotangents without ``create_graph``)."""
    return _fit_to(node.device._backend, g, meta[0], meta[1])


def _fit(g, meta, node=None):
    """``_fit_raw`` on tensors (a graph of the derivative is made)."""
    shape, native_dtype = meta
    dtype = native_to_dtype(id(native_dtype)) or g._device._backend.dtype_from_native(native_dtype)
    return _fit_to(tensor_namespace(), g, shape, dtype)


def sum_to_shape(ns, g, shape):
    """Undo broadcasting: sum the cotangent ``g`` over the axes that broadcasting to its
    shape added to ``shape`` (the one place this is done; ``broadcast_to``'s VJP too).

    ``ns`` is the backend (storage) or arraylib's namespace (tensors)."""
    if g.shape != shape:
        axes = _broadcast_axes(g.shape, shape)
        if axes:
            g = ns.sum(g, axis=axes, keepdims=True)
        if g.shape != shape:
            g = ns.reshape(g, tuple(shape))
    return g


def _fit_to(ns, g, shape, dtype):
    """Undo broadcasting and match the input's dtype."""
    g = sum_to_shape(ns, g, shape)
    if g.dtype != dtype:
        if ns.isdtype(g.dtype, "complex floating") and not ns.isdtype(dtype, "complex floating"):
            g = ns.real(g)
        if g.dtype != dtype:
            g = ns.astype(g, dtype)
    return g


def _copy(g):
    """A copy of a cotangent with its own storage (differentiable when ``g`` is)."""
    return tensor_namespace().asarray(g, copy=True)


def _add_detached(old, g):
    out = old.detach() + g
    return out

