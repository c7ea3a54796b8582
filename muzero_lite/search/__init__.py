"""Search over the learned model: one interface, `search(...) -> SearchResult`, for every kind.

`search.kind` picks the algorithm: "truncated" (the policy-ranked look-ahead), "mcts" (MuZero's
PUCT tree search) or "gumbel" (Gumbel MuZero's sequential halving at the root). All three return
the same record, so self-play, training targets and evaluation do not care which one ran.
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
    obs = torch.as_tensor(observations).unsqueeze(0).to(device)
    prev = torch.as_tensor(prev_actions).unsqueeze(0).to(device)
    common = {"discount": config.discount, "rng": rng, "greedy": greedy}
    if config.kind == "truncated":
        beta = acting_beta(train_step, config.beta_start, config.beta_end, config.beta_steps)
        return truncated_search(
            model, obs, prev, width=config.width, depth=config.depth, beta=beta, **common
        )
    if config.kind == "mcts":
        return mcts_search(
            model,
            obs,
            prev,
            simulations=config.simulations,
            parallel=config.parallel_simulations,
            c1=config.c1,
            c2=config.c2,
            dirichlet_alpha=config.dirichlet_alpha,
            exploration_fraction=config.root_exploration_fraction,
            temperature=visit_temperature(
                train_step, config.temperatures, config.temperature_steps
            ),
            **common,
        )
    if config.kind == "gumbel":
        return gumbel_search(
            model,
            obs,
            prev,
            simulations=config.simulations,
            max_considered=config.gumbel_actions,
            c_visit=config.gumbel_c_visit,
            c_scale=config.gumbel_c_scale,
            **common,
        )
    raise ValueError(f"unknown search kind {config.kind!r}")
