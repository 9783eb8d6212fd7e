"""A character-level language model on fourteen of Shakespeare's sonnets (1609, public
domain; ``examples/data/sonnets.txt``, 8.8 KB): a small GPT by default (token and position
embeddings, pre-norm ``nn.TransformerEncoderLayer`` blocks under a causal mask, a linear
head), or ``--model lstm`` (embedding, a two-layer ``nn.LSTM``, a linear head).

It trains on random windows of the text with AdamW and a cosine learning-rate schedule,
prints the unigram entropy of the text (the loss of a model that knows only the letter
frequencies) next to its own training and validation losses, writes a loss-curve PNG and a
checkpoint (reloaded into a fresh model that must score the same), and prints samples.

    python examples/char_lm.py [--model gpt|lstm] [--device cpu] [--steps 1000] [--out out]

On a machine whose cores are busy with other work, ``--threads 1`` (or OMP_NUM_THREADS=1)
avoids the BLAS pool's oversubscription, which can make each step many times slower.
"""
import argparse
import collections
import contextlib
import math
import os

from _common import Timer, progress

import arraylib as torch
import arraylib.nn as nn
import arraylib.nn.functional as F
import arraylib.optim as optim

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sonnets.txt")
DEFAULTS = {"gpt": dict(lr=6e-3, width=64, layers=2, heads=4),
            "lstm": dict(lr=1e-2, width=64, layers=2, heads=0)}


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(DEFAULTS), default="gpt")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cpu, cuda, cuda:N or strict:device1 (default: cuda if available)")
    p.add_argument("--steps", type=int, default=1000, help="training steps (default 1000)")
    p.add_argument("--batch-size", type=int, default=32, help="default 32")
    p.add_argument("--context", type=int, default=32, help="characters per window (default 32)")
    p.add_argument("--lr", type=float, default=None, help="default 6e-3 (gpt), 1e-2 (lstm)")
    p.add_argument("--width", type=int, default=None, help="default 64")
    p.add_argument("--layers", type=int, default=None, help="default 2")
    p.add_argument("--heads", type=int, default=None, help="attention heads (gpt; default 4)")
    p.add_argument("--dropout", type=float, default=0.1, help="default 0.1")
    p.add_argument("--sample-chars", type=int, default=300, help="length of each sample")
    p.add_argument("--threads", type=int, default=None,
                   help="limit the BLAS/OpenMP pools to this many threads (threadpoolctl); "
                        "on a busy machine 1 is much faster than the default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out", help="directory for the plot and the checkpoint")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    for key, value in DEFAULTS[args.model].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


class GPT(nn.Module):
    """Token + position embeddings, pre-norm Transformer blocks under a causal mask."""
    recurrent = False

    def __init__(self, vocab, context, width, layers, heads, dropout):
        super().__init__()
        self.context = context
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(context, width)
        self.drop = nn.Dropout(dropout)
        block = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout, activation="relu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, idx, state=None):
        t = idx.shape[1]
        x = self.drop(self.tok(idx) + self.pos(torch.arange(t, device=idx.device)))
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=idx.device)
        x = self.blocks(x, mask=mask, is_causal=True)
        return self.head(self.ln_f(x)), None


class CharLSTM(nn.Module):
    """Embedding, a stacked LSTM, a linear head; the state carries across calls."""
    recurrent = True

    def __init__(self, vocab, context, width, layers, heads, dropout):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.lstm = nn.LSTM(width, width, layers, batch_first=True, dropout=dropout)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, vocab)

    def forward(self, idx, state=None):
        out, state = self.lstm(self.embed(idx), state)
        return self.head(self.drop(out)), state


def make_model(kind, config):
    return (GPT if kind == "gpt" else CharLSTM)(**config)


def unigram_entropy(text):
    """Entropy of the character frequencies, in nats per character."""
    counts = collections.Counter(text)
    return -sum(c / len(text) * math.log(c / len(text)) for c in counts.values())


def windows(data, starts, context):
    """Inputs and next-character targets of the windows beginning at ``starts``."""
    offsets = starts[:, None] + torch.arange(context + 1, device=data.device)[None, :]
    chunk = data[offsets]
    return chunk[:, :-1], chunk[:, 1:]


def random_batch(data, args, generator):
    starts = torch.randint(0, data.shape[0] - args.context - 1, (args.batch_size,),
                           generator=generator).to(data.device)
    return windows(data, starts, args.context)


def loss_of(model, x, y):
    logits, _ = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def evaluate(model, data, context, batch_size=64):
    """Mean loss over the non-overlapping windows of ``data`` (eval mode, no grad)."""
    model.eval()
    starts = torch.arange(0, data.shape[0] - context - 1, context, device=data.device)
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, starts.shape[0], batch_size):
            x, y = windows(data, starts[i:i + batch_size], context)
            total += loss_of(model, x, y).item() * x.shape[0]
            count += x.shape[0]
    model.train()
    return total / count


def sample(model, prompt, n, stoi, itos, context, device, generator, temperature=0.8):
    """``n`` characters drawn after ``prompt`` (the GPT sees the last ``context`` ones, the
    LSTM carries its state)."""
    model.eval()
    ids = [stoi[c] for c in prompt]
    x = torch.asarray([ids], dtype=torch.int64, device=device)
    state = None
    with torch.no_grad():
        for _ in range(n):
            logits, state = model(x if model.recurrent else x[:, -context:], state)
            probs = F.softmax(logits[:, -1] / temperature, dim=-1)
            nxt = torch.multinomial(probs.to("cpu"), 1, generator=generator).to(device)
            ids.append(int(nxt.item()))
            x = nxt if model.recurrent else torch.cat([x, nxt], dim=1)
    model.train()
    return "".join(itos[i] for i in ids)


def plot_losses(path, history, entropy, title):
    """Training loss per step, validation points, the unigram entropy as a reference."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(history["step"], history["loss"], lw=0.6, alpha=0.6, label="training batches")
    ax.plot(history["val_step"], history["val_loss"], "o-", label="held-out text (last 10%)")
    ax.axhline(entropy, ls="--", color="gray", label=f"unigram entropy {entropy:.2f}")
    ax.set(xlabel="training step", ylabel="cross-entropy (nats/char)", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"{title}: loss curve written to {path}")


def main(argv=None):
    args = parse(argv)
    with contextlib.ExitStack() as stack:
        if args.threads is not None:  # for this run only
            import threadpoolctl
            stack.enter_context(threadpoolctl.threadpool_limits(limits=args.threads))
        return run(args)


def run(args):
    """Train, report, save, reload, plot, sample; returns the figures the tests check."""
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(args.seed)

    with open(DATA, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    itos = dict(enumerate(chars))
    data = torch.asarray([stoi[c] for c in text], dtype=torch.int64, device=device)
    split = int(0.9 * data.shape[0])
    train, val = data[:split], data[split:]
    entropy = unigram_entropy(text)
    print(f"char_lm: {len(text)} characters, {len(chars)} distinct; unigram entropy "
          f"{entropy:.3f} nats/char")

    config = dict(vocab=len(chars), context=args.context, width=args.width,
                  layers=args.layers, heads=args.heads, dropout=args.dropout)
    model = make_model(args.model, config).to(device)
    print(f"{args.model}: {sum(p.numel() for p in model.parameters())} parameters")
    optimizer = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps,
                                                     eta_min=args.lr / 10)

    history = {"step": [], "loss": [], "val_step": [], "val_loss": []}
    val_every = max(1, args.steps // 6)
    with Timer() as timer:
        bar = progress(range(args.steps), args, desc=f"char_lm {args.model}")
        for step in bar:
            x, y = random_batch(train, args, generator)
            loss = loss_of(model, x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            history["step"].append(step)
            history["loss"].append(loss.item())
            if (step + 1) % val_every == 0 or step + 1 == args.steps:
                history["val_step"].append(step)
                history["val_loss"].append(evaluate(model, val, args.context))
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{history['loss'][-1]:.3f}",
                                    val=f"{history['val_loss'][-1]:.3f}")

    tail = history["loss"][-max(1, args.steps // 10):]
    train_loss = evaluate(model, train, args.context)
    val_loss = history["val_loss"][-1]
    print(f"char_lm {args.model}: {args.steps} steps in {timer.seconds:.1f} s on {device} "
          f"({1000 * timer.seconds / args.steps:.1f} ms/step)")
    print(f"cross-entropy (nats/char): training text {train_loss:.3f} (last batches "
          f"{sum(tail) / len(tail):.3f}), validation text {val_loss:.3f}; unigram entropy "
          f"{entropy:.3f}")

    ckpt = os.path.join(args.out, f"char_lm_{args.model}.pt")
    torch.save({"model": args.model, "config": config, "chars": "".join(chars),
                "steps": args.steps, "state_dict": model.state_dict()}, ckpt)
    saved = torch.load(ckpt, device=device)
    model2 = make_model(saved["model"], saved["config"]).to(device)
    model2.load_state_dict(saved["state_dict"])
    reloaded = evaluate(model2, val, args.context)
    print(f"checkpoint {ckpt}: reloaded model validation loss {reloaded:.3f}")
    if abs(reloaded - val_loss) > 1e-6 * max(1.0, val_loss):
        raise RuntimeError("char_lm: the reloaded checkpoint scores differently")

    plot_losses(os.path.join(args.out, f"char_lm_{args.model}_loss.png"), history, entropy,
                f"char_lm ({args.model})")
    samples = []
    for prompt in ("Shall I", "When "):
        samples.append(sample(model, prompt, args.sample_chars, stoi, itos, args.context,
                              device, generator))
        print(f"--- sample (temperature 0.8) after {prompt!r}:\n{samples[-1]}\n")
    return {"train_loss": train_loss, "val_loss": val_loss, "entropy": entropy,
            "reloaded_val_loss": reloaded, "seconds": timer.seconds, "samples": samples,
            "checkpoint": ckpt}


if __name__ == "__main__":
    main()
