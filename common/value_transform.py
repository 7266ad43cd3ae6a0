"""The map between returns and what a critic predicts: symlog (``--symlog-transform``), then running
standardisation (``--normalize-v-targets``), each optional (off, it is the identity).

    encode(R) = (f(R) - mean) / (std + 1e-8),   f = symlog(x) = sign(x) log(1 + |x|)  (or f = id)
    decode(y) = f^-1(y * (std + 1e-8) + mean),  f^-1 = symexp(y) = sign(y) (exp|y| - 1)

symlog is DreamerV3's (Hafner et al. 2023): it squashes large returns without flipping signs.
``mean`` and ``var`` are the running statistics of f(R) over every batch of targets seen, merged
per batch (Chan et al.'s parallel formula, the count starting at 1e-4 as in Gymnasium's
RunningMeanStd). The critic regresses encode(returns); its outputs go through decode before
they enter GAE. Used by ppo.py, a2c.py and their _atari and _continuous siblings.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class ValueTransform(nn.Module):
    """Maps returns to what the critic predicts and back: optional symlog, then optional running
    standardisation (its statistics are buffers, so they live in the checkpoint)."""

    def __init__(self, symlog: bool, normalize: bool):
        super().__init__()
        self.symlog, self.normalize = symlog, normalize
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("var", torch.ones(()))
        self.register_buffer("count", torch.tensor(1e-4))

    def update(self, x: torch.Tensor) -> None:
        if not self.normalize:
            return
        x = torch.sign(x) * torch.log1p(x.abs()) if self.symlog else x
        batch_mean, batch_var, n = x.mean(), x.var(unbiased=False), x.numel()
        delta, total = batch_mean - self.mean, self.count + n
        self.var.copy_((self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total)
        self.mean.add_(delta * n / total)
        self.count.copy_(total)

    def encode(self, returns: torch.Tensor) -> torch.Tensor:
        x = torch.sign(returns) * torch.log1p(returns.abs()) if self.symlog else returns
        return (x - self.mean) / (self.var.sqrt() + 1e-8) if self.normalize else x

    def decode(self, prediction: torch.Tensor) -> torch.Tensor:
        x = prediction * (self.var.sqrt() + 1e-8) + self.mean if self.normalize else prediction
        return torch.sign(x) * torch.expm1(x.abs()) if self.symlog else x
