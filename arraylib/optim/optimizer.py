"""``Optimizer``: the base of arraylib's optimizers, in PyTorch's shape.

An optimizer holds ``param_groups`` (a list of dicts: ``params`` plus the group's
hyperparameters), ``defaults`` and ``state`` (a dict keyed by parameter).  Steps run
under ``no_grad`` and write the new values into the parameters' storage in place
(``p -= lr * d``), so references to the parameters (a module's attributes, views)
see them.  Only the public namespace is used, so optimizers work on every device;
their state lives on the parameters' device.
"""
from __future__ import annotations

import functools
from collections import defaultdict

import arraylib as al

__all__ = ["Optimizer", "required"]


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


def _no_grad_step(step):
    """Run ``step`` under ``no_grad`` (the closure, if any, runs with grad enabled)."""
    @functools.wraps(step)
    def wrapper(self, closure=None):
        loss = None
        if closure is not None:
            with al.enable_grad():
                loss = closure()
        with al.no_grad():
            self._step()
        return loss
    return wrapper


class Optimizer:
    """Base class: ``Optimizer(params, defaults)``.

    ``params`` is an iterable of tensors, or of dicts each with a ``params`` entry and
    hyperparameters that override ``defaults`` for that group.  Subclasses implement
    ``_step()`` (called under ``no_grad``).
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)
        self.param_groups: list = []
        if isinstance(params, al.Tensor):
            raise TypeError(f"{type(self).__name__}: params argument given to the optimizer "
                            "should be an iterable of Tensors or dicts, but got a Tensor")
        param_groups = list(params)
        if not param_groups:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (a dict with ``params``) with its own hyperparameters."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: param_group must be a dict, got "
                            f"{type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, al.Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{name}: optimizer parameters need to be organized in ordered "
                            "collections, but the ordering of tensors in sets changes between "
                            "runs; use a list instead")
        params = list(params) if params is not None else []
        for p in params:
            if not isinstance(p, al.Tensor):
                raise TypeError(f"{name}: optimizer can only optimize Tensors, got "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor")
        group["params"] = params
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"{name}: parameter group didn't specify a value of required "
                                 f"optimization parameter {key}")
            group.setdefault(key, default)
        self._validate(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{name}: a parameter group contains the same parameter twice")
        if seen.intersection(ids):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)
        self._init_group_state(group)

    def _validate(self, group: dict) -> None:
        """Check a group's hyperparameters (subclasses raise ValueError)."""

    def _init_group_state(self, group: dict) -> None:
        """Create state eagerly (Adagrad does)."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: to None (default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = al.zeros_like(g)

    @_no_grad_step
    def step(self, closure=None):
        """One optimization step; ``closure`` re-evaluates the model and returns the loss."""

    def _step(self) -> None:
        raise NotImplementedError

    # -- checkpoints ------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``,
        parameters numbered in the order of ``param_groups`` (PyTorch's layout).  The
        state tensors are referenced, not copied."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                if id(p) not in index:
                    index[id(p)] = len(index)
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore from ``state_dict()``; tensors go to each parameter's device (and,
        for floating-point state other than ``step``, its dtype)."""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has {len(groups)} "
                             f"parameter groups, the optimizer has {len(self.param_groups)}")
        for g_new, g_old in zip(groups, self.param_groups):
            if len(g_new["params"]) != len(g_old["params"]):
                raise ValueError(f"{name}.load_state_dict: loaded state dict contains a parameter "
                                 "group that doesn't match the size of optimizer's group "
                                 f"({len(g_new['params'])} vs {len(g_old['params'])})")
        id_map = {}
        for g_new, g_old in zip(groups, self.param_groups):
            for i, p in zip(g_new["params"], g_old["params"]):
                id_map[i] = p
        state = defaultdict(dict)
        for k, s in state_dict["state"].items():
            p = id_map.get(k)
            if p is None:
                continue
            state[p] = {key: _cast_state(key, v, p) for key, v in s.items()}
        self.state = state
        new_groups = []
        for g_new, g_old in zip(groups, self.param_groups):
            g = {k: v for k, v in g_new.items() if k != "params"}
            g["params"] = g_old["params"]
            new_groups.append(g)
        self.param_groups = new_groups


def _cast_state(key, value, param):
    if isinstance(value, al.Tensor):
        dtype = param.dtype if key != "step" and value.dtype.kind == "f" and \
            param.dtype.kind == "f" else value.dtype
        detached = value.detach()
        out = detached.to(param.device, dtype)
        return al.asarray(out, copy=True) if out is detached else out
    if isinstance(value, dict):
        return {k: _cast_state(k, v, param) for k, v in value.items()}
    return value


def _check(name, cond, msg):
    if not cond:
        raise ValueError(f"{name}: {msg}")
