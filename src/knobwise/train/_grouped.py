"""The forward pass of N same-architecture layer models at once, on stacked parameters.

``torch.func.vmap`` of ``functional_call`` batches any module, but on a CPU its rule for a
convolution with per-member weights returns the member dimension second, and every following
pooling or activation first copies it to the front: for small CNNs the copies cost more than the
batching saves. This forward keeps images as ``(B, N·C, H, W)`` — member n's channels side by side
— so a convolution is one grouped convolution (``groups=N``), and pooling, padding, activations and
batch norm, which act per channel, run on the tensor as it is; flat features are ``(N, B, F)`` and a
dense layer is one batched matrix product. Layers it does not know make :func:`grouped_blocker`
name them, and the population then uses ``vmap``.

Example:
    >>> import torch
    >>> from torch.func import stack_module_state
    >>> from knobwise.models import build_from_layers
    >>> layers = [{"conv2d": {"filters": 2, "kernel_size": 3}}, "flatten", {"dense": {"units": 3}}]
    >>> models = [build_from_layers(layers, (1, 5, 5)) for _ in range(2)]
    >>> params, buffers = stack_module_state(models)
    >>> x = torch.randn(2, 4, 1, 5, 5)
    >>> out = grouped_forward(models[0], params, buffers, x, {})
    >>> torch.allclose(out[1], models[1](x[1]), atol=1e-5)
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from knobwise.models._ops import AvgPoolSame, MaxPoolSame

__all__ = ["grouped_forward", "grouped_blocker", "grouped_plan", "leaf_modules"]

#: Modules that act on each channel (or element) alone: they run on ``(B, N·C, H, W)`` or
#: ``(N, B, F)`` unchanged.
_PER_CHANNEL = (
    nn.ReLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.ELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.LeakyReLU,
    nn.Identity,
    nn.ZeroPad2d,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    MaxPoolSame,
    AvgPoolSame,
)
_OWN = (nn.Conv2d, nn.Linear, nn.Flatten, nn.Dropout, nn.BatchNorm1d, nn.BatchNorm2d)


class _ToContiguous(torch.autograd.Function):
    """``x.contiguous()`` whose gradient comes back in ``x``'s channels-last layout: the pooling
    before a flatten runs its backward many times slower on a gradient in another layout."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        ctx.channels_last = x.is_contiguous(memory_format=torch.channels_last)  # type: ignore[attr-defined]
        return x.contiguous()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        if ctx.channels_last:  # type: ignore[attr-defined]
            return grad.contiguous(memory_format=torch.channels_last)
        return grad


def leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The leaf modules of a layer model in forward order, with their dotted names."""
    return [(name, m) for name, m in model.named_modules() if not list(m.children())]


def grouped_plan(parts: list[tuple[str, nn.Module]]) -> list[tuple[str, nn.Module]]:
    """The leaf modules in the order the grouped forward runs them: a ReLU directly before a
    max-pooling runs after it instead.

    The two commute exactly — values, and gradients too: where a window's maximum is positive
    both orders route the gradient to the same element, elsewhere both give zero — and the ReLU
    then passes over a quarter of the elements (for 2×2 pooling), forward and backward.

    >>> plan = grouped_plan(leaf_modules(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2))))
    >>> [type(m).__name__ for _, m in plan]
    ['Conv2d', 'MaxPool2d', 'ReLU']
    """
    plan = list(parts)
    for i in range(len(plan) - 1):
        if type(plan[i][1]) is nn.ReLU and type(plan[i + 1][1]) is nn.MaxPool2d:
            plan[i], plan[i + 1] = plan[i + 1], plan[i]
    return plan


def grouped_blocker(model: nn.Module) -> str | None:
    """Why :func:`grouped_forward` cannot run ``model`` (None: it can).

    >>> grouped_blocker(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
    >>> grouped_blocker(nn.Sequential(nn.Flatten(), nn.Bilinear(4, 4, 2)))
    'layer 1 (Bilinear) has no grouped form'
    """
    if not isinstance(model, nn.Sequential):
        return f"{type(model).__name__} is not a layer sequence"
    for name, m in leaf_modules(model):
        if type(m) not in _PER_CHANNEL and type(m) not in _OWN:
            return f"layer {name} ({type(m).__name__}) has no grouped form"
        if isinstance(m, nn.Conv2d) and (m.groups != 1 or m.padding_mode != "zeros"):
            return f"layer {name}: grouped or non-zero-padded convolutions have no grouped form"
        if isinstance(m, nn.Flatten) and (m.start_dim != 1 or m.end_dim != -1):
            return f"layer {name}: only flatten from dimension 1 has a grouped form"
    return None


def grouped_forward(
    model: nn.Module,
    params: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    x: torch.Tensor,
    masks: dict[str, torch.Tensor],
    training: bool = True,
    parts: list[tuple[str, nn.Module]] | None = None,
) -> torch.Tensor:
    """Logits ``(N, B, K)`` of the N members whose stacked tensors are ``params``/``buffers``
    (``torch.func.stack_module_state`` names), for inputs ``x`` of shape ``(N, B, C, H, W)``.

    ``masks`` maps a dropout module's name to its ``(N, B, ...)`` scaled keep-mask (training only).
    ``model`` supplies the structure (its own tensors are not used); ``parts``, when given, is
    :func:`grouped_plan` of its :func:`leaf_modules`, computed once by the caller.
    """
    n, b = x.shape[0], x.shape[1]
    h = x.transpose(0, 1).reshape(b, n * x.shape[2], *x.shape[3:])  # image layout (B, N·C, H, W)
    if h.ndim == 4:
        # Channels-last: CPU pooling on (B, N·C, H, W) is several times faster in it, and the
        # grouped convolutions run in it too (a standalone run's small first convolution picks
        # it by itself).
        h = h.contiguous(memory_format=torch.channels_last)
    image = True
    # Whether h is a tensor this forward made and autograd does not keep (a convolution's or a
    # max-pooling's output: their backward reads their input): a ReLU may then overwrite it.
    own = False
    for name, m in parts if parts is not None else grouped_plan(leaf_modules(model)):
        if type(m) is nn.ReLU:
            h = torch.relu_(h) if own else torch.relu(h)
            own = False
            continue
        own = isinstance(m, nn.Conv2d | nn.MaxPool2d)
        if isinstance(m, nn.Conv2d):
            w = params[f"{name}.weight"]
            bias = params.get(f"{name}.bias")
            h = F.conv2d(
                h,
                w.reshape(-1, *w.shape[2:]),
                bias.reshape(-1) if bias is not None else None,
                m.stride,
                m.padding,  # type: ignore[arg-type]
                m.dilation,
                groups=n,
            )
        elif isinstance(m, nn.Flatten):
            if image:
                h = _ToContiguous.apply(h)
                h = h.reshape(b, n, -1).transpose(0, 1)  # (N, B, C·H·W), each member's C, H, W order
                image = False
        elif isinstance(m, nn.Linear):
            w = params[f"{name}.weight"]
            bias = params.get(f"{name}.bias")
            # Computed transposed, W·hᵀ: the weight gradient then comes out in the weight's own
            # layout, where x·Wᵀ would make autograd copy every (N, out, in) gradient once more.
            ht = h.transpose(1, 2)
            yt = torch.baddbmm(bias.unsqueeze(2), w, ht) if bias is not None else torch.bmm(w, ht)
            h = yt.transpose(1, 2)
        elif isinstance(m, nn.Dropout):
            if training and name in masks:
                mask = masks[name]
                h = h * (mask.transpose(0, 1).reshape(h.shape) if image else mask)
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            h = _batch_norm(m, name, params, buffers, h, image, n, b, training)
        else:
            h = m(h)
    if image:
        raise ValueError("the model ends with an image, not class scores")
    return h


def _batch_norm(
    m: nn.modules.batchnorm._BatchNorm,
    name: str,
    params: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    h: torch.Tensor,
    image: bool,
    n: int,
    b: int,
    training: bool,
) -> torch.Tensor:
    """Batch norm of all members at once: per-member channels are channels of one tensor, and the
    running statistics are views of the stacked buffers, so their in-place update lands there."""
    flat = not image
    z = h.transpose(0, 1).reshape(b, -1) if flat else h
    mean, var = buffers.get(f"{name}.running_mean"), buffers.get(f"{name}.running_var")
    weight, bias = params.get(f"{name}.weight"), params.get(f"{name}.bias")
    if training and f"{name}.num_batches_tracked" in buffers:
        buffers[f"{name}.num_batches_tracked"].add_(1)
    out = F.batch_norm(
        z,
        mean.view(-1) if mean is not None else None,
        var.view(-1) if var is not None else None,
        weight.reshape(-1) if weight is not None else None,
        bias.reshape(-1) if bias is not None else None,
        training or mean is None,
        m.momentum if m.momentum is not None else 0.1,
        m.eps,
    )
    return out.reshape(b, n, -1).transpose(0, 1) if flat else out
