"""MixUp and CutMix on a device batch, with soft targets, drawn from a ``torch.Generator``.

``torch.distributions.Beta`` takes no generator, so λ ~ Beta(α, α) is built here from two
Gamma(α) draws (Marsaglia–Tsang, vectorized, with the α < 1 boost), which keeps an augmented
batch reproducible from the generator's seed.

Example:
    >>> import torch
    >>> from knobwise.config import MixConfig
    >>> g = torch.Generator().manual_seed(0)
    >>> x, y = mix_batch(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3]), 4, MixConfig(alpha=0.4), None, g)
    >>> y.shape, bool(torch.allclose(y.sum(1), torch.ones(4)))
    (torch.Size([4, 4]), True)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from knobwise.config import MixConfig

__all__ = ["mix_batch", "sample_beta", "sample_gamma"]

_TRIES = 12  # Marsaglia-Tsang accepts > 95% of candidates; 12 tries leave ~1e-16 unaccepted


def sample_gamma(alpha: float, n: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
    """``n`` draws of Gamma(``alpha``, 1) from generator ``g``.

    >>> g = torch.Generator().manual_seed(0)
    >>> abs(float(sample_gamma(2.0, 20000, g, torch.device("cpu")).mean()) - 2.0) < 0.05
    True
    """
    a = alpha + 1.0 if alpha < 1 else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    z = torch.randn(_TRIES, n, generator=g, device=device)
    u = torch.rand(_TRIES, n, generator=g, device=device)
    v = (1 + c * z) ** 3
    ok = (v > 0) & (torch.log(u) < 0.5 * z**2 + d - d * v + d * torch.log(v.clamp_min(1e-30)))
    first = torch.argmax(ok.int(), 0)  # the first accepted candidate of each column
    out = d * v.gather(0, first.unsqueeze(0)).squeeze(0)
    out = torch.where(ok.any(0), out, torch.full_like(out, d))
    if alpha < 1:
        out = out * torch.rand(n, generator=g, device=device) ** (1.0 / alpha)
    return out


def sample_beta(alpha: float, n: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
    """``n`` draws of Beta(``alpha``, ``alpha``)."""
    a = sample_gamma(alpha, n, g, device)
    b = sample_gamma(alpha, n, g, device)
    return a / (a + b).clamp_min(1e-30)


def mix_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    mixup: MixConfig | None,
    cutmix: MixConfig | None,
    g: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image is mixed with a partner from the same batch: by MixUp with probability
    ``mixup.p``, else by CutMix with probability ``cutmix.p`` (never both). Targets become
    ``λ·onehot(y) + (1 − λ)·onehot(y_partner)``, λ the kept share of the image."""
    n, _, h, w = x.shape
    dev = x.device
    soft = y.float() if y.ndim == 2 else F.one_hot(y, num_classes).float()
    partner = torch.randperm(n, generator=g, device=dev)
    r = torch.rand(n, generator=g, device=dev)
    lam = torch.ones(n, device=dev)
    out = x
    p_mix = mixup.p if mixup is not None else 0.0
    if mixup is not None:
        use = r < p_mix
        lam_m = torch.where(use, sample_beta(mixup.alpha, n, g, dev), lam)
        out = lam_m.view(n, 1, 1, 1) * x + (1 - lam_m.view(n, 1, 1, 1)) * x[partner]
        lam = lam_m
    if cutmix is not None:
        use = (r >= p_mix) & (r < p_mix + cutmix.p)
        lam_c = sample_beta(cutmix.alpha, n, g, dev)
        side = (1 - lam_c).sqrt()
        centre = torch.rand(n, 2, generator=g, device=dev)
        x0 = (centre[:, 0] * w - side * w / 2).clamp(0, w).round()
        x1 = (centre[:, 0] * w + side * w / 2).clamp(0, w).round()
        y0 = (centre[:, 1] * h - side * h / 2).clamp(0, h).round()
        y1 = (centre[:, 1] * h + side * h / 2).clamp(0, h).round()
        xs = torch.arange(w, device=dev).view(1, 1, w)
        ys = torch.arange(h, device=dev).view(1, h, 1)
        box = (
            (xs >= x0.view(n, 1, 1))
            & (xs < x1.view(n, 1, 1))
            & (ys >= y0.view(n, 1, 1))
            & (ys < y1.view(n, 1, 1))
        )
        box = box & use.view(n, 1, 1)
        out = torch.where(box.unsqueeze(1), x[partner], out)
        kept = 1 - box.float().mean((1, 2))  # λ is the share of the image that was kept
        lam = torch.where(use, kept, lam)
    lam2 = lam.view(n, 1)
    return out, lam2 * soft + (1 - lam2) * soft[partner]
