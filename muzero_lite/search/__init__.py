"""Search over the learned model: one interface, `search(...) -> SearchResult`, for every kind.

`search_batch(...) -> list[SearchResult]` searches from several roots at once (evaluation plays
its episodes side by side).

`search.kind` picks the algorithm: "truncated" (the policy-ranked look-ahead), "mcts" (MuZero's
PUCT tree search) or "gumbel" (Gumbel MuZero's sequential halving at the root), each with its own
settings (`search.truncated`, `search.mcts`, `search.gumbel`). All three return the same record,
so self-play, training targets and evaluation do not care which one ran.
"""

import numpy as np
import torch

from muzero_lite.config import SearchConfig
from muzero_lite.search.base import SearchModel, SearchResult, acting_beta
from muzero_lite.search.gumbel import gumbel_search
from muzero_lite.search.mcts import mcts_search, visit_temperature
from muzero_lite.search.truncated import truncated_search

__all__ = [
    "SearchModel",
    "SearchResult",
    "acting_beta",
    "gumbel_search",
    "mcts_search",
    "search",
    "search_batch",
    "truncated_search",
    "visit_temperature",
]


def search(
    model: SearchModel,
    observations: np.ndarray,
    prev_actions: np.ndarray,
    config: SearchConfig,
    *,
    rng: np.random.Generator,
    train_step: int = 0,
    greedy: bool = False,
    device: str | torch.device = "cpu",
) -> SearchResult:
    """Search from one stacked observation ([N, *obs_shape], [N]) with the configured kind."""
    return search_batch(
        model,
        observations[None],
        prev_actions[None],
        config,
        rng=rng,
        train_step=train_step,
        greedy=greedy,
        device=device,
    )[0]


def search_batch(
    model: SearchModel,
    observations: np.ndarray,
    prev_actions: np.ndarray,
    config: SearchConfig,
    *,
    rng: np.random.Generator,
    train_step: int = 0,
    greedy: bool = False,
    device: str | torch.device = "cpu",
) -> list[SearchResult]:
    """Search from B stacked observations ([B, N, *obs_shape], [B, N]): a result per root.

    The truncated search shares its network calls between the roots; MCTS and Gumbel search
    one root after another. Either way `rng` is drawn from root by root, in order.
    """
    obs = torch.as_tensor(observations).to(device)
    prev = torch.as_tensor(prev_actions).to(device)
    common = {"discount": config.discount, "rng": rng, "greedy": greedy}
    if config.kind == "truncated":
        t = config.truncated
        beta = acting_beta(train_step, t.beta_start, t.beta_end, t.beta_steps)
        return truncated_search(model, obs, prev, width=t.width, depth=t.depth, beta=beta, **common)
    if config.kind == "mcts":
        m = config.mcts
        temperature = visit_temperature(train_step, m.temperatures, m.temperature_steps)
        return [
            mcts_search(
                model,
                obs[i : i + 1],
                prev[i : i + 1],
                simulations=m.simulations,
                parallel=m.parallel_simulations,
                c1=m.c1,
                c2=m.c2,
                dirichlet_alpha=m.dirichlet_alpha,
                noise_fraction=m.noise_fraction,
                temperature=temperature,
                **common,
            )
            for i in range(len(obs))
        ]
    if config.kind == "gumbel":
        g = config.gumbel
        return [
            gumbel_search(
                model,
                obs[i : i + 1],
                prev[i : i + 1],
                simulations=g.simulations,
                max_considered=g.actions,
                c_visit=g.c_visit,
                c_scale=g.c_scale,
                **common,
            )
            for i in range(len(obs))
        ]
    raise ValueError(f"unknown search kind {config.kind!r}")
