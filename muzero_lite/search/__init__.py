"""Search over the learned model: one interface, `search(...) -> SearchResult`, for every kind."""

import numpy as np
import torch

from muzero_lite.config import SearchConfig
from muzero_lite.search.base import SearchModel, SearchResult, acting_beta
from muzero_lite.search.truncated import truncated_search

__all__ = ["SearchModel", "SearchResult", "acting_beta", "search", "truncated_search"]


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
    beta = acting_beta(train_step, config.beta_start, config.beta_end, config.beta_steps)
    if config.kind == "truncated":
        return truncated_search(
            model,
            obs,
            prev,
            width=config.width,
            depth=config.depth,
            discount=config.discount,
            beta=beta,
            rng=rng,
            greedy=greedy,
        )
    raise ValueError(f"unknown search kind {config.kind!r}")
