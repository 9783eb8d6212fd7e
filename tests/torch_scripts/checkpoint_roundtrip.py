"""Saving and resuming training, as the 'Saving and loading a general checkpoint'
recipe writes it: torch.save({'model': ..., 'optimizer': ..., 'epoch': ...}) and
torch.load(..., weights_only=True).

Weights copied from NumPy arrays, data from NumPy's default_rng(0); values printed
rounded to 4 decimals.  The checkpoint files go to the current directory."""
import os
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

rng = np.random.default_rng(0)
PATH = "checkpoint.pt"


def make_model():
    return nn.Sequential(OrderedDict([
        ("fc1", nn.Linear(4, 8)), ("act", nn.ReLU()), ("fc2", nn.Linear(8, 3))]))


def init_(model):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.normal(0, 0.5, tuple(p.shape)).astype(np.float32)))


X = torch.from_numpy(rng.normal(size=(64, 4)).astype(np.float32))
y = torch.from_numpy(rng.integers(0, 3, size=64))
loss_fn = nn.CrossEntropyLoss()


def train(model, optimizer, scheduler, steps):
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(round(loss.item(), 4))
    return losses


model = make_model()
init_(model)
optimizer = optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.01)
scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.9)
print("first 4 steps:", train(model, optimizer, scheduler, 4))

EPOCH = 4
torch.save({
    "epoch": EPOCH,
    "model_state_dict": model.state_dict(),
    "optimizer_state_dict": optimizer.state_dict(),
    "scheduler_state_dict": scheduler.state_dict(),
    "loss": 0.25,
    "config": {"hidden": 8, "activation": "relu", "betas": (0.9, 0.999), "note": None,
               "tags": ["moons", "adamw"], "resume": True},
}, PATH)
print("saved a checkpoint:", os.path.getsize(PATH) > 0)

# Continue the original run
reference = train(model, optimizer, scheduler, 4)

# Resume from the checkpoint in a fresh model and optimizer
model2 = make_model()
optimizer2 = optim.AdamW(model2.parameters(), lr=0.01, weight_decay=0.01)
scheduler2 = optim.lr_scheduler.StepLR(optimizer2, step_size=2, gamma=0.9)
checkpoint = torch.load(PATH, weights_only=True, map_location="cpu")
model2.load_state_dict(checkpoint["model_state_dict"])
optimizer2.load_state_dict(checkpoint["optimizer_state_dict"])
scheduler2.load_state_dict(checkpoint["scheduler_state_dict"])
epoch = checkpoint["epoch"]
print("keys:", sorted(checkpoint))
print("epoch:", epoch, "loss:", checkpoint["loss"], "config:", checkpoint["config"])
print("model keys:", list(checkpoint["model_state_dict"].keys()))
state = checkpoint["optimizer_state_dict"]
print("optimizer:", sorted(state), "state entries:", len(state["state"]),
      "step:", float(state["state"][0]["step"]))
print("param_groups lr:", [round(g["lr"], 6) for g in state["param_groups"]])
print("weights moved on since the save:", not all(torch.equal(a, b) for a, b in
                            zip(model.state_dict().values(), model2.state_dict().values())))
resumed = train(model2, optimizer2, scheduler2, 4)
print("resumed 4 steps:", resumed)
assert resumed == reference, (resumed, reference)
print("resumed run matches the original:", resumed == reference)

# A bare state dict, as most scripts save it
torch.save(model2.state_dict(), "model.pth")
model3 = make_model()
model3.load_state_dict(torch.load("model.pth", weights_only=True))
print("state dict round trip:", all(torch.equal(a, b) for a, b in
                                    zip(model2.state_dict().values(),
                                        model3.state_dict().values())))
print("done")
