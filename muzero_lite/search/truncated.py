"""The truncated, policy-ranked look-ahead search (DESIGN section 6).

1. s0 = representation(observation); the policy ranks the actions at the root.
2. The top `width` actions are candidates; each is unrolled `depth` steps with the dynamics network
   (first step the candidate, later steps the policy's argmax), all candidates in one batched call
   per depth level: depth + 1 network calls per move, whatever the width.
3. Q(a) is the mean over n = 1..depth of the n-step bootstrapped estimates along a's path,
       G_n = sum_{i=1..n} discount^(i-1) r_i + discount^n v_n.
4. Actions outside the top `width` get the lowest candidate Q.
5. The search policy (the policy network's training target) is Q min-max normalised, then
   normalised to sum to 1; the root value is sum_a policy(a) Q(a).
Several roots (evaluation's episodes played side by side) share each of those network calls.
"""

import numpy as np
import torch

from muzero_lite.search.base import (
    Generators,
    SearchModel,
    SearchResult,
    choose_action,
    normalise,
    per_root,
)


def truncated_search(
    model: SearchModel,
    observations: torch.Tensor,
    prev_actions: torch.Tensor,
    *,
    width: int,
    depth: int,
    discount: float,
    beta: float,
    rng: Generators,
    greedy: bool = False,
) -> list[SearchResult]:
    """Search from B observation stacks at once: one result per root, in order.

    Args:
      model: anything with `initial_inference` and `recurrent_inference` (see SearchModel).
      observations: [B, N, *obs_shape] the stacked observations.
      prev_actions: [B, N] the actions that led to each stacked observation (-1: none).
      width: candidates looked ahead (clipped to the number of actions).
      depth: steps unrolled per candidate.
      discount: per-step discount of rewards and values.
      beta: acting temperature over normalised Q (ignored when greedy).
      rng: random state for sampling the actions: one generator per root, or a single one drawn
        from root by root, in order.
      greedy: take the best action instead of sampling (evaluation).
    """
    rngs = per_root(rng, len(observations))
    root = model.initial_inference(observations, prev_actions)
    logits = root.policy_logits.cpu()  # [B, A]
    roots, num_actions = logits.shape
    k = min(width, num_actions)
    candidates = torch.topk(logits, k, dim=1).indices  # [B, k], best prior first

    device = root.hidden.device
    hidden = root.hidden.repeat_interleave(k, dim=0)  # [B*k, ...], root by root
    action = candidates.flatten().to(device)
    discounted_rewards = torch.zeros(roots * k, device=device)  # sum_i discount^(i-1) r_i
    estimates = torch.zeros(roots * k, device=device)  # sum over n of G_n
    scale = 1.0  # discount^n
    for _ in range(depth):
        out = model.recurrent_inference(hidden, action)
        discounted_rewards = discounted_rewards + scale * out.reward.float()
        scale *= discount
        estimates = estimates + discounted_rewards + scale * out.value.float()
        hidden, action = out.hidden, out.policy_logits.argmax(dim=1)

    q_candidates = (estimates / depth).double().cpu().numpy().reshape(roots, k)
    priors = logits.double().numpy()
    return [
        _result(q_candidates[i], candidates[i].numpy(), priors[i], beta, rngs[i], greedy)
        for i in range(roots)
    ]


def _result(
    q_candidates: np.ndarray,
    candidates: np.ndarray,
    prior: np.ndarray,
    beta: float,
    rng: np.random.Generator,
    greedy: bool,
) -> SearchResult:
    """One root's record from its candidates' Q ([k] each) and its prior logits ([A])."""
    num_actions = len(prior)
    q = np.full(num_actions, q_candidates.min())
    q[candidates] = q_candidates
    normalised = normalise(q)
    total = normalised.sum()
    policy = normalised / total if total > 0 else np.full(num_actions, 1.0 / num_actions)
    return SearchResult(
        policy=policy,
        root_value=float((policy * q).sum()),
        action=choose_action(q, normalised, prior, beta, rng, greedy),
        q_values=q,
        prior_logits=prior,
    )
