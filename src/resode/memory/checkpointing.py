"""The ``checkpoint`` memory mode: keep the carries at segment starts, recompute segments.

With N steps in segments of ⌈√N⌉, the forward pass keeps about √N carries; the backward
pass reruns each segment's steps with autograd before differentiating it (one extra
forward pass in all, activation memory O(√N)). Any integrator fits.
"""

from __future__ import annotations

import math

from torch.utils.checkpoint import checkpoint

from .base import MemoryMode


class Checkpointing(MemoryMode):
    name = "checkpoint"

    def solve(self, integrator, field, y0, h, plan, grids):
        steps = plan.stage_parameters(grids)
        carry = integrator.initial(field, y0, h, steps[0])
        length = max(1, math.ceil(math.sqrt(len(steps))))

        def segment(first: int, *carry):
            return integrator.run(field, carry, h, steps[first : first + length])

        for first in range(0, len(steps), length):
            carry = checkpoint(
                segment, first, *carry, use_reentrant=False, preserve_rng_state=False
            )
        return integrator.current(carry)
