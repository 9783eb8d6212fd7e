"""The main job: train a classifier on scikit-learn's handwritten digits, end to end.

A dense network (64-256-128-10, ReLU, dropout) fed by a shuffling DataLoader, Adam
with a OneCycle learning-rate schedule, evaluation each epoch, a checkpoint (model
weights, optimizer and scheduler state) saved with ``arraylib.save`` and reloaded
into a fresh model that must score the same.  Curves go to ``--out``.

    python examples/train_digits.py [--device cpu] [--epochs 30]
    mpiexec -n 2 python examples/train_digits.py --distributed

With ``--distributed`` every MPI rank trains the same model on its shard of each
global batch (``--batch-size`` is the global batch, split across ranks) through
``DistributedDataParallel``; rank 0 alone prints, plots and saves the checkpoint.
"""
import json
import os

from _common import Timer, accuracy, parser, plot_curves, progress

import arraylib as torch
import arraylib.nn as nn
import arraylib.optim as optim


def make_model():
    return nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(128, 10),
    )


def save_checkpoint(path, model, optimizer, scheduler, epoch):
    """Weights and optimizer tensors in one safetensors file; the rest as JSON metadata."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    osd = optimizer.state_dict()
    for idx, st in osd["state"].items():
        for key, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = value
    scalars = {str(idx): {k: v for k, v in st.items() if not isinstance(v, torch.Tensor)}
               for idx, st in osd["state"].items()}
    meta = {"epoch": str(epoch), "param_groups": json.dumps(osd["param_groups"]),
            "optim_scalars": json.dumps(scalars), "scheduler": json.dumps(scheduler.state_dict())}
    torch.save(tensors, path, metadata=meta)
    return meta


def load_checkpoint(path, model, optimizer, scheduler, meta, device):
    tensors = torch.load(path, device=device)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state = {int(i): dict(s) for i, s in json.loads(meta["optim_scalars"]).items()}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, idx, key = k.split(".", 2)
            state.setdefault(int(idx), {})[key] = v
    optimizer.load_state_dict({"state": state,
                               "param_groups": json.loads(meta["param_groups"])})
    scheduler.load_state_dict(json.loads(meta["scheduler"]))
    return int(meta["epoch"])


def make_loader(args, x_train, y_train, rank, world):
    """Shuffled batches; with several ranks each gets its shard of every global batch."""
    dataset = torch.data.TensorDataset(x_train, y_train)
    if world == 1:
        return torch.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True,
                                     generator=torch.Generator().manual_seed(args.seed)), None
    if args.batch_size % world:
        raise SystemExit(f"train_digits: --batch-size {args.batch_size} must divide by the "
                         f"{world} ranks")
    sampler = torch.data.DistributedSampler(dataset, num_replicas=world, rank=rank,
                                            seed=args.seed)
    return torch.data.DataLoader(dataset, batch_size=args.batch_size // world,
                                 sampler=sampler), sampler


def main(argv=None):
    p = parser(__doc__, epochs=30, batch_size=64, lr=3e-3)
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the MPI ranks started by mpiexec")
    args = p.parse_args(argv)
    rank, world = 0, 1
    if args.distributed:
        import arraylib.distributed as dist
        dist.init_process_group()
        rank, world = dist.get_rank(), dist.get_world_size()
        args.no_progress = args.no_progress or rank != 0
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    X, y = torch.data.load_digits(device=device)
    x_train, x_test, y_train, y_test = torch.data.train_test_split(
        X, y, test_size=0.2, generator=torch.Generator().manual_seed(0))
    loader, sampler = make_loader(args, x_train, y_train, rank, world)
    steps_per_epoch = len(loader) if args.max_batches is None else \
        min(len(loader), args.max_batches)

    model = make_model().to(device)
    net = model
    if world > 1:
        from arraylib.nn.parallel import DistributedDataParallel
        net = DistributedDataParallel(model)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-4)
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                                              steps_per_epoch=steps_per_epoch)

    history = {"step": [], "loss": [], "epoch": [], "train_acc": [], "test_acc": []}
    step = 0
    with Timer() as timer:
        bar = progress(range(args.epochs), args, desc="epochs")
        for epoch in bar:
            model.train()
            if sampler is not None:
                sampler.set_epoch(epoch)
            for i, (inputs, labels) in enumerate(loader):
                if i >= steps_per_epoch:
                    break
                optimizer.zero_grad()
                loss = criterion(net(inputs), labels)
                loss.backward()
                optimizer.step()
                scheduler.step()
                if step % 5 == 0:
                    history["step"].append(step)
                    history["loss"].append(loss.item())
                step += 1
            model.eval()
            history["epoch"].append(epoch + 1)
            history["train_acc"].append(accuracy(model, x_train, y_train))
            history["test_acc"].append(accuracy(model, x_test, y_test))
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{history['loss'][-1]:.3f}",
                                test=f"{history['test_acc'][-1]:.3f}")

    train_acc, test_acc = history["train_acc"][-1], history["test_acc"][-1]
    if rank != 0:
        return {"train_acc": train_acc, "test_acc": test_acc, "seconds": timer.seconds}
    ranks = f" x {world} ranks" if world > 1 else ""
    print(f"train_digits: {args.epochs} epochs, {step} steps in {timer.seconds:.1f} s on "
          f"{device}{ranks}")
    print(f"train accuracy {train_acc:.4f}  test accuracy {test_acc:.4f}")

    # Checkpoint, then reload into fresh objects and check the model scores the same.
    ckpt = os.path.join(args.out, "train_digits.safetensors")
    meta = save_checkpoint(ckpt, model, optimizer, scheduler, args.epochs)
    model2 = make_model().to(device)
    optimizer2 = optim.Adam(model2.parameters(), lr=args.lr, weight_decay=1e-4)
    scheduler2 = optim.lr_scheduler.OneCycleLR(optimizer2, max_lr=args.lr, epochs=args.epochs,
                                               steps_per_epoch=steps_per_epoch)
    load_checkpoint(ckpt, model2, optimizer2, scheduler2, meta, device)
    model2.eval()
    reloaded = accuracy(model2, x_test, y_test)
    print(f"checkpoint {ckpt}: reloaded model test accuracy {reloaded:.4f}")
    if reloaded != test_acc:
        raise RuntimeError("train_digits: the reloaded checkpoint scores differently")
    plot_curves(os.path.join(args.out, "train_digits_curves.png"), history, "train_digits")
    return {"train_acc": train_acc, "test_acc": test_acc, "seconds": timer.seconds,
            "reloaded_test_acc": reloaded}


if __name__ == "__main__":
    main()
