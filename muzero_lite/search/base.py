"""What every search returns, what it needs of a model, and how an action is chosen."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from networks import NetworkOutput

# Random state of a search over several roots: one generator for them all, or one per root.
Generators = np.random.Generator | Sequence[np.random.Generator]


class SearchModel(Protocol):
    """The two calls a search makes; MuZeroNet has them, and so do the tests' hand-made models."""

    def initial_inference(
        self, observations: torch.Tensor, prev_actions: torch.Tensor
    ) -> NetworkOutput: ...

    def recurrent_inference(self, hidden: torch.Tensor, action: torch.Tensor) -> NetworkOutput: ...


@dataclass(frozen=True)
class SearchResult:
    policy: np.ndarray  # [A] search policy: the policy network's training target, sums to 1
    root_value: float  # value of the root under the search policy (the value target's bootstrap)
    action: int  # the action to play
    q_values: np.ndarray  # [A] per-action value estimates
    prior_logits: np.ndarray  # [A] the policy network's logits at the root


def per_root(rng: Generators, roots: int) -> list[np.random.Generator]:
    """One generator per root: a single generator is shared by all (drawn from root by root), a
    sequence must hold exactly one per root (a game's draws then do not depend on its batch)."""
    if isinstance(rng, np.random.Generator):
        return [rng] * roots
    rngs = list(rng)
    if len(rngs) != roots:
        raise ValueError(
            f"rng: got {len(rngs)} generators for {roots} roots; "
            "pass one generator per root, or a single generator for all of them"
        )
    return rngs


def normalise(q: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1]; all zeros when every value is the same."""
    spread = q.max() - q.min()
    return (q - q.min()) / spread if spread > 0 else np.zeros_like(q)


def choose_action(
    q: np.ndarray,
    normalised: np.ndarray,
    prior_logits: np.ndarray,
    beta: float,
    rng: np.random.Generator,
    greedy: bool,
) -> int:
    """Greedy: best Q, ties to the higher prior. Else sample p(a) ~ exp(beta * normalised Q(a))."""
    if greedy:
        best = np.flatnonzero(q == q.max())
        return int(best[np.argmax(prior_logits[best])])
    weights = np.exp(beta * (normalised - normalised.max()))
    return int(rng.choice(len(q), p=weights / weights.sum()))


def acting_beta(step: int, start: float, end: float, steps: int) -> float:
    """Linear schedule of the acting temperature over the trainer's steps."""
    if steps <= 0:
        return end
    return start + (end - start) * min(1.0, max(step, 0) / steps)
