"""Box coders: regression targets relative to priors, and back."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["DeltaXYWHCoder"]

DEFAULT_WH_CLAMP = abs(math.log(16.0 / 1000.0))  # exp(4.135) = 62.5x the prior side at most


class DeltaXYWHCoder:
    """``(dx, dy, dw, dh)`` deltas of a box relative to an xyxy prior, normalised by ``means`` / ``stds``.

    ``dx = (gx - px) / pw``, ``dw = log(gw / pw)``, then ``(d - mean) / std``. Widths are ``x1 - x0`` (no +1).

    Args:
        means: Float[4] subtracted after encoding.
        stds: Float[4] divided after encoding (RetinaNet (1, 1, 1, 1); R-CNN / ATSS (0.1, 0.1, 0.2, 0.2)).
        wh_clamp: |dw|, |dh| are clamped to this before ``exp`` when decoding, so no prediction overflows.
    """

    def __init__(
        self,
        means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
        stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
        wh_clamp: float = DEFAULT_WH_CLAMP,
    ) -> None:
        if len(means) != 4 or len(stds) != 4 or min(stds) <= 0:
            raise ValueError(f"means and stds need 4 values, stds > 0; got {means}, {stds}")
        self.means = tuple(float(m) for m in means)
        self.stds = tuple(float(s) for s in stds)
        self.wh_clamp = float(wh_clamp)

    def encode(self, priors: Tensor, boxes: Tensor) -> Tensor:
        """Float[..., 4] xyxy priors and target boxes -> Float[..., 4] normalised deltas."""
        pw = priors[..., 2] - priors[..., 0]
        ph = priors[..., 3] - priors[..., 1]
        px = priors[..., 0] + 0.5 * pw
        py = priors[..., 1] + 0.5 * ph
        gw = boxes[..., 2] - boxes[..., 0]
        gh = boxes[..., 3] - boxes[..., 1]
        gx = boxes[..., 0] + 0.5 * gw
        gy = boxes[..., 1] + 0.5 * gh
        eps = torch.finfo(boxes.dtype).eps
        d = torch.stack(
            ((gx - px) / pw, (gy - py) / ph, torch.log(gw.clamp(min=eps) / pw), torch.log(gh.clamp(min=eps) / ph)),
            dim=-1,
        )
        return (d - d.new_tensor(self.means)) / d.new_tensor(self.stds)

    def decode(self, priors: Tensor, deltas: Tensor, max_shape: tuple[int, int] | None = None) -> Tensor:
        """Inverse of :meth:`encode`; ``max_shape`` (h, w) clips the boxes to the image. Returns Float[..., 4] xyxy."""
        d = deltas * deltas.new_tensor(self.stds) + deltas.new_tensor(self.means)
        pw = priors[..., 2] - priors[..., 0]
        ph = priors[..., 3] - priors[..., 1]
        px = priors[..., 0] + 0.5 * pw
        py = priors[..., 1] + 0.5 * ph
        cx = px + d[..., 0] * pw
        cy = py + d[..., 1] * ph
        w = pw * d[..., 2].clamp(-self.wh_clamp, self.wh_clamp).exp()
        h = ph * d[..., 3].clamp(-self.wh_clamp, self.wh_clamp).exp()
        out = torch.stack((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), dim=-1)
        if max_shape is not None:
            hmax, wmax = max_shape
            out = torch.stack(
                (out[..., 0].clamp(0, wmax), out[..., 1].clamp(0, hmax), out[..., 2].clamp(0, wmax),
                 out[..., 3].clamp(0, hmax)), dim=-1)
        return out

