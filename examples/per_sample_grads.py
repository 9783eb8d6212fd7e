"""Per-sample gradients with ``vmap(grad(...))``: DP-SGD's clipping and noise on digits.

A 64-128-10 MLP on scikit-learn's digits, trained the way DP-SGD trains: each example's
gradient is computed on its own (``arraylib.func.vmap`` of ``arraylib.func.grad`` over
``functional_call``, one batched pass), clipped to norm ``--clip``, summed, noised with
Gaussian noise of standard deviation ``--noise-multiplier * --clip`` and averaged.  The
first batch's per-sample gradients are checked against a loop over the examples.

What it prints is the mechanics, honestly: accuracy, the mean per-sample gradient norm
before and after clipping, the fraction of examples clipped, the noise scale.  It does
no privacy accounting (no epsilon): that needs a privacy accountant, which this example
does not have; the sampling here is shuffled batches, not Poisson sampling.

    python examples/per_sample_grads.py [--device cpu] [--epochs 15] [--clip 1.0]
"""
import json
import os

from _common import Timer, parser, plot_curves

import arraylib as torch
import arraylib.func as func
import arraylib.nn as nn
import arraylib.nn.functional as F


def make_model():
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def per_sample_loss(model):
    """``loss(params, x, y)`` of ONE example, for ``vmap(grad(loss))``."""
    def loss(params, x, y):
        logits = func.functional_call(model, params, (torch.expand_dims(x, axis=0),))
        return F.cross_entropy(logits, torch.expand_dims(y, axis=0))
    return loss


def per_sample_grads(model, params, x, y):
    """``{name: (batch, *param.shape)}``: every example's gradient, in one batched pass."""
    return func.vmap(func.grad(per_sample_loss(model)), in_dims=(None, 0, 0))(params, x, y)


def loop_grads(model, params, x, y):
    """The same, one example at a time (the reference)."""
    loss = per_sample_loss(model)
    per = [func.grad(loss)(params, x[i], y[i]) for i in range(x.shape[0])]
    return {k: torch.stack([g[k] for g in per]) for k in params}


def clip_and_noise(grads, clip, noise_multiplier, generator):
    """DP-SGD's step direction: per-sample clipping to ``clip``, summed, Gaussian noise of
    std ``noise_multiplier * clip``, averaged over the batch; and the per-sample norms
    before and after clipping."""
    n = next(iter(grads.values())).shape[0]
    sq = sum(torch.sum(torch.reshape(g * g, (n, -1)), axis=1) for g in grads.values())
    norms = torch.sqrt(sq)
    factor = torch.clamp(clip / (norms + 1e-12), max=1.0)
    step = {}
    for k, g in grads.items():
        f = torch.reshape(factor, (n,) + (1,) * (g.ndim - 1))
        total = torch.sum(g * f, axis=0)
        noise = torch.randn(total.shape, generator=generator, dtype=total.dtype,
                            device=total.device)
        step[k] = (total + noise_multiplier * clip * noise) / n
    return step, norms, norms * factor


def check_against_loop(model, params, x, y):
    """The largest difference between the batched and the looped per-sample gradients."""
    batched = per_sample_grads(model, params, x, y)
    looped = loop_grads(model, params, x, y)
    return max(float(torch.max(torch.abs(batched[k] - looped[k]))) for k in params)


def accuracy(model, params, X, y):
    with torch.no_grad():
        logits = func.functional_call(model, params, (X,))
    return float(torch.mean(torch.astype(torch.argmax(logits, axis=1) == y, torch.float32)))


def main(argv=None):
    p = parser(__doc__, epochs=15, batch_size=64, lr=0.5)
    p.add_argument("--clip", type=float, default=1.0, help="per-sample gradient norm bound C")
    p.add_argument("--noise-multiplier", type=float, default=0.5,
                   help="noise std / C (DP-SGD's sigma)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    X, y = torch.data.load_digits(device=device)
    x_train, x_test, y_train, y_test = torch.data.train_test_split(
        X, y, test_size=0.2, generator=torch.Generator().manual_seed(0))
    model = make_model().to(device)
    params = {k: v.detach() for k, v in model.named_parameters()}
    noise_gen = torch.Generator(device=device).manual_seed(args.seed + 1)
    shuffle_gen = torch.Generator().manual_seed(args.seed)

    n_train = x_train.shape[0]
    diff = check_against_loop(model, params, x_train[:args.batch_size],
                              y_train[:args.batch_size])
    print(f"per_sample_grads: vmap(grad) vs a loop over {args.batch_size} examples: max "
          f"difference {diff:.2e}")
    history = {"step": [], "loss": [], "epoch": [], "test_acc": [], "train_acc": []}
    step_no, norms_seen, clipped_seen, clipped_frac = 0, [], [], []
    with Timer() as timer:
        for epoch in range(1, args.epochs + 1):
            order = torch.randperm(n_train, generator=shuffle_gen, device=device)
            batches = range(0, n_train - args.batch_size + 1, args.batch_size)
            for b, start in enumerate(batches):
                if args.max_batches is not None and b >= args.max_batches:
                    break
                idx = order[start:start + args.batch_size]
                xb, yb = x_train[idx], y_train[idx]
                grads = per_sample_grads(model, params, xb, yb)
                step, norms, clipped = clip_and_noise(grads, args.clip, args.noise_multiplier,
                                                      noise_gen)
                params = {k: params[k] - args.lr * step[k] for k in params}
                norms_seen.append(float(torch.mean(norms)))
                clipped_seen.append(float(torch.mean(clipped)))
                clipped_frac.append(float(torch.mean(torch.astype(norms > args.clip,
                                                                  torch.float32))))
                step_no += 1
                with torch.no_grad():
                    loss = F.cross_entropy(func.functional_call(model, params, (xb,)), yb)
                history["step"].append(step_no)
                history["loss"].append(float(loss))
            history["epoch"].append(epoch)
            history["train_acc"].append(accuracy(model, params, x_train, y_train))
            history["test_acc"].append(accuracy(model, params, x_test, y_test))
            print(f"epoch {epoch}: loss {history['loss'][-1]:.4f}  test accuracy "
                  f"{history['test_acc'][-1]:.4f}  mean per-sample norm "
                  f"{norms_seen[-1]:.3f}  clipped {clipped_frac[-1]:.0%}")
    result = {
        "steps": step_no, "seconds": timer.seconds, "test_acc": history["test_acc"][-1],
        "train_acc": history["train_acc"][-1], "loop_max_diff": diff,
        "mean_norm": sum(norms_seen) / len(norms_seen),
        "mean_clipped_norm": sum(clipped_seen) / len(clipped_seen),
        "fraction_clipped": sum(clipped_frac) / len(clipped_frac),
        "clip": args.clip, "noise_multiplier": args.noise_multiplier,
        "noise_std_per_coordinate_of_the_mean": args.noise_multiplier * args.clip / args.batch_size,
        "sampling_rate": args.batch_size / n_train,
    }
    print(f"per_sample_grads: {step_no} steps in {timer.seconds:.1f} s on {device}; train "
          f"accuracy {result['train_acc']:.4f}, test accuracy {result['test_acc']:.4f}")
    print(f"mean per-sample gradient norm {result['mean_norm']:.3f}, after clipping to "
          f"{args.clip}: {result['mean_clipped_norm']:.3f} ({result['fraction_clipped']:.0%} "
          f"of the examples clipped); noise std {args.noise_multiplier * args.clip:.3f} on "
          f"each summed coordinate ({result['noise_std_per_coordinate_of_the_mean']:.4f} on "
          f"the mean); sampling rate {result['sampling_rate']:.3f}")
    print("no privacy accounting is done (no epsilon): this shows DP-SGD's mechanics only")
    path = os.path.join(args.out, "per_sample_grads.json")
    with open(path, "w") as fh:
        json.dump({**result, "history": history}, fh, indent=1)
    print(f"per_sample_grads: figures written to {path}")
    plot_curves(os.path.join(args.out, "per_sample_grads_curves.png"), history,
                "per_sample_grads")
    return result


if __name__ == "__main__":
    main()
