"""Train the MSN selector (msn.py) on candidate tables dumped by scripts/export-msn-data.ts.

    cd training && /usr/bin/python3 -m vprop_train.train_msn --set mask-bilateral \\
        --train blackswan,bmx-trees,... --val cows,dog,... --out runs/msn-mask-foldB --export models/msn-mask-foldB

Labels (the seed's margins, ANCHORS §5 / issue 11): for each target, a candidate is good when its
score (J for masks, clean PSNR in dB for colour) is within `--good-margin` (0.05) of the best
candidate's, bad when within `--bad-margin` (0.15) of the worst's; candidates that are both or
neither are not used (so targets whose candidates all score alike teach nothing). Cross-entropy with the two classes weighted equally, Adam, a fixed
number of steps chosen before looking at any held-out fold.

Validation (open loop, on the `--val` sequences, never trained on): per target, J of the
candidate the selector ranks first vs the previous frame t - 1 vs the best candidate (oracle) vs the
engine's own run; the closed-loop figures come from bench/davis-masks.ts --memory selected.

Export: PREFIX-embed.onnx (features -> candidate, target, reference) and PREFIX-head.onnx
(correlation, projections -> logits), with a parity fixture (--fixture).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from .export_stpn import OPSET, save_onnx
from .msn import CORR, SelectionNet, correlation

HERE = os.path.dirname(os.path.abspath(__file__))


def load_sequence(root: str, name: str) -> dict:
    d = os.path.join(root, name)
    meta = json.load(open(os.path.join(d, "pairs.json")))
    feats = np.load(os.path.join(d, "features.npy")).astype(np.float32)
    ref = np.load(os.path.join(d, "reference.npy")).astype(np.float32)
    return {"name": name, "features": torch.from_numpy(feats), "reference": torch.from_numpy(ref), "meta": meta}


def sequences_of(data: str, sets: list[str], names: str) -> list[dict]:
    """The dumped tables of the comma-separated sequences `names` in every set (missing ones skipped)."""
    return [load_sequence(os.path.join(data, s), n) for s in sets for n in names.split(",") if n and os.path.isdir(os.path.join(data, s, n))]


def targets_of(seq: dict) -> dict[int, list[tuple[int, float]]]:
    by: dict[int, list[tuple[int, float]]] = {}
    for t, i, j in seq["meta"]["pairs"]:
        by.setdefault(int(t), []).append((int(i), float(j)))
    return by


def own_of(meta: dict) -> list[float]:
    """The metric of the engine's own run per frame (tables before colour support call it ownJ)."""
    return meta["own"] if "own" in meta else meta["ownJ"]


def labelled(seqs: list[dict], good_margin: float, bad_margin: float) -> list[tuple[int, int, int, int]]:
    """(sequence index, target, candidate, label 1 = good / 0 = bad)."""
    out = []
    for s, seq in enumerate(seqs):
        for t, cands in targets_of(seq).items():
            js = [j for _, j in cands]
            best, worst = max(js), min(js)
            for i, j in cands:
                good, bad = j >= best - good_margin, j <= worst + bad_margin
                if good != bad:
                    out.append((s, t, i, 1 if good else 0))
    return out


def batch_tensors(seqs, items):
    fi = torch.stack([seqs[s]["features"][i] for s, _, i, _ in items])
    ft = torch.stack([seqs[s]["features"][t] for s, t, _, _ in items])
    fr = torch.stack([seqs[s]["reference"][0] for s, _, _, _ in items])
    y = torch.tensor([lab for *_, lab in items])
    return fi, ft, fr, y


@torch.no_grad()
def evaluate(model: SelectionNet, seqs: list[dict]) -> dict:
    model.eval()
    rows = []
    for seq in seqs:
        for t, cands in sorted(targets_of(seq).items()):
            idx = [i for i, _ in cands]
            js = torch.tensor([j for _, j in cands])
            f = seq["features"]
            n = len(idx)
            logits = model(f[idx], f[t].expand(n, -1, -1, -1), seq["reference"].expand(n, -1, -1, -1))
            p = logits.softmax(1)[:, 1]
            prev = js[idx.index(t - 1)].item() if (t - 1) in idx else float("nan")
            rows.append({"seq": seq["name"], "t": t, "selected": js[int(p.argmax())].item(), "previous": prev, "oracle": js.max().item(), "first": js[0].item(), "own": own_of(seq["meta"])[t]})
    model.train()
    out = {}
    for k in ("selected", "previous", "oracle", "first", "own"):
        per_seq = {}
        for r in rows:
            per_seq.setdefault(r["seq"], []).append(r[k])
        out[k] = float(np.mean([np.mean(v) for v in per_seq.values()]))
    out["targets"] = len(rows)
    return out


def print_oracle(data: str, sets: list[str]) -> None:
    """Open-loop table of the dumped candidates (no selector involved)."""
    print("| set | sequence | targets | own run | previous frame alone | best single candidate (oracle) | frame 0 alone |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for s in sets:
        means = []
        for name in sorted(os.listdir(os.path.join(data, s))):
            if not os.path.exists(os.path.join(data, s, name, "pairs.json")):
                continue
            meta = json.load(open(os.path.join(data, s, name, "pairs.json")))
            by = targets_of({"meta": meta})
            rows = np.array([[own_of(meta)[t], dict(c).get(t - 1, np.nan), max(j for _, j in c), dict(c)[0]] for t, c in by.items()])
            m = [rows[:, 0].mean(), np.nanmean(rows[:, 1]), rows[:, 2].mean(), rows[:, 3].mean()]
            means.append(m)
            print(f"| {s} | {name} | {len(rows)} | " + " | ".join(f"{v:.3f}" for v in m) + " |")
        if means:
            print(f"| {s} | **mean** | | " + " | ".join(f"**{v:.3f}**" for v in np.mean(means, axis=0)) + " |")


def export(model: SelectionNet, prefix: str, meta: dict, fixture: str | None) -> None:
    model = model.eval()

    class _Embed(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, features):
            return self.m.embed(features)

    class _Head(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, corr, projections):
            return self.m.head(corr, projections)

    g = torch.Generator().manual_seed(5)
    feats = torch.randn(4, 96, 10, 20, generator=g).abs()
    P = model.projected
    D2 = (2 * (CORR["max_displacement"] // CORR["stride2"]) + 1) ** 2
    base = {"vprop.task": meta["task"], "vprop.projected": P, "vprop.grid": "96x10x20", "vprop.input": "320x160 rgb", "vprop.correlation": json.dumps(CORR), "vprop.opset": OPSET}
    base.update({f"vprop.{k}": v for k, v in meta.items() if k != "task"})
    with torch.no_grad():
        a, b, c = model.embed(feats)
        corr = torch.cat([correlation(a, b, **CORR), correlation(a, c, **CORR), correlation(b, c, **CORR)], dim=1)
        cat = torch.cat([a, b, c], dim=1)
    graphs = [
        (_Embed(model), (feats,), ["features"], ["candidate", "target", "reference"], {"features": {0: "N"}, "candidate": {0: "N"}, "target": {0: "N"}, "reference": {0: "N"}}, prefix + "-embed.onnx", "msn-embed"),
        (_Head(model), (corr, cat), ["correlation", "projections"], ["logits"], {"correlation": {0: "N"}, "projections": {0: "N"}, "logits": {0: "N"}}, prefix + "-head.onnx", "msn-head"),
    ]
    for module, args, ins, outs, dyn, path, kind in graphs:
        save_onnx(module, args, ins, outs, dyn, path, {**base, "vprop.model": kind})
    if fixture:
        # Full-network parity: candidates 0 and 1 against target 2, reference = features 3; inputs
        # are multiples of 1/16 in [0, 4) so the file stays small and exact.
        q = torch.randint(0, 64, (4, 96, 10, 20), generator=g).float() / 16
        with torch.no_grad():
            fi, ft, fr = q[:2], q[2:3].expand(2, -1, -1, -1), q[3:4].expand(2, -1, -1, -1)
            logits = model(fi, ft, fr)
        flat = lambda t: [float(f"{v:.9g}") for v in t.reshape(-1).tolist()]  # noqa: E731
        short = lambda t: [int(v) if v == int(v) else v for v in t.reshape(-1).tolist()]  # noqa: E731
        data = {"model": os.path.basename(prefix), "candidates": short(fi), "target": short(q[2]), "reference": short(q[3]), "logits": flat(logits)}
        os.makedirs(os.path.dirname(os.path.abspath(fixture)), exist_ok=True)
        with open(fixture + ".partial", "w") as f:
            json.dump(data, f)
        os.replace(fixture + ".partial", fixture)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=os.path.join(HERE, "..", "data-cache", "msn"))
    p.add_argument("--set", action="append", required=True, help="dumped set(s), e.g. mask-bilateral")
    p.add_argument("--train", default="", help="comma-separated sequences to train on")
    p.add_argument("--oracle", action="store_true", help="only print, per sequence of the sets, J of the engine's own run, the previous frame alone, the best candidate alone (oracle) and frame 0 alone")
    p.add_argument("--val", default="", help="comma-separated sequences to report on (never trained on)")
    p.add_argument("--task", default="mask")
    p.add_argument("--good-margin", type=float, default=0.05)
    p.add_argument("--bad-margin", type=float, default=0.15)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--projected", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--evaluate", help="only report the open-loop validation of this checkpoint (a run's last.pt) on --val")
    p.add_argument("--out")
    p.add_argument("--export")
    p.add_argument("--fixture")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.oracle:
        print_oracle(a.data, a.set)
        return
    if a.evaluate:
        model = SelectionNet(a.projected)
        model.load_state_dict(torch.load(a.evaluate)["model"])
        val = sequences_of(a.data, a.set, a.val)
        if not val:
            sys.exit("train_msn: --evaluate needs --val sequences with dumped tables")
        print(json.dumps({"val": evaluate(model, val)}), flush=True)
        return
    if not a.out or not a.train:
        sys.exit("train_msn: --train and --out are required (or --oracle)")
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    train = sequences_of(a.data, a.set, a.train)
    val = sequences_of(a.data, a.set, a.val)
    if not train:
        sys.exit(f"train_msn: no training sequences found under {a.data}/{a.set}")
    items = labelled(train, a.good_margin, a.bad_margin)
    good = [x for x in items if x[3] == 1]
    bad = [x for x in items if x[3] == 0]
    print(f"train: {len(train)} sequences, {len(good)} good and {len(bad)} bad candidates; val: {len(val)} sequences", flush=True)
    if not good or not bad:
        sys.exit("train_msn: need both good and bad candidates")
    model = SelectionNet(a.projected)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    os.makedirs(a.out, exist_ok=True)
    started = time.time()
    running = []
    for step in range(1, a.steps + 1):
        half = a.batch // 2
        pick = [good[k] for k in rng.integers(0, len(good), half)] + [bad[k] for k in rng.integers(0, len(bad), a.batch - half)]
        fi, ft, fr, y = batch_tensors(train, pick)
        loss = F.cross_entropy(model(fi, ft, fr), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running.append(loss.item())
        if step % 100 == 0:
            print(f"step {step} loss {np.mean(running):.4f} {(time.time() - started) / step:.2f} s/step", flush=True)
            running = []
    torch.save({"model": model.state_dict(), "args": vars(a)}, os.path.join(a.out, "last.pt"))
    report = {"train": evaluate(model, train)}
    if val:
        report["val"] = evaluate(model, val)
    print(json.dumps(report), flush=True)
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    if a.export:
        export(model, a.export, {"task": a.task, "sets": ",".join(a.set), "trained": a.train, "steps": a.steps}, a.fixture)
        print(f"exported {a.export}-embed.onnx and {a.export}-head.onnx", flush=True)


if __name__ == "__main__":
    main()
