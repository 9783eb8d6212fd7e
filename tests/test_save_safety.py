"""arraylib.save never destroys the previous checkpoint (issue 14, item 10).

A save to a path writes a temporary file in the same folder, flushes and fsyncs it and renames
it over the target; a writer killed with SIGKILL mid-write leaves the old file loadable, a
failed save (an unsupported object, a full disk, an unwritable folder) leaves no 0-byte or
partial file behind, and the stale temporary file of a killed writer goes at the next save.
"""
from __future__ import annotations

import errno
import io
import os
import pathlib
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn as nn
from conftest import to_numpy

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _old_sd():
    return {"w": xp.asarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
            "b": xp.asarray(np.arange(5, dtype=np.int64))}


def _assert_old(path):
    back = xp.load(path)
    assert list(back) == ["w", "b"]
    np.testing.assert_array_equal(to_numpy(back["w"]),
                                  np.arange(12, dtype=np.float32).reshape(3, 4))
    np.testing.assert_array_equal(to_numpy(back["b"]), np.arange(5))


def _temps(folder, name):
    return sorted(p.name for p in pathlib.Path(folder).iterdir()
                  if p.name.startswith(f".{name}.") and p.name.endswith(".tmp"))


def _run(script, *args, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONDONTWRITEBYTECODE="1")
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
                            env=env, cwd=str(ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


# -- SIGKILL while a large checkpoint is being written over an old one ------------------------
_BIG_WRITER = """
    import sys
    import numpy as np
    import arraylib as xp
    # 50 tensors of 4 MB: a 200 MB checkpoint written in many chunks
    sd = {f"layer{i}.weight": xp.asarray(np.full((1024, 1024), i, dtype=np.float32))
          for i in range(50)}
    print("ready", flush=True)
    xp.save(sd, sys.argv[1])
    print("done", flush=True)
"""
_BIG = 50 * 1024 * 1024 * 4


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_sigkill_mid_save_leaves_the_old_checkpoint(tmp_path):
    target = tmp_path / "model.safetensors"
    xp.save(_old_sd(), target)
    old_bytes = target.read_bytes()
    old_stat = os.stat(target)
    killed_mid_write = False
    for attempt in range(5):
        proc = _run(_BIG_WRITER, target)
        try:
            assert proc.stdout.readline().strip() == b"ready", proc.stderr.read().decode()
            seen = None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                temps = _temps(tmp_path, target.name)
                if temps:
                    try:
                        size = os.stat(tmp_path / temps[0]).st_size
                    except FileNotFoundError:
                        size = -1  # renamed just now
                    if 0 < size < _BIG:
                        seen = size
                        break
                st = os.stat(target)
                if (st.st_size, st.st_mtime_ns, st.st_ino) != \
                        (old_stat.st_size, old_stat.st_mtime_ns, old_stat.st_ino):
                    break  # the target itself is being written (or already replaced)
                if proc.poll() is not None:
                    break
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        if seen is None and os.stat(target).st_size > _BIG:
            # too late: the writer had already renamed its complete file over the target.
            # Put the old checkpoint back and try again.
            xp.save(_old_sd(), target)
            old_bytes, old_stat = target.read_bytes(), os.stat(target)
            continue
        # The old checkpoint is intact, byte for byte, and loads.
        assert target.read_bytes() == old_bytes, "the killed save damaged the old checkpoint"
        _assert_old(target)
        if seen is not None:
            left = _temps(tmp_path, target.name)
            # A killed writer may leave its temporary file (named after the target, its host
            # and pid) and nothing else; load ignores it, the next save removes it.
            assert len(left) <= 1, left
            killed_mid_write = True
            break
    assert killed_mid_write, "could not kill the writer while it was writing"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name] +
                                                                 _temps(tmp_path, target.name))
    xp.save({"x": xp.ones(3)}, target)  # the next save cleans the dead writer's temp file
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    np.testing.assert_array_equal(to_numpy(xp.load(target)["x"]), np.ones(3, np.float32))


# -- failed saves leave nothing behind ---------------------------------------------------------
@pytest.mark.parametrize("bad", [
    lambda: nn.Linear(2, 2),
    lambda: {"a": 1},
    lambda: {"a": xp.ones(2), "b": np.ones(2)},
    lambda: {1: xp.ones(1)},
    lambda: {"__metadata__": xp.ones(1)},
    lambda: [xp.ones(1)],
])
def test_unsupported_object_leaves_no_file(tmp_path, bad):
    fresh = tmp_path / "fresh.safetensors"
    with pytest.raises((TypeError, ValueError), match="save"):
        xp.save(bad(), fresh)
    assert not fresh.exists()
    old = tmp_path / "old.safetensors"
    xp.save(_old_sd(), old)
    before = old.read_bytes()
    with pytest.raises((TypeError, ValueError), match="save"):
        xp.save(bad(), old)
    assert old.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.safetensors"]


def test_bad_metadata_leaves_no_file(tmp_path):
    p = tmp_path / "m.safetensors"
    for meta in ({"a": 1}, {1: "a"}, ["a"]):
        with pytest.raises(TypeError, match="save: metadata"):
            xp.save(_old_sd(), p, metadata=meta)
    assert list(tmp_path.iterdir()) == []


def test_disk_full_during_write_keeps_the_old_file(tmp_path, monkeypatch):
    """ENOSPC while the bytes go out (simulated at fsync, where a full disk or a failing
    device reports): the old checkpoint stays, no partial or 0-byte file appears."""
    target = tmp_path / "model.safetensors"
    xp.save(_old_sd(), target)
    before = target.read_bytes()
    calls = []

    def fsync(fd):
        calls.append(fd)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match="save: .*model.safetensors") as e:
        xp.save({"w": xp.zeros((100, 100))}, target)
    assert e.value.errno == errno.ENOSPC
    assert calls, "save did not fsync the new file"
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    fresh = tmp_path / "fresh.safetensors"
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError):
        xp.save({"w": xp.zeros(10)}, fresh)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


_LIMITED_WRITER = """
    import resource, signal, sys
    import numpy as np
    import arraylib as xp
    sd = {"w": xp.asarray(np.ones((512, 512), dtype=np.float32))}  # 1 MB
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))  # a disk that fills at 64 kB
    try:
        xp.save(sd, sys.argv[1])
    except OSError as e:
        print(type(e).__name__, e.errno, e, flush=True)
        sys.exit(3)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE")
def test_file_size_limit_mid_write_keeps_the_old_file(tmp_path):
    """A real short write (EFBIG from RLIMIT_FSIZE, as a full disk gives ENOSPC) part way
    through the data: the old file is intact and no partial file is left."""
    target = tmp_path / "model.safetensors"
    xp.save(_old_sd(), target)
    before = target.read_bytes()
    proc = _run(_LIMITED_WRITER, target)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, (out + err).decode()
    assert target.read_bytes() == before, "the failed save damaged the old checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    assert b"save:" in out and b"model.safetensors" in out, out


def test_unwritable_destination(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="save: .*file"):
        xp.save(_old_sd(), blocker / "m.safetensors")
    with pytest.raises(FileNotFoundError, match="save"):
        xp.save(_old_sd(), tmp_path / "missing" / "m.safetensors")
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match="save"):
        xp.save(_old_sd(), tmp_path / "d")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "file"]
    assert list((tmp_path / "d").iterdir()) == []
    assert blocker.read_bytes() == b"x"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions that apply (not root)")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    target = folder / "m.safetensors"
    xp.save(_old_sd(), target)
    before = target.read_bytes()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="save"):
            xp.save({"x": xp.ones(2)}, target)
    finally:
        folder.chmod(0o700)
    assert target.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["m.safetensors"]


# -- how the write is done ---------------------------------------------------------------------
def test_temp_file_fsynced_then_renamed_in_the_same_folder(tmp_path, monkeypatch):
    target = tmp_path / "model.safetensors"
    xp.save(_old_sd(), target)
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", stat.S_ISDIR(os.fstat(fd).st_mode)))
        return real_fsync(fd)

    def replace(src, dst, *a, **k):
        events.append(("replace", os.fspath(src), os.fspath(dst)))
        # the temporary file is complete before it replaces the target
        assert xp.load(src)["x"].shape == (7,)
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    xp.save({"x": xp.ones(7)}, target)
    monkeypatch.undo()
    kinds = [e[0] for e in events]
    assert kinds[:2] == ["fsync", "replace"], events
    assert events[0][1] is False  # the file itself first
    _, src, dst = events[1]
    assert os.path.dirname(src) == str(tmp_path) and dst == str(target)
    assert os.path.basename(src).startswith(".model.safetensors.") and src.endswith(".tmp")
    if os.name == "posix":
        assert events[2:] == [("fsync", True)]  # then the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    assert xp.load(target)["x"].shape == (7,)


@pytest.mark.skipif(os.name != "posix", reason="pid liveness check is POSIX")
def test_next_save_removes_only_dead_writers_temps(tmp_path):
    target = tmp_path / "m.safetensors"
    host = xp._serialization._HOST
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".m.safetensors.{host}.{dead.pid}.0badc0de.tmp"
        busy = tmp_path / f".m.safetensors.{host}.{live.pid}.0badc0de.tmp"
        other_host = tmp_path / f".m.safetensors.elsewhere.{dead.pid}.0badc0de.tmp"
        other_target = tmp_path / f".n.safetensors.{host}.{dead.pid}.0badc0de.tmp"
        unrelated = tmp_path / "notes.tmp"
        for p in (stale, busy, other_host, other_target, unrelated):
            p.write_bytes(b"partial")
        xp.save(_old_sd(), target)
        _assert_old(target)
        assert not stale.exists()
        for p in (busy, other_host, other_target, unrelated):
            assert p.exists(), p
    finally:
        live.kill()
        live.wait()


def test_save_through_a_symlink_updates_the_linked_file(tmp_path):
    real = tmp_path / "real.safetensors"
    link = tmp_path / "latest.safetensors"
    xp.save(_old_sd(), real)
    link.symlink_to(real.name)
    xp.save({"x": xp.ones(2)}, link)
    assert link.is_symlink() and os.readlink(link) == real.name
    assert list(xp.load(real)) == ["x"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.safetensors", "real.safetensors"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_save_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    p = tmp_path / "m.safetensors"
    xp.save(_old_sd(), p)
    p.chmod(0o640)
    xp.save({"x": xp.ones(2)}, p)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
    fresh = tmp_path / "fresh.safetensors"
    xp.save({"x": xp.ones(2)}, fresh)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o666 & ~umask  # as open(path, "wb")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_save_into_a_fifo_writes_through_it(tmp_path):
    """A special file (a FIFO here; /dev/null alike) is written into, never replaced."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    xp.save(_old_sd(), fifo)
    reader.join(30)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    _assert_old(io.BytesIO(got[0]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_concurrent_saves_to_one_target(tmp_path):
    target = tmp_path / "m.safetensors"
    errors = []

    def work(i):
        try:
            for _ in range(10):
                xp.save({"x": xp.full((1000,), float(i))}, target)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    x = to_numpy(xp.load(target)["x"])
    assert x.shape == (1000,) and len(set(x.tolist())) == 1 and x[0] in (0, 1, 2, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_file_objects_are_written_directly(tmp_path):
    buf = io.BytesIO()
    xp.save(_old_sd(), buf)
    buf.seek(0)
    _assert_old(buf)
    with open(tmp_path / "f.safetensors", "wb") as fh:
        xp.save(_old_sd(), fh)
    _assert_old(tmp_path / "f.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.safetensors"]


def test_atomic_save_loads_in_torch(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    p = tmp_path / "m.safetensors"
    xp.save(_old_sd(), p)
    xp.save(_old_sd(), p)  # over an existing file
    back = st.load_file(str(p))
    assert back["w"].numpy().tolist() == np.arange(12, dtype=np.float32).reshape(3, 4).tolist()
    assert back["b"].numpy().tolist() == list(range(5))
