"""Devices: where storage lives, and the backend that owns it."""
from __future__ import annotations

import os

from .. import _backends


class Device:
    """A storage location: ``"cpu"``, ``"cuda"``/``"cuda:N"`` or ``"strict:NAME"``.

    Devices are interned, so ``Device("cpu") is Device("cpu")``.  A device compares
    equal to its name: ``x.device == "cpu"``.
    """

    __slots__ = ("name", "type", "index", "_backend")
    _interned: dict = {}

    def __new__(cls, spec="cpu", index=None):
        if isinstance(spec, Device):
            return spec
        if not isinstance(spec, str):
            raise TypeError(f"Device: expected a device name such as 'cpu', 'cuda:0' or "
                            f"'strict:device1', got {spec!r}")
        name = _canonical_name(spec if index is None else f"{spec}:{index}")
        dev = cls._interned.get(name)
        if dev is None:
            dev = object.__new__(cls)
            dev.name = name
            dev.type, _, rest = name.partition(":")
            dev.index = int(rest) if dev.type == "cuda" else (rest or None)
            dev._backend = None
            cls._interned[name] = dev
        return dev

    @property
    def backend(self) -> _backends.Backend:
        """The storage backend bound to this device (created on first use)."""
        if self._backend is None:
            if self.type == "cpu":
                self._backend = _backends.numpy_backend()
            elif self.type == "strict":
                self._backend = _backends.strict_backend(self.index)
            else:
                if not _backends.cuda_available():
                    raise RuntimeError(f"Device {self.name!r}: CUDA is not available "
                                       "(CuPy is not installed or no GPU is visible)")
                if self.index >= _backends.cuda_device_count():
                    raise RuntimeError(f"Device {self.name!r}: only "
                                       f"{_backends.cuda_device_count()} CUDA device(s)")
                self._backend = _backends.cupy_backend(self.index)
        return self._backend

    def __repr__(self):
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.type == "cuda" else
                                                (f", name='{self.index}')" if self.index else ")"))

    def __str__(self):
        return self.name

    def __eq__(self, other):
        if isinstance(other, Device):
            return self is other
        if isinstance(other, str):
            try:
                return Device(other) is self
            except (ValueError, TypeError):
                return False
        return NotImplemented

    def __hash__(self):
        return hash(self.name)

    def __reduce__(self):
        return (Device, (self.name,))


def _canonical_name(spec: str) -> str:
    spec = spec.strip()
    kind, sep, rest = spec.partition(":")
    if kind == "cpu" and (not sep or rest in ("", "0")):
        return "cpu"
    if kind == "cuda":
        if not sep:
            return "cuda:0"
        if rest.isdigit():
            return f"cuda:{int(rest)}"
    if kind == "strict" and rest in _backends.STRICT_DEVICE_NAMES:
        return spec
    raise ValueError(f"Device: unknown device {spec!r}; expected 'cpu', 'cuda', 'cuda:N' or "
                     f"'strict:NAME' with NAME in {', '.join(_backends.STRICT_DEVICE_NAMES)}")


CPU = Device("cpu")
_default = [CPU]


def set_default_device(device) -> None:
    """Make ``device`` the device of newly created tensors."""
    dev = Device(device)
    dev.backend  # fail now, not at the first tensor
    _default[0] = dev


def get_default_device() -> Device:
    """The device newly created tensors go to."""
    return _default[0]


def as_device(device) -> Device:
    """``None`` means the default device; anything else names one."""
    return _default[0] if device is None else Device(device)


def _device_from_environment():
    spec = os.environ.get("ARRAYLIB_DEVICE")
    if spec:
        set_default_device(spec)


def cuda_is_available() -> bool:
    return _backends.cuda_available()


def cuda_device_count() -> int:
    return _backends.cuda_device_count()
