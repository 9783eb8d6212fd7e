"""Two MPI processes on this machine (loopback only), bounded in time."""
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec")
WORKER = os.path.join(os.path.dirname(__file__), "_mpi_worker.py")


@pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH (pip install mpich)")
def test_two_processes():
    env = dict(os.environ, ARRAYLIB_DEVICE="cpu", OMP_NUM_THREADS="1")
    proc = subprocess.run([MPIEXEC, "-n", "2", sys.executable, WORKER], capture_output=True,
                          text=True, timeout=240, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    for rank in (0, 1):
        for check in ("collectives cpu", "collectives strict:device1", "ddp-gradients",
                      "ddp-identical"):
            assert f"OK {check} rank {rank}" in out, out


def test_collective_before_init_is_an_error():
    import arraylib as xp
    import arraylib.distributed as dist
    if dist.is_initialized():
        pytest.skip("a process group is active")
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.all_reduce(xp.ones(2))


def test_distributed_sampler_shards_are_disjoint_and_cover():
    from arraylib.data import DistributedSampler
    data = list(range(10))
    shards = [list(DistributedSampler(data, num_replicas=3, rank=r, seed=5)) for r in range(3)]
    assert all(len(s) == 4 for s in shards)
    flat = sum(shards, [])
    assert set(flat) == set(range(10))          # covers (padded to 12 with repeats)
    s0 = DistributedSampler(data, num_replicas=2, rank=0, seed=5)
    first = list(s0)
    s0.set_epoch(1)
    assert list(s0) != first                     # reshuffled per epoch
    s1 = DistributedSampler(data, num_replicas=2, rank=1, seed=5)
    assert sorted(first + list(s1)) == list(range(10))   # disjoint when it divides evenly
    with pytest.raises(ValueError, match="rank"):
        DistributedSampler(data, num_replicas=2, rank=2)
