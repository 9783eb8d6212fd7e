"""``nn.Module``: parameters, buffers and submodules registered by attribute assignment."""
from __future__ import annotations

from collections import OrderedDict, namedtuple
import itertools

import arraylib as xp
from arraylib import Tensor
from arraylib.autograd import Function

from ..parameter import Parameter, Buffer

__all__ = ["Module"]


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class RemovableHandle:
    """Handle returned by ``register_*_hook``; ``remove()`` unregisters the hook."""

    _next_id = itertools.count()

    def __init__(self, hooks: dict):
        self.hooks = hooks
        self.id = next(RemovableHandle._next_id)

    def remove(self):
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _type_name(value):
    if isinstance(value, Tensor):
        return "Tensor"
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"


def _not_a_tensor(module, value, name="input"):
    """TypeError naming the module when a layer is given something that is not a tensor
    (a NumPy array, a list, None): PyTorch's layers refuse them too.  The layers test
    ``isinstance(input, Tensor)`` inline (their hot path) and call this to raise."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{type(module).__name__}.forward: argument '{name}' must be an "
                        f"arraylib Tensor, not {_type_name(value)}")


def _hook_name(hook):
    return getattr(hook, "__qualname__", None) or getattr(hook, "__name__", None) or repr(hook)


def _checked_grads(module, hook, kind, res, like, no_input_grad=False):
    """The gradients a backward (pre-)hook returned, checked against those it was given
    (``like``): a tuple of the same length, each a Tensor of the same shape or None.
    Errors name the hook and the module, with PyTorch's exception types."""
    where = f"{type(module).__name__}: backward{' pre' if kind == 'grad_output' else ''} " \
            f"hook '{_hook_name(hook)}'"
    if not isinstance(res, (tuple, list)):
        raise TypeError(f"{where} must return None or a tuple of {len(like)} {kind} "
                        f"gradient(s) (Tensor or None), got {_type_name(res)}")
    res = tuple(res)
    if no_input_grad:
        if any(r is not None for r in res):
            raise RuntimeError(f"{where}: backward hook for Modules where no input requires "
                               "gradient should always return None or None for all gradients.")
        return res
    if len(res) != len(like):
        raise RuntimeError(f"{where} returned an invalid number of {kind}, got {len(res)}, but "
                           f"expected {len(like)}")
    for i, (r, g) in enumerate(zip(res, like)):
        if r is None:
            continue
        if not isinstance(r, Tensor):
            raise TypeError(f"{where} returned {_type_name(r)} as {kind}[{i}], expected a "
                            "Tensor or None")
        if g is not None and tuple(r.shape) != tuple(g.shape):
            raise RuntimeError(f"{where} has changed the size of {kind}[{i}]: got shape "
                               f"{tuple(r.shape)}, expected {tuple(g.shape)}")
    return res


class _BackwardHookState:
    """One call of a module with backward hooks: the gradients with respect to its outputs,
    kept for the full backward hooks, which run when those with respect to its inputs are
    ready (or, when no input requires grad, right after the outputs' gradients)."""

    def __init__(self, module, n_inputs, inputs_need_grad):
        self.module = module
        self.n_inputs = n_inputs
        self.inputs_need_grad = inputs_need_grad
        self.grad_output = None

    def on_grad_output(self, grads):
        m = self.module
        for hook in list(m._backward_pre_hooks.values()):
            res = hook(m, grads)
            if res is not None:
                grads = _checked_grads(m, hook, "grad_output", res, grads)
        self.grad_output = grads
        if not self.inputs_need_grad:
            grad_input = (None,) * self.n_inputs
            for hook in list(m._backward_hooks.values()):
                res = hook(m, grad_input, grads)
                if res is not None:
                    _checked_grads(m, hook, "grad_input", res, grad_input, no_input_grad=True)
        return grads

    def on_grad_input(self, grads):
        m = self.module
        for hook in list(m._backward_hooks.values()):
            res = hook(m, grads, self.grad_output)
            if res is not None:
                grads = _checked_grads(m, hook, "grad_input", res, grads)
        return grads


class _BackwardHookFunction(Function):
    """Identity on the tensors of a module's inputs (``where='input'``) or outputs; its
    backward hands their gradients to the module's backward hooks (PyTorch's
    BackwardHookFunction)."""

    @staticmethod
    def forward(ctx, state, where, *tensors):
        ctx.state, ctx.where = state, where
        ctx.mark_non_differentiable(*[t for t in tensors if not t.requires_grad])
        return tensors

    @staticmethod
    def backward(ctx, *grads):
        if ctx.where == "output":
            grads = ctx.state.on_grad_output(grads)
        else:
            grads = ctx.state.on_grad_input(grads)
        return (None, None) + tuple(grads)


def _wrap_tensors(values, state, where):
    """``values`` (a tensor, or a tuple/list of values) with its tensors passed through
    ``_BackwardHookFunction``; returns (new values, the number of tensors)."""
    single = isinstance(values, Tensor)
    seq = (values,) if single else values
    pos = [i for i, v in enumerate(seq) if isinstance(v, Tensor)]
    if not pos:
        return values, 0
    wrapped = _BackwardHookFunction.apply(state, where, *[seq[i] for i in pos])
    if single:
        return wrapped[0], 1
    out = list(seq)
    for i, w in zip(pos, wrapped):
        out[i] = w
    return (tuple(out) if isinstance(values, tuple) else out), len(pos)


def _addindent(s, n):
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


def _size_str(shape):
    return f"torch.Size({list(shape)})"


class Module:
    """Base class of all layers and models (PyTorch's ``nn.Module``).

    Subclasses call ``super().__init__()`` first, then assign ``Parameter``s,
    submodules and buffers as attributes, and define ``forward``.
    """

    training: bool
    _version = 1

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = set()
        d["_forward_pre_hooks_with_kwargs"] = set()
        d["_backward_pre_hooks"] = OrderedDict()
        d["_backward_hooks"] = OrderedDict()

    # -- calling -----------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    def __call__(self, *args, **kwargs):
        d = self.__dict__
        if not d["_forward_pre_hooks"] and not d["_forward_hooks"] and \
                not d["_backward_hooks"] and not d["_backward_pre_hooks"]:
            return self.forward(*args, **kwargs)
        for hid, hook in list(d["_forward_pre_hooks"].items()):
            if hid in d["_forward_pre_hooks_with_kwargs"]:
                res = hook(self, args, kwargs)
                if res is not None:
                    args, kwargs = res
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        state = None
        if (d["_backward_hooks"] or d["_backward_pre_hooks"]) and xp.is_grad_enabled():
            tensors = [a for a in args if isinstance(a, Tensor)]
            state = _BackwardHookState(self, len(tensors),
                                       any(t.requires_grad for t in tensors))
            if d["_backward_hooks"] and state.inputs_need_grad:
                args, _ = _wrap_tensors(args, state, "input")
        out = self.forward(*args, **kwargs)
        for hid, hook in list(d["_forward_hooks"].items()):
            if hid in d["_forward_hooks_with_kwargs"]:
                res = hook(self, args, kwargs, out)
            else:
                res = hook(self, args, out)
            if res is not None:
                out = res
        if state is not None and isinstance(out, (Tensor, tuple, list)):
            out, _ = _wrap_tensors(out, state, "output")  # after the forward hooks (PyTorch)
        return out

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, args)`` before ``forward``; may return new args."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs.add(handle.id)
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """``hook(module, args, output)`` after ``forward``; may return a new output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs.add(handle.id)
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """``hook(module, grad_output)`` when the gradients with respect to the module's
        outputs are computed; may return a tuple replacing ``grad_output`` (same length,
        each a Tensor of the same shape, or None)."""
        return _add_backward_hook("register_full_backward_pre_hook", self._backward_pre_hooks, hook, prepend)

    def register_full_backward_hook(self, hook, prepend=False):
        """``hook(module, grad_input, grad_output)`` when the gradients with respect to the
        module's tensor inputs are computed; may return a tuple replacing ``grad_input``
        (same length, each a Tensor of the same shape, or None).  As in PyTorch, the
        inputs and outputs of a module with such hooks are fresh tensors."""
        return _add_backward_hook("register_full_backward_hook", self._backward_hooks, hook, prepend)

    # -- registration ------------------------------------------------------------
    def register_parameter(self, name: str, param) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(arraylib.nn.Parameter or None required)")
        if param.grad_fn is not None:
            raise ValueError(f"Cannot assign non-leaf Tensor to parameter '{name}'. Model "
                             "parameters must be created explicitly.")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(arraylib Tensor or None required)")
        if isinstance(tensor, Buffer):
            persistent = tensor.persistent
            tensor = tensor.detach()
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    @staticmethod
    def _check_name(name, what):
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string, got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{what} name can\'t contain ".", got {name!r}')
        if name == "":
            raise KeyError(f'{what} name can\'t be empty string ""')

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            for store in (d, d["_buffers"], d["_modules"]):
                store.pop(name, None)
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(arraylib.nn.Parameter or None expected)")
            params[name] = None
            return
        if isinstance(value, Module):
            modules = d.get("_modules")
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            for store in (d, d["_parameters"], d["_buffers"]):
                store.pop(name, None)
            modules[name] = value
            return
        modules = d.get("_modules")
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(arraylib.nn.Module or None expected)")
            modules[name] = None
            return
        buffers = d.get("_buffers")
        if isinstance(value, Buffer):
            if buffers is None:
                raise AttributeError("cannot assign buffer before Module.__init__() call")
            d.pop(name, None)
            self.register_buffer(name, value)
            return
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(arraylib Tensor or None expected)")
            buffers[name] = value
            return
        object.__setattr__(self, name, value)

    def __getattr__(self, name):  # runs for every parameter read in forward: kept lean
        d = self.__dict__
        params = d.get("_parameters")
        if params is not None:
            if name in params:
                return params[name]
            buffers = d["_buffers"]
            if name in buffers:
                return buffers[name]
            modules = d["_modules"]
            if name in modules:
                return modules[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in ("_parameters", "_buffers", "_modules"):
            s = self.__dict__.get(store)
            if s is not None and name in s:
                del s[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = list(super().__dir__()) + list(self._parameters) + list(self._buffers) \
            + list(self._modules)
        return sorted(k for k in set(keys) if not k[0].isdigit())

    def get_submodule(self, target: str) -> Module:
        mod = self
        if target == "":
            return mod
        for item in target.split("."):
            if item not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no attribute `{item}`")
            mod = mod._modules[item]
        return mod

    def get_parameter(self, target: str):
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._parameters:
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return mod._parameters[name]

    # -- iteration -----------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        memo = set()
        for name, m in self._modules.items():
            if m is not None and m not in memo:
                memo.add(m)
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, get, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for mod_prefix, mod in mods:
            for k, v in get(mod):
                if v is None or (remove_duplicate and id(v) in memo):
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield mod_prefix + ("." if mod_prefix else "") + k, v

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse,
                                       remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse,
                                       remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # -- modes and transformations -------------------------------------------------
    def train(self, mode: bool = True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = xp.zeros_like(p.grad)

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _apply(self, fn, params_too=True):
        for m in self.children():
            m._apply(fn, params_too)
        with xp.no_grad():
            for name, p in self._parameters.items():
                if p is None:
                    continue
                new = fn(p.detach())
                if new.device is not p.device or new.dtype != p.dtype:
                    p.data = new
                    if p.grad is not None:
                        p.grad = fn(p.grad)
            for name, b in self._buffers.items():
                if b is not None:
                    self._buffers[name] = fn(b)
        return self

    def to(self, *args, **kwargs):
        """Move/cast parameters and buffers: ``to(device)``, ``to(dtype)``, ``to(device, dtype)``
        (dtype casts apply to floating-point tensors only).  In place; returns self."""
        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"Module.to: unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, (str, xp.Device)):
                device = a
            elif a is not None:
                dtype = a
        if dtype is not None:
            dtype = xp.empty((0,), dtype=dtype, device="cpu").dtype  # normalised (names too)
            if dtype.kind not in "fc":
                raise TypeError(f"Module.to: only floating-point or complex dtypes are accepted, "
                                f"got {dtype}")

        def convert(t):
            if device is not None:
                t = t.to_device(device)
            if dtype is not None and t.dtype.kind in "fc" and t.dtype != dtype:
                if t.dtype.kind == "c" and dtype.kind == "f":
                    return t
                t = xp.astype(t, dtype)
            return t

        return self._apply(convert)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{int(device)}")

    def type(self, dst_type):
        return self.to(dtype=dst_type)

    def float(self):
        return self.to(dtype=xp.float32)

    def double(self):
        return self.to(dtype=xp.float64)

    # -- state dicts -----------------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """Ordered ``{dotted name: tensor}`` of parameters and persistent buffers (PyTorch's
        key names); the tensors share storage with the module's."""
        if args:
            destination = args[0]
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".",
                             keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict, prefix, strict, missing, unexpected, errors,
                              assign=False):
        local = [(k, v) for k, v in self._parameters.items() if v is not None]
        local += [(k, v) for k, v in self._buffers.items()
                  if v is not None and k not in self._non_persistent_buffers_set]
        for name, param in local:
            key = prefix + name
            if key not in state_dict:
                missing.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                try:
                    value = xp.asarray(value)
                except Exception:
                    errors.append(f'While copying the parameter named "{key}", expected a tensor '
                                  f"from checkpoint but received {type(value).__name__}")
                    continue
            if tuple(value.shape) != tuple(param.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{_size_str(value.shape)} from checkpoint, the shape in current "
                              f"model is {_size_str(param.shape)}.")
                continue
            if assign:
                # PyTorch's assign=True: the module takes the state dict's tensors (their
                # storage, dtype and device); a parameter stays a Parameter and keeps its
                # requires_grad, a buffer becomes the given tensor.
                if name in self._parameters:
                    if isinstance(value, Parameter):
                        value.requires_grad_(param.requires_grad)
                    else:
                        value = Parameter(value.detach(), requires_grad=param.requires_grad)
                    self._parameters[name] = value
                else:
                    self._buffers[name] = value
                continue
            with xp.no_grad():
                if value.device != param.device:
                    value = value.to_device(param.device)
                if value.dtype != param.dtype:
                    value = xp.astype(value, param.dtype)
                param[...] = value

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy parameters and buffers from ``state_dict`` (``assign=True``: take the state
        dict's tensors themselves, as PyTorch does: parameters become Parameters sharing
        their storage, dtype and device, keeping the module's ``requires_grad``).  Returns
        ``(missing_keys, unexpected_keys)``; raises RuntimeError naming them when ``strict``,
        and for any shape mismatch."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        missing, unexpected, errors = [], [], []

        def load(module, prefix=""):
            if assign:
                module._load_from_state_dict(state_dict, prefix, True, missing, unexpected,
                                             errors, assign=True)
            else:
                module._load_from_state_dict(state_dict, prefix, True, missing, unexpected,
                                             errors)
            for name, child in module._modules.items():
                if child is not None:
                    load(child, prefix + name + ".")

        load(self)
        expected = set(self.state_dict().keys())
        unexpected.extend(k for k in state_dict.keys() if k not in expected)
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        return _IncompatibleKeys(missing, unexpected)

    # -- printing --------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for key, m in self._modules.items():
            lines.append("(" + key + "): " + _addindent(repr(m), 2))
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __getstate__(self):
        return self.__dict__.copy()

    def __setstate__(self, state):
        self.__dict__.update(state)
        for key in ("_backward_pre_hooks", "_backward_hooks"):  # modules pickled before them
            self.__dict__.setdefault(key, OrderedDict())


def _add_backward_hook(what, hooks, hook, prepend):
    """Register ``hook`` in the ordered dict ``hooks``; a handle removes it."""
    if not callable(hook):
        raise TypeError(f"{what}: expected a callable, got {_type_name(hook)}")
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle
