"""Issue 14, items 4, 5 and 12 (distributed): DDP averages exactly the wrapped module's
gradients, a failing rank ends the job, argument errors fail on every rank.

Each test starts ``mpiexec -n 2`` on tests/_mpi_trust_worker.py (loopback only) with a
timeout, so a hang fails the test instead of the suite.
"""
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec")
WORKER = os.path.join(os.path.dirname(__file__), "_mpi_trust_worker.py")
needs_mpiexec = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH (pip install mpich)")


def run_worker(mode, timeout=120):
    env = dict(os.environ, ARRAYLIB_DEVICE="cpu", OMP_NUM_THREADS="1")
    try:
        proc = subprocess.run([MPIEXEC, "-n", "2", sys.executable, WORKER, mode],
                              capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(errors="replace")
        pytest.fail(f"mpiexec {mode}: still running after {timeout} s (a rank hangs)\n{out}")
    return proc.returncode, proc.stdout + proc.stderr, time.time()


def assert_ok(out, checks):
    for rank in (0, 1):
        for check in checks:
            assert f"OK {check} rank {rank}" in out, (check, rank, out)


def raised_at(out):
    m = re.search(r"RAISING AT ([0-9.]+)", out)
    assert m, out
    return float(m.group(1))


# -- item 5: a failing rank ends the job -------------------------------------------------------
@needs_mpiexec
def test_uncaught_exception_on_one_rank_aborts_the_job_with_its_traceback():
    rc, out, end = run_worker("raise", timeout=60)
    assert rc != 0, out
    assert end - raised_at(out) < 10, out
    assert "Traceback (most recent call last)" in out and "ValueError: boom from rank 1" in out, out
    assert "rank 1 of 2 raised an uncaught ValueError" in out, out
    assert "rank 0 got past the barrier" not in out, out


@needs_mpiexec
def test_sys_exit_nonzero_on_one_rank_aborts_the_job():
    rc, out, end = run_worker("exit", timeout=60)
    assert rc != 0, out
    assert end - raised_at(out) < 10, out
    assert "rank 1 of 2 exited with status 3" in out, out
    assert "rank 0 got past the barrier" not in out, out


@needs_mpiexec
def test_collective_timeout_raises_naming_the_collective():
    rc, out, end = run_worker("timeout", timeout=60)
    assert_ok(out, ["timeout-in-time"])
    assert "OK timeout-raises rank 0" in out, out
    assert "all_reduce: timed out after 0.5 s" in out, out
    assert rc != 0 and end - raised_at(out) < 10, out   # the uncaught error ended the job


ARG_CHECKS = ["args-all_gather-length", "args-non-tensor", "args-broadcast-src",
              "args-broadcast-src-all", "args-all_gather-length-all", "args-reduce_scatter-length",
              "args-all_gather-shape", "args-all_reduce-mean-int", "args-reduce_scatter-mean-int",
              "args-bad-op", "args-shape-mismatch", "args-bad-timeout", "args-group-still-works"]
DDP_CHECKS = ["ddp-gan", "ddp-no_sync", "ddp-unrelated-backward", "ddp-unused-parameters",
              "ddp-double-backward", "ddp-buckets", "ddp-device"]


@pytest.fixture(scope="module")
def args_run():
    if MPIEXEC is None:
        pytest.skip("no mpiexec on PATH (pip install mpich)")
    return run_worker("args")


@pytest.fixture(scope="module")
def ddp_run():
    if MPIEXEC is None:
        pytest.skip("no mpiexec on PATH (pip install mpich)")
    return run_worker("ddp")


@pytest.mark.parametrize("check", ARG_CHECKS)
def test_argument_errors_seen_by_one_rank_fail_on_every_rank(args_run, check):
    """Items 5 and 12: the error is raised on both ranks (the worker asserts the type and
    the message on each); the last check: the group still works afterwards."""
    rc, out, _ = args_run
    assert_ok(out, [check])
    assert rc == 0, out


# -- item 4: DDP ------------------------------------------------------------------------------
@pytest.mark.parametrize("check", DDP_CHECKS)
def test_ddp_averages_exactly_the_modules_gradients(ddp_run, check):
    """ddp-gan: two DDP models, d_loss.backward() then g_loss.backward(), 20 steps,
    bit-identical replicas equal to whole-batch training; ddp-no_sync: accumulation;
    ddp-unrelated-backward: a backward on one rank only, of something else, after a DDP
    forward; ddp-unused-parameters: no hang, PyTorch's find_unused_parameters results."""
    rc, out, _ = ddp_run
    assert_ok(out, [check])
    assert rc == 0, out


# -- in one process (no mpiexec) ---------------------------------------------------------------
def test_timeout_argument_is_validated():
    import datetime
    import arraylib.distributed as dist
    assert dist._seconds("f", datetime.timedelta(seconds=2)) == 2.0
    assert dist._seconds("f", None) is None
    with pytest.raises(ValueError, match="f: timeout must be positive"):
        dist._seconds("f", 0)
    with pytest.raises(TypeError, match="f: timeout must be a number"):
        dist._seconds("f", "10")


def test_failure_hooks_installed_by_init_and_removed_by_destroy():
    # in a subprocess: MPI is initialized once per process, and not in the test runner's
    code = """
import sys
import arraylib.distributed as dist
hook, exit_ = sys.excepthook, sys.exit
dist.init_process_group()
assert sys.excepthook is not hook and sys.exit is not exit_
dist.destroy_process_group()
assert sys.excepthook is hook and sys.exit is exit_
sys.exit(4)   # after destroy: an ordinary exit status, no abort message
"""
    env = dict(os.environ, ARRAYLIB_DEVICE="cpu", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "aborting" not in proc.stderr, proc.stderr
