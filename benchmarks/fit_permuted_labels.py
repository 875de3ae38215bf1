"""Measure how fast LeNet5 fits CIFAR10's permuted training labels (Zhang et al. 2017): the
budget and learning rate of the assignment's label twin (issue 21). Plain torch, no convscope
loop: loads the data through convscope, permutes the labels as ``permute_labels`` does, trains
with Adam at batch 50 and prints the running training accuracy per epoch and the time.

    OMP_NUM_THREADS=1 python benchmarks/fit_permuted_labels.py --lr 1e-3 --epochs 20 [--n 50000]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch import nn

from convscope.data.registry import load_source, permute_train_labels
from convscope.models.lenet import LeNet5


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--n", type=int, default=50000, help="first n training images")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=1e9)
    a = ap.parse_args()
    torch.set_num_threads(1)
    root = os.environ["CONVSCOPE_DATA_ROOT"]
    ds = permute_train_labels(load_source(f"{root}/CIFAR10"), a.seed)
    x = ds.train.images[: a.n].float().div_(255)
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
    x = (x - mean) / std
    y = ds.train.labels[: a.n]
    torch.manual_seed(a.seed)
    model = LeNet5(x.shape[1], x.shape[2], 10)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(a.seed)
    t0 = time.perf_counter()
    step = 0
    for ep in range(1, a.epochs + 1):
        perm = torch.randperm(len(y), generator=g)
        correct = total = 0
        lsum = 0.0
        for i in range(0, len(y), a.batch):
            idx = perm[i : i + a.batch]
            out = model(x[idx])
            loss = loss_fn(out, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            correct += int((out.argmax(1) == y[idx]).sum())
            total += len(idx)
            lsum += float(loss) * len(idx)
        print(
            f"n={a.n} lr={a.lr:g} epoch {ep} step {step}: running train acc "
            f"{correct / total:.3f} loss {lsum / total:.3f} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        if time.perf_counter() - t0 > a.max_seconds:
            break


if __name__ == "__main__":
    main()
