"""Sequence models, training steps per second: arraylib against PyTorch CPU, in one run.

(a) a GPT-shaped model: 4 layers, 4 heads, width 128, context 64, vocabulary 65, batch 16,
    dropout 0.1, AdamW (nanoGPT/minGPT style: token and position embeddings, pre-norm
    blocks, fused q/k/v projection, ``F.scaled_dot_product_attention(is_causal=True)``,
    GELU MLP, cross-entropy over (B*T, V));
(b) the PyTorch examples' word language model: embedding 200, 2-layer LSTM hidden 200,
    dropout 0.2, sequence 35, batch 20, vocabulary 10000, log-softmax + NLL, clip_grad_norm_
    0.25 and the example's plain SGD update (lr 20);
(c) ``F.scaled_dot_product_attention`` forward + backward alone at (16, 4, 64, 32), causal.

The models are written once, PyTorch-style, and built on ``arraylib.torch`` and on
``torch`` from the same code, with the same initial weights; both run in this process with
the same thread count, timed in alternating rounds (each keeps its best).

    python benchmarks/bench_sequence.py [--threads N] [--quick] [--only gpt,lstm,sdpa]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved_rates  # noqa: E402

GPT = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab=65, batch=16, dropout=0.1)
LSTM = dict(ntoken=10000, ninp=200, nhid=200, nlayers=2, bptt=35, batch=20, dropout=0.2,
            lr=20.0, clip=0.25)
SDPA_SHAPE = (16, 4, 64, 32)


# -- (a) the GPT-shaped model, written once for either library ---------------------------
def make_gpt(torch, cfg):
    nn, F = torch.nn, torch.nn.functional

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.n_head, self.n_embd = cfg["n_head"], cfg["n_embd"]
            self.c_attn = nn.Linear(self.n_embd, 3 * self.n_embd)
            self.c_proj = nn.Linear(self.n_embd, self.n_embd)
            self.dropout = cfg["dropout"]
            self.resid_dropout = nn.Dropout(cfg["dropout"])

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
            k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0,
                is_causal=True)
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            return self.resid_dropout(self.c_proj(y))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc = nn.Linear(cfg["n_embd"], 4 * cfg["n_embd"])
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * cfg["n_embd"], cfg["n_embd"])
            self.dropout = nn.Dropout(cfg["dropout"])

        def forward(self, x):
            return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(cfg["n_embd"])
            self.attn = CausalSelfAttention()
            self.ln_2 = nn.LayerNorm(cfg["n_embd"])
            self.mlp = MLP()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(cfg["vocab"], cfg["n_embd"])
            self.wpe = nn.Embedding(cfg["block_size"], cfg["n_embd"])
            self.drop = nn.Dropout(cfg["dropout"])
            self.h = nn.ModuleList([Block() for _ in range(cfg["n_layer"])])
            self.ln_f = nn.LayerNorm(cfg["n_embd"])
            self.lm_head = nn.Linear(cfg["n_embd"], cfg["vocab"], bias=False)

        def forward(self, idx, targets):
            b, t = idx.size()
            pos = torch.arange(0, t, dtype=torch.long)
            x = self.drop(self.wte(idx) + self.wpe(pos))
            for block in self.h:
                x = block(x)
            logits = self.lm_head(self.ln_f(x))
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    return GPT()


def gpt_step(torch, cfg, weights, idx, tgt):
    """A zero-argument training step of the GPT (weights given as NumPy arrays)."""
    model = make_gpt(torch, cfg)
    load_weights(torch, model, weights)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    idx, tgt = torch.from_numpy(idx), torch.from_numpy(tgt)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(idx, tgt)
        loss.backward()
        opt.step()
        return float(loss.detach())
    return step


# -- (b) the word language model (PyTorch examples' RNNModel, LSTM) ----------------------
def make_lstm_lm(torch, cfg):
    nn, F = torch.nn, torch.nn.functional

    class RNNModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(cfg["dropout"])
            self.encoder = nn.Embedding(cfg["ntoken"], cfg["ninp"])
            self.rnn = nn.LSTM(cfg["ninp"], cfg["nhid"], cfg["nlayers"], dropout=cfg["dropout"])
            self.decoder = nn.Linear(cfg["nhid"], cfg["ntoken"])
            self.ntoken = cfg["ntoken"]

        def forward(self, input, hidden):
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            output = self.drop(output)
            decoded = self.decoder(output).view(-1, self.ntoken)
            return F.log_softmax(decoded, dim=1), hidden

        def init_hidden(self, bsz):
            weight = next(self.parameters())
            return (weight.new_zeros(cfg["nlayers"], bsz, cfg["nhid"]),
                    weight.new_zeros(cfg["nlayers"], bsz, cfg["nhid"]))

    return RNNModel()


def lstm_step(torch, cfg, weights, data, targets):
    model = make_lstm_lm(torch, cfg)
    load_weights(torch, model, weights)
    model.train()
    criterion = torch.nn.NLLLoss()
    data, targets = torch.from_numpy(data), torch.from_numpy(targets)
    hidden = [model.init_hidden(cfg["batch"])]

    def step():
        hidden[0] = tuple(h.detach() for h in hidden[0])  # repackage_hidden
        model.zero_grad()
        output, hidden[0] = model(data, hidden[0])
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-cfg["lr"])
        return float(loss.detach())
    return step


# -- (c) attention alone -------------------------------------------------------------
def sdpa_step(torch, q, k, v, g):
    F = torch.nn.functional
    q, k, v = (torch.from_numpy(a).requires_grad_(True) for a in (q, k, v))
    g = torch.from_numpy(g)

    def step():
        q.grad = k.grad = v.grad = None
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(g)
    return step


# -- shared ------------------------------------------------------------------------
def torch_weights(model):
    """The PyTorch model's initial parameters as NumPy arrays, in order."""
    return [p.detach().numpy().copy() for p in model.parameters()]


def load_weights(torch, model, weights):
    """Copy ``weights`` (NumPy arrays) into ``model``'s parameters, in order."""
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(torch.from_numpy(w))


def row(title, steps, per_round, rounds, unit="steps/s"):
    rates = interleaved_rates(steps, per_round, rounds=rounds, warmup=2)
    al, pt = rates["arraylib"], rates["pytorch"]
    print(f"{title:<44} arraylib {al:8.2f} {unit}   pytorch {pt:8.2f} {unit}   "
          f"arraylib/pytorch = {al / pt:.2f}x", flush=True)
    return al / pt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=0,
                    help="BLAS/intra-op threads for both libraries (0: library defaults)")
    ap.add_argument("--quick", action="store_true", help="short rounds (a smoke run)")
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds (best kept)")
    ap.add_argument("--only", default="gpt,lstm,sdpa", help="comma-separated subset")
    args = ap.parse_args(argv)
    import torch
    if args.threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
        torch.set_num_threads(args.threads)
    import arraylib.torch as altorch
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    rounds = args.rounds or (2 if args.quick else 5)
    which = set(args.only.split(","))
    print(f"sequence models on the CPU; torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads; best of {rounds} alternating rounds; load {os.getloadavg()[0]:.2f}")
    ratios = {}
    if "gpt" in which:
        cfg = GPT
        weights = torch_weights(make_gpt(torch, cfg))
        shape = (cfg["batch"], cfg["block_size"])
        idx = rng.integers(0, cfg["vocab"], shape).astype(np.int64)
        tgt = rng.integers(0, cfg["vocab"], shape).astype(np.int64)
        steps = {"arraylib": gpt_step(altorch, cfg, weights, idx, tgt),
                 "pytorch": gpt_step(torch, cfg, weights, idx, tgt)}
        ratios["gpt"] = row("(a) GPT 4x128, ctx 64, batch 16, AdamW", steps,
                            3 if args.quick else 20, rounds)
    if "lstm" in which:
        cfg = LSTM
        weights = torch_weights(make_lstm_lm(torch, cfg))
        data = rng.integers(0, cfg["ntoken"], (cfg["bptt"], cfg["batch"])).astype(np.int64)
        targets = rng.integers(0, cfg["ntoken"], cfg["bptt"] * cfg["batch"]).astype(np.int64)
        steps = {"arraylib": lstm_step(altorch, cfg, weights, data, targets),
                 "pytorch": lstm_step(torch, cfg, weights, data, targets)}
        ratios["lstm"] = row("(b) LSTM LM 2x200, seq 35, batch 20, SGD", steps,
                             3 if args.quick else 20, rounds)
    if "sdpa" in which:
        q, k, v, g = (rng.standard_normal(SDPA_SHAPE).astype(np.float32) for _ in range(4))
        steps = {"arraylib": sdpa_step(altorch, q, k, v, g),
                 "pytorch": sdpa_step(torch, q, k, v, g)}
        ratios["sdpa"] = row(f"(c) SDPA fwd+bwd {SDPA_SHAPE}, causal", steps,
                             20 if args.quick else 200, rounds, unit="calls/s")
    budgets = {"gpt": 1.0, "lstm": 1.0, "sdpa": 0.8}
    print("budgets: " + ", ".join(
        f"{name} {r:.2f}x (>= {budgets[name]}: {'met' if r >= budgets[name] else 'NOT met'})"
        for name, r in ratios.items()))
    return ratios


if __name__ == "__main__":
    main()
