"""Search over the learned model: one interface, `search(...) -> SearchResult`, for every kind.

`search_batch(...) -> list[SearchResult]` searches from several roots at once (self-play and
evaluation play their games side by side), every kind sharing each network call between the
roots, with one random generator per root or a single one for all.

`search.kind` picks the algorithm: "truncated" (the policy-ranked look-ahead), "mcts" (MuZero's
PUCT tree search) or "gumbel" (Gumbel MuZero's sequential halving at the root), each with its own
settings (`search.truncated`, `search.mcts`, `search.gumbel`). All three return the same record,
so self-play, training targets and evaluation do not care which one ran.
"""

import numpy as np
import torch

from muzero_lite.config import SearchConfig
from muzero_lite.search.base import Generators, SearchModel, SearchResult, acting_beta, per_root
from muzero_lite.search.gumbel import gumbel_search
from muzero_lite.search.mcts import mcts_search, visit_temperature
from muzero_lite.search.truncated import truncated_search

__all__ = [
    "Generators",
    "SearchModel",
    "SearchResult",
    "acting_beta",
    "gumbel_search",
    "mcts_search",
    "per_root",
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
    rng: Generators,
    train_step: int = 0,
    greedy: bool = False,
    device: str | torch.device = "cpu",
) -> list[SearchResult]:
    """Search from B stacked observations ([B, N, *obs_shape], [B, N]): a result per root.

    Every kind shares its network calls between the roots, so a move costs as many calls for B
    roots as for one. `rng` is one generator per root (a game's draws then do not depend on the
    games beside it), or a single generator drawn from root by root.
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
        return mcts_search(
            model,
            obs,
            prev,
            simulations=m.simulations,
            parallel=m.parallel_simulations,
            c1=m.c1,
            c2=m.c2,
            dirichlet_alpha=m.dirichlet_alpha,
            noise_fraction=m.noise_fraction,
            temperature=visit_temperature(train_step, m.temperatures, m.temperature_steps),
            **common,
        )
    if config.kind == "gumbel":
        g = config.gumbel
        return gumbel_search(
            model,
            obs,
            prev,
            simulations=g.simulations,
            max_considered=g.actions,
            c_visit=g.c_visit,
            c_scale=g.c_scale,
            **common,
        )
    raise ValueError(f"unknown search kind {config.kind!r}")
