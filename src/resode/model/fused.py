"""The dense layer f(Y) = σ(K Y + b) as one autograd node with a hand-written backward.

Eager PyTorch runs f as ``addmm`` then σ into a new tensor, and backward as σ-backward, two
GEMMs and a column sum, each op a separate node. Here, with Y, S, G, D of shape (batch, n),
K of shape (n, n) and b of shape (n,):

    forward    S = σ(Y Kᵀ + b)    one GEMM with b and σ applied to its output
    backward   D = G ⊙ σ'         from the saved S: tanh 1 − S², relu [S > 0], identity 1
               ∂Y = D K,   ∂K = Dᵀ Y (contiguous, as the weight grid wants it),   ∂b = Dᵀ 𝟙

Only Y and S are kept. On CPU in float32 the forward GEMM and ∂Y are oneDNN matmuls with b
and σ applied inside the GEMM (``torch.ops.mkldnn._linear_pointwise``; its tanh is within
~1 ulp, about 5× faster than ``torch.tanh``, and its GEMM faster than ``torch.mm`` on AVX-512
AMD CPUs); elsewhere (float64: exact; CUDA) ``addmm`` with σ in place. Under ``create_graph``
or ``torch.func`` the backward uses differentiable ATen ops only, so double backward
(:func:`resode.analysis.sensitivity`), ``vmap`` and ``jacrev`` work.

:func:`activated_linear` (the hook of ``Dynamics.forward``) fuses only where it pays: dense
kernel, σ in :data:`FUSED_ACTIVATIONS`, CPU float32 with oneDNN, a large enough batch
(:func:`worth_fusing`); everything else runs the eager ops. ``with disabled():`` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from ..errors import tracing
from .kernels import DenseKernel

FUSED_ACTIVATIONS = ("tanh", "relu", "identity")
_ONEDNN_POST_OP = {"tanh": "tanh", "relu": "relu", "identity": "none"}
_enabled = True

try:
    _linear_pointwise = torch.ops.mkldnn._linear_pointwise
except (AttributeError, RuntimeError):  # a build without oneDNN
    _linear_pointwise = None
_wrapped = getattr(getattr(torch._C, "_functorch", None), "is_functorch_wrapped_tensor", None)
_transforms_active = getattr(torch._C, "_are_functorch_transforms_active", None)


def _autocast_cpu() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


def _onednn(y: torch.Tensor) -> bool:
    """Whether the oneDNN kernels apply: a plain float32 CPU tensor (no torch.func wrapper,
    no CPU autocast)."""
    return (
        _linear_pointwise is not None
        and y.dtype == torch.float32
        and y.device.type == "cpu"
        and not (_wrapped is not None and _wrapped(y))
        and torch.backends.mkldnn.is_available()
        and not _autocast_cpu()
    )


def _forward(y, weight, bias, activation: str) -> torch.Tensor:
    if _onednn(y):
        return _linear_pointwise(y, weight, bias, _ONEDNN_POST_OP[activation], [], "")
    out = torch.addmm(bias, y, weight.t())
    if activation == "tanh":
        return out.tanh_()
    if activation == "relu":
        return out.relu_()
    return out


def _save(ctx, y, weight, activation: str, out: torch.Tensor) -> None:
    ctx.activation = activation
    ctx.save_for_backward(y, weight, None if activation == "identity" else out)


def _backward(ctx, grad):
    y, weight, out = ctx.saved_tensors
    if ctx.activation == "tanh":
        grad = torch.ops.aten.tanh_backward(grad, out)
    elif ctx.activation == "relu":
        grad = torch.ops.aten.threshold_backward(grad, out, 0)
    need_y, need_weight, need_bias, _ = ctx.needs_input_grad
    grad_y = grad_weight = grad_bias = None
    if need_y:
        if torch.is_grad_enabled() or not _onednn(grad):  # differentiable: double backward
            grad_y = grad.mm(weight)
        else:
            grad_y = _linear_pointwise(grad, weight.t().contiguous(), None, "none", [], "")
    if need_weight:
        grad_weight = grad.t().mm(y)
    if need_bias:
        grad_bias = grad.sum(0)
    return grad_y, grad_weight, grad_bias, None


class DenseLayer(torch.autograd.Function):
    """S = σ(Y Kᵀ + b) for σ in :data:`FUSED_ACTIVATIONS`; ``apply(y, weight, bias, name)``.

    Works under ``torch.func`` transforms (``setup_context``, generated vmap rule).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(y, weight, bias, activation: str):
        return _forward(y, weight, bias, activation)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        y, weight, _, activation = inputs
        _save(ctx, y, weight, activation, output)

    backward = staticmethod(_backward)


class _PlainDenseLayer(torch.autograd.Function):
    """:class:`DenseLayer` without ``setup_context``: about 20 µs less per call, since
    ``Function.apply`` then skips binding the signature; refused under ``torch.func``."""

    @staticmethod
    def forward(ctx, y, weight, bias, activation: str):
        out = _forward(y, weight, bias, activation)
        _save(ctx, y, weight, activation, out)
        return out

    backward = staticmethod(_backward)


def dense_layer(y, weight, bias, activation: str) -> torch.Tensor:
    """σ(Y Kᵀ + b) as one autograd node, σ in :data:`FUSED_ACTIVATIONS`."""
    if _transforms_active is None or _transforms_active():
        return DenseLayer.apply(y, weight, bias, activation)
    return _PlainDenseLayer.apply(y, weight, bias, activation)


MIN_BATCH = 1024
MIN_ELEMENTS = 2**17
"""Fuse from batch ≥ MIN_BATCH and batch · n ≥ MIN_ELEMENTS (n = 128 at batch 1024, any n ≥ 64
at batch 2048). Measured on 2 AMD EPYC cores: below, the fixed cost per call of a Python
autograd node and of oneDNN (which also reorders K, n² per call) outweighs what it saves."""


def worth_fusing(y: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether the fused node is faster than the eager ops: oneDNN applies, and size."""
    batch = y.shape[0]
    return batch >= MIN_BATCH and batch * y.shape[1] >= MIN_ELEMENTS and _onednn(y)


def activated_linear(
    kernel, activation: Callable, y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """σ(K Y + b): one fused node where it pays (dense kernel, supported σ, CPU float32 with
    oneDNN, large enough: :func:`worth_fusing`), else the eager ops (always while
    torch.export/compile traces, so the graph does not depend on the batch size)."""
    if (
        _enabled
        and not tracing()  # traced graphs take the eager ops
        and type(kernel) is DenseKernel
        and activation.name in FUSED_ACTIVATIONS
        and y.dim() == 2
        and worth_fusing(y, weight)
    ):
        return dense_layer(y, weight, bias, activation.name)
    return activation(kernel.apply(y, weight, bias))


@contextmanager
def disabled() -> Iterator[None]:
    """Run σ(K Y + b) with the eager ops inside the block (for comparisons and benchmarks)."""
    global _enabled
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous
