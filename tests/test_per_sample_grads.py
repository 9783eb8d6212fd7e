"""examples/per_sample_grads.py: a shortened run, its clipping arithmetic, and its
per-sample gradients against a loop and against torch.func."""
import importlib
import json
import os
import sys

import numpy as np

import arraylib as xp
from conftest import to_numpy

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _example():
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    return importlib.import_module("per_sample_grads")


def test_short_run(tmp_path, capsys, device):
    r = _example().main(["--epochs", "1", "--max-batches", "4", "--out", str(tmp_path),
                         "--no-progress", "--batch-size", "16", "--device", device.name])
    assert r["steps"] == 4
    assert r["loop_max_diff"] < 1e-5
    assert 0 <= r["test_acc"] <= 1
    assert 0 < r["mean_clipped_norm"] <= r["clip"] + 1e-6
    assert r["mean_clipped_norm"] <= r["mean_norm"] + 1e-6
    out = capsys.readouterr().out
    path = tmp_path / "per_sample_grads.json"
    assert str(path) in out and "no privacy accounting" in out
    assert json.loads(path.read_text())["steps"] == 4


def test_clip_and_noise_arithmetic():
    ex = _example()
    g = {"w": xp.asarray([[3.0, 4.0], [0.3, 0.4]]), "b": xp.asarray([[0.0], [0.0]])}
    step, norms, clipped = ex.clip_and_noise(g, 1.0, 0.0, xp.Generator().manual_seed(0))
    np.testing.assert_allclose(to_numpy(norms), [5.0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(to_numpy(clipped), [1.0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(to_numpy(step["w"]), ([0.6, 0.8] + np.array([0.3, 0.4])) / 2,
                               rtol=1e-6)
    noisy, _, _ = ex.clip_and_noise(g, 1.0, 1.0, xp.Generator().manual_seed(0))
    assert not np.allclose(to_numpy(noisy["w"]), to_numpy(step["w"]))


def test_per_sample_grads_against_torch_func(torch):
    ex = _example()
    xp.manual_seed(0)
    model = ex.make_model()
    params = {k: v.detach() for k, v in model.named_parameters()}
    rng = np.random.default_rng(0)
    xv = rng.random((8, 64), dtype=np.float32)
    yv = rng.integers(0, 10, 8)
    ours = ex.per_sample_grads(model, params, xp.asarray(xv), xp.asarray(yv))
    tmodel = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                 torch.nn.Linear(128, 10))
    tparams = {k: torch.tensor(to_numpy(v)) for k, v in params.items()}

    def tloss(p, x, y):
        out = torch.func.functional_call(tmodel, p, (x.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(out, y.unsqueeze(0))
    theirs = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))(
        tparams, torch.tensor(xv), torch.tensor(yv))
    for k in params:
        np.testing.assert_allclose(to_numpy(ours[k]), theirs[k].numpy(), rtol=1e-4, atol=1e-6)


def test_loop_reference_matches_grad():
    ex = _example()
    xp.manual_seed(1)
    model = ex.make_model()
    params = {k: v.detach() for k, v in model.named_parameters()}
    x, y = xp.rand((3, 64)), xp.asarray([1, 2, 3])
    loop = ex.loop_grads(model, params, x, y)
    out = model(x[1:2])
    ref = xp.autograd.grad(xp.nn.functional.cross_entropy(out, y[1:2]),
                           list(model.parameters()))
    for (k, _), r in zip(model.named_parameters(), ref):
        np.testing.assert_allclose(to_numpy(loop[k][1]), to_numpy(r), rtol=1e-5, atol=1e-7)
