"""Running a network on many examples: in chunks, in evaluation mode."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch


def in_chunks(
    function: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    size: int,
    device: torch.device | None = None,
) -> torch.Tensor:
    """``function`` applied to chunks of ``size`` examples of ``x`` (batch first), each moved
    to ``device`` first, the outputs concatenated along dim 0: ``function(x)`` for a
    per-example map, with the memory of one chunk."""
    parts = x.split(size) if device is None else (part.to(device) for part in x.split(size))
    return torch.cat([function(part) for part in parts])


@contextmanager
def evaluation(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``model`` in eval mode without autograd for the block; its mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)
