"""Scalars <-> categorical distributions over MuZero's transformed support.

Values and rewards are predicted as distributions over the integers -S..S of h(x), where
h(x) = sign(x) (sqrt(|x| + 1) - 1) + eps x  (Pohlen et al. 2018, used by MuZero),
so that negative and large returns are both representable with a small support.
"""

import torch

EPS = 0.001


def h(x: torch.Tensor) -> torch.Tensor:
    """h(x) = sign(x) (sqrt(|x| + 1) - 1) + eps x."""
    return torch.sign(x) * (torch.sqrt(torch.abs(x) + 1) - 1) + EPS * x


def h_inv(y: torch.Tensor) -> torch.Tensor:
    """h^-1(y) = sign(y) (((sqrt(1 + 4 eps (|y| + 1 + eps)) - 1) / (2 eps))^2 - 1)."""
    root = (torch.sqrt(1 + 4 * EPS * (torch.abs(y) + 1 + EPS)) - 1) / (2 * EPS)
    return torch.sign(y) * (root**2 - 1)


def scalar_to_support(x: torch.Tensor, support_size: int) -> torch.Tensor:
    """Two-hot encoding of h(x) over -S..S: [...] -> [..., 2S + 1], split between neighbours."""
    y = h(x).clamp(-support_size, support_size)
    low = torch.floor(y)
    upper_weight = y - low
    index = (low + support_size).long()
    probs = torch.zeros(*x.shape, 2 * support_size + 1, dtype=x.dtype, device=x.device)
    probs.scatter_(-1, index.unsqueeze(-1), (1 - upper_weight).unsqueeze(-1))
    upper = (index + 1).clamp(max=2 * support_size)
    probs.scatter_add_(-1, upper.unsqueeze(-1), upper_weight.unsqueeze(-1))
    return probs


def support_to_scalar(logits: torch.Tensor, support_size: int) -> torch.Tensor:
    """Mean of softmax(logits) over -S..S, mapped back with h^-1: [..., 2S + 1] -> [...].

    In float32 at least (logits of a lower precision are cast up): h^-1 squares its argument."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    support = torch.arange(
        -support_size, support_size + 1, dtype=logits.dtype, device=logits.device
    )
    return h_inv((torch.softmax(logits, dim=-1) * support).sum(-1))
