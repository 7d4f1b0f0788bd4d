"""Near-duplicates across splits: training images that reappear in dev/test (leakage).

Two checks, both cheap:

- *exact*: a hash of each image's bytes (identical raw images are identical after normalization);
- *near-identical*: every image is shrunk to 8x8 (channel mean), centered and scaled to unit
  length, so brightness and contrast changes do not matter; each dev/test image's most similar
  training image is found with a chunked matrix product on the device, and a candidate above
  ``coarse`` (cosine at 8x8) is confirmed when the centered full-resolution images have cosine
  similarity >= ``threshold`` (0.99: on full MNIST and on digits no two distinct images of
  different splits reach it, while a copy with noise or a brightness change does).

The exact check covers every image. The near check is bounded: above ``max_pairs`` image pairs
(1e8, about a second on two CPU cores) the other split is sampled, and ``checked`` says how many
of its images were compared.

Example:
    >>> from knobwise.config import DataConfig
    >>> from knobwise.data import prepare_data
    >>> report = find_leakage(prepare_data(DataConfig(dataset="digits"), seed=0))
    >>> report.checked["dev"] == 180
    True
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from knobwise.data._prepared import PreparedData

__all__ = ["LeakageReport", "find_leakage"]


@dataclass
class LeakageReport:
    """Duplicated pairs: ``{"split", "index", "train_index", "similarity"}`` (pool positions)."""

    exact: list[dict[str, Any]] = field(default_factory=list)
    near: list[dict[str, Any]] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    kind: str = "images"  # what the examples are: "records" for tabular data

    def summary(self) -> str:
        """One line for the training log."""
        per: dict[str, int] = {}
        for d in self.exact + self.near:
            per[d["split"]] = per.get(d["split"], 0) + 1
        where = ", ".join(f"{n} in {s}" for s, n in per.items()) or "none"
        sampled = [
            f"{s} {self.checked[s]} of {n}" for s, n in self.sizes.items() if self.checked.get(s, n) < n
        ]
        if sampled:
            where += "; near check on a sample: " + ", ".join(sampled)
        return (
            f"leakage check: {len(self.exact)} exact and {len(self.near)} near-identical copies of "
            f"training {self.kind} in other splits ({where}; {self.seconds:.2f} s)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "exact": self.exact,
            "near": self.near,
            "checked": self.checked,
            "sizes": self.sizes,
            "seconds": self.seconds,
        }


def _hashes(x: torch.Tensor) -> list[bytes]:
    flat = x.detach().reshape(x.shape[0], -1).cpu().numpy()
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


def _unit(v: torch.Tensor) -> torch.Tensor:
    v = v - v.mean(dim=1, keepdim=True)
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-6)


def _thumbs(x: torch.Tensor) -> torch.Tensor:
    small = (
        F.adaptive_avg_pool2d(x.float().mean(dim=1, keepdim=True), (8, 8)) if x.shape[-1] > 8 else x.mean(1)
    )
    return _unit(small.reshape(x.shape[0], -1))


def _best_match(q: torch.Tensor, base: torch.Tensor, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    sims, idx = [], []
    for s in range(0, q.shape[0], chunk):
        best = (q[s : s + chunk] @ base.T).max(dim=1)
        sims.append(best.values)
        idx.append(best.indices)
    if not sims:
        return torch.zeros(0), torch.zeros(0, dtype=torch.long)
    return torch.cat(sims), torch.cat(idx)


@torch.no_grad()
def find_leakage(
    data: PreparedData,
    *,
    threshold: float = 0.99,
    coarse: float = 0.97,
    max_pairs: float = 1e8,
    seed: int = 0,
) -> LeakageReport:
    """Training images that reappear, exactly or nearly, in the other splits of ``data``."""
    start = time.perf_counter()
    report = LeakageReport(kind="records" if getattr(data, "tabular", None) is not None else "images")
    train = data.splits.get("train")
    if train is None or len(train) == 0:
        return report
    train_hash = {h: i for i, h in enumerate(_hashes(train.x))}
    base = _thumbs(train.x)
    full_train = train.x.reshape(len(train), -1)
    rng = np.random.default_rng(seed)
    for name, split in data.splits.items():
        if name == "train" or len(split) == 0:
            continue
        exact_rows = set()
        for r, h in enumerate(_hashes(split.x)):
            if h in train_hash:
                exact_rows.add(r)
                report.exact.append(
                    {
                        "split": name,
                        "index": int(split.index[r]),
                        "train_index": int(train.index[train_hash[h]]),
                        "similarity": 1.0,
                    }
                )
        rows = np.arange(len(split))
        if len(rows) * len(train) > max_pairs:  # bounded time: sample the other split
            rows = np.sort(rng.choice(len(rows), max(1, int(max_pairs // len(train))), replace=False))
        report.checked[name], report.sizes[name] = len(rows), len(split)
        x = split.x[torch.as_tensor(rows, device=split.x.device)]
        sim, j = _best_match(_thumbs(x), base)
        cand = [k for k in torch.nonzero(sim >= coarse).flatten().tolist() if int(rows[k]) not in exact_rows]
        if not cand:
            continue
        kc = torch.as_tensor(cand, device=x.device)
        full = (_unit(x[kc].reshape(len(cand), -1)) * _unit(full_train[j[kc]])).sum(dim=1).tolist()
        for k, s in zip(cand, full, strict=True):
            if s >= threshold:
                report.near.append(
                    {
                        "split": name,
                        "index": int(split.index[int(rows[k])]),
                        "train_index": int(train.index[int(j[k])]),
                        "similarity": float(s),
                    }
                )
    report.seconds = time.perf_counter() - start
    return report
