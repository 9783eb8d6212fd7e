"""``arraylib.utils.tensorboard``: PyTorch's ``SummaryWriter``, writing TensorBoard event
files through the tensorboardX package (``pip install tensorboardX``), which is imported
when the first writer is made.  Arraylib tensors (any device, any floating dtype), NumPy
arrays and Python numbers are accepted wherever PyTorch accepts tensors."""
from __future__ import annotations

import warnings

import arraylib as al

__all__ = ["SummaryWriter"]


def _host(x):
    """Tensors (also inside lists, tuples and dicts) as host arrays tensorboardX reads;
    16-bit floats widened to float32; anything else unchanged."""
    if isinstance(x, al.Tensor):
        x = x.detach()
        if al.isdtype(x.dtype, "real floating") and x.dtype.itemsize < 4:
            x = al.astype(x, al.float32)
        return x.to_device("cpu").numpy()
    if isinstance(x, dict):
        return {k: _host(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_host(v) for v in x)
    return x


def _drain(ew):
    """Let tensorboardX's EventFileWriter ``ew`` write its queue (its internals, checked)."""
    thread = getattr(ew, "_worker", None)
    if thread is None or getattr(ew, "_closed", True) or not hasattr(thread, "stop"):
        return
    try:
        fresh = type(thread)(ew._event_queue, ew._ev_writer, ew._flush_secs)
    except (AttributeError, TypeError):
        return
    thread.stop()
    ew._worker = fresh
    fresh.start()


def _tensorboardx():
    try:
        import tensorboardX
    except ImportError as e:
        raise ImportError("arraylib.utils.tensorboard.SummaryWriter needs the tensorboardX "
                          "package: pip install tensorboardX") from e
    return tensorboardX


class SummaryWriter:
    """Write scalars, histograms, images, text, ... to an event file in ``log_dir``
    (default ``runs/<date>_<host><comment>``), as ``torch.utils.tensorboard.SummaryWriter``.

    Besides the methods below, every other ``add_*`` method of tensorboardX's writer
    (``add_images``, ``add_figure``, ``add_hparams``, ``add_pr_curve``, ``add_embedding``,
    ...) is available, with tensors converted the same way.  ``add_graph`` writes nothing
    (it needs PyTorch's tracer) and warns."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix=""):
        tbx = _tensorboardx()
        self._writer = tbx.SummaryWriter(logdir=None if log_dir is None else str(log_dir),
                                         comment=comment, purge_step=purge_step,
                                         max_queue=max_queue, flush_secs=flush_secs,
                                         filename_suffix=filename_suffix)

    @property
    def log_dir(self) -> str:
        return self._writer.logdir

    def get_logdir(self) -> str:
        return self._writer.logdir

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        """One value (a number or a one-element tensor) at ``global_step``."""
        value = _host(scalar_value)
        if hasattr(value, "size") and getattr(value, "size", 1) != 1:
            raise ValueError(f"SummaryWriter.add_scalar: tag {tag!r}: expected a scalar or a "
                             f"one-element tensor, got shape {tuple(value.shape)}")
        self._writer.add_scalar(tag, value, global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Several scalars under ``main_tag`` (one run directory per key, as PyTorch)."""
        self._writer.add_scalars(main_tag, _host(dict(tag_scalar_dict)), global_step, walltime)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None):
        self._writer.add_histogram(tag, _host(values), global_step, bins, walltime, max_bins)

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """An image: float values in [0, 1] or uint8, laid out as ``dataformats``."""
        self._writer.add_image(tag, _host(img_tensor), global_step, walltime, dataformats)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        self._writer.add_text(tag, text_string, global_step, walltime)

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """Not supported (PyTorch traces the model with its JIT): warns and writes nothing."""
        warnings.warn("SummaryWriter.add_graph: model graphs are not supported by arraylib "
                      "(they need PyTorch's JIT tracer); nothing was written", stacklevel=2)

    def flush(self):
        """Write every pending event to disk.  tensorboardX hands events to a writer thread
        through a queue and its own flush does not wait for it; here each writer thread is
        stopped (it writes what is queued first) and restarted, as PyTorch's flush waits."""
        for fw in (getattr(self._writer, "all_writers", None) or {}).values():
            _drain(getattr(fw, "event_writer", None))
        self._writer.flush()

    def close(self):
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getattr__(self, name):
        writer = self.__dict__.get("_writer")
        if writer is None or not name.startswith("add_"):
            raise AttributeError(f"'SummaryWriter' object has no attribute {name!r}")
        method = getattr(writer, name)

        def converted(*args, **kwargs):
            return method(*_host(args), **_host(kwargs))
        converted.__name__ = name
        return converted
