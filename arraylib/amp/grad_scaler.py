"""``GradScaler``: PyTorch's loss scaling for mixed precision (``torch.amp.GradScaler``).

The loss is multiplied by a scale before ``backward`` so that small half-precision
gradients do not flush to zero; ``unscale_`` divides the gradients back and checks them
for inf/NaN, ``step`` skips the optimizer step when any is found, and ``update`` halves
the scale after such a step, or doubles it after ``growth_interval`` clean steps.  The
scale is a float32 value, as PyTorch's.
"""
from __future__ import annotations

import warnings

import arraylib as xp

__all__ = ["GradScaler"]

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


def _f32(value: float) -> float:
    """``value`` rounded to float32 (PyTorch keeps the scale in a float32 tensor)."""
    return float(xp.asarray(value, dtype=xp.float32))


class GradScaler:
    """Loss scaling (see the module docstring).  ``device`` is "cpu" or "cuda"; on
    "cuda" without a GPU it disables itself with a warning, as PyTorch does."""

    def __init__(self, device="cpu", init_scale=2.0 ** 16, growth_factor=2.0,
                 backoff_factor=0.5, growth_interval=2000, enabled=True):
        self._device_type = str(device).split(":")[0]
        if self._device_type == "cuda" and enabled and not xp.cuda.is_available():
            warnings.warn("GradScaler is enabled, but CUDA is not available. Disabling.",
                          stacklevel=2)
            enabled = False
        self._enabled = bool(enabled)
        if not growth_factor > 1.0:
            raise ValueError(f"GradScaler: growth_factor must be > 1.0, got {growth_factor}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor}")
        if not (isinstance(growth_interval, int) and growth_interval > 0):
            raise ValueError(f"GradScaler: growth_interval must be a positive int, got "
                             f"{growth_interval!r}")
        self._init_scale = float(init_scale)
        self._scale = None  # float32 value once scale() first runs
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = growth_interval
        self._growth_tracker = 0
        self._per_optimizer = {}  # id(optimizer) -> {"stage": ..., "found_inf": bool}

    # -- scaling ---------------------------------------------------------------------
    def scale(self, outputs):
        """``outputs`` (a tensor, or lists/tuples of them) times the current scale."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._scale = _f32(self._init_scale)
        return self._apply_scale(outputs)

    def _apply_scale(self, value):
        if isinstance(value, xp.Tensor):
            return value * self._scale
        if isinstance(value, (list, tuple)):
            return type(value)(self._apply_scale(v) for v in value)
        raise TypeError(f"GradScaler.scale: outputs must be a Tensor or an iterable of "
                        f"Tensors, got {type(value).__name__}")

    def _state(self, optimizer) -> dict:
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY,
                                                              "found_inf": False})

    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale, in place, and record whether
        any is inf or NaN.  At most once per optimizer between ``update`` calls."""
        if not self._enabled:
            return
        self._check_scale("unscale_")
        state = self._state(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since "
                               "the last update().")
        if state["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv = _f32(1.0 / self._scale)
        found = False
        with xp.no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    if g.dtype == xp.float16:
                        raise ValueError("GradScaler.unscale_: attempting to unscale float16 "
                                         "gradients (keep the parameters in float32)")
                    g *= inv
                    if not found and not bool(xp.all(xp.isfinite(g))):
                        found = True
        state["found_inf"] = found
        state["stage"] = _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step(*args, **kwargs)`` after ``unscale_`` (if not done yet),
        skipped when a gradient is inf or NaN; returns what the step returns (None when
        skipped)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is "
                               "enabled.")
        self._check_scale("step")
        state = self._state(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        result = None
        if not state["found_inf"]:
            result = optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return result

    def update(self, new_scale=None) -> None:
        """Set the scale for the next iteration: ``new_scale`` if given, else backed off
        after a skipped step, grown after ``growth_interval`` clean ones."""
        if not self._enabled:
            return
        self._check_scale("update")
        if new_scale is not None:
            if isinstance(new_scale, xp.Tensor):
                if new_scale.size != 1 or new_scale.dtype != xp.float32:
                    raise ValueError("GradScaler.update: new_scale must be a float or a "
                                     f"1-element float32 Tensor, got shape {new_scale.shape} "
                                     f"dtype {new_scale.dtype}")
                new_scale = float(xp.reshape(new_scale, ()))
            self._scale = _f32(new_scale)
        else:
            states = [s for s in self._per_optimizer.values() if s["stage"] != _READY]
            if not states:
                raise RuntimeError("GradScaler.update: no inf checks were recorded prior to "
                                   "update() (call unscale_ or step first).")
            if any(s["found_inf"] for s in states):
                self._scale = _f32(self._scale * self._backoff_factor)
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = _f32(self._scale * self._growth_factor)
                    if grown != float("inf"):  # as PyTorch: the scale never grows to inf
                        self._scale = grown
                    self._growth_tracker = 0
        self._per_optimizer = {}

    def _check_scale(self, func):
        if self._scale is None:
            raise RuntimeError(f"GradScaler.{func}: no scale yet; call scale(loss) first "
                               "(this usually means scale() was never called).")

    # -- queries ---------------------------------------------------------------------
    def get_scale(self) -> float:
        """The current scale (1.0 when disabled)."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval) -> None:
        self._growth_interval = int(new_interval)

    def _get_growth_tracker(self) -> int:
        return self._growth_tracker if self._enabled else 0

    def is_enabled(self) -> bool:
        return self._enabled

    # -- checkpoints -----------------------------------------------------------------
    def state_dict(self) -> dict:
        """PyTorch's keys: scale, growth_factor, backoff_factor, growth_interval,
        _growth_tracker (empty when disabled)."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale = _f32(self._init_scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])

    def __repr__(self):
        return (f"GradScaler(device={self._device_type!r}, scale={self.get_scale()}, "
                f"enabled={self._enabled})")
