"""Gumbel MuZero search (Danihelka et al. 2022, "Policy improvement by planning with Gumbel").

Root: m actions are sampled without replacement by Gumbel-top-k (the top m of g(a) + logits(a),
g ~ Gumbel(0, 1)) and sequential halving spends the simulations on them: in each of log2(m) phases
the remaining actions get an equal share of visits, then the better half by g + logits + sigma(q)
goes on. The schedule and the root choice follow mctx, the paper's reference code: simulation i
visits, among the actions whose visit count equals the schedule's i-th entry, the one with the
highest g + logits + sigma(q). Below the root: the paper's deterministic selection (not PUCT),
    a* = argmax_a pi'(a) - N(a) / (1 + sum_b N(b)),    pi' = softmax(logits + sigma(completedQ)).

Completed Q: q(a) = r + discount V for visited actions; for unvisited ones the mixed value
    v_mix = (v + sum_b N(b) * sum_{visited} pi(a) q(a) / sum_{visited} pi(a)) / (1 + sum_b N(b)),
then min-max normalised over the node's actions, and sigma(q) = (c_visit + max_b N(b)) c_scale q.

The search policy (the policy network's training target) is pi' at the root; the action is the
sequential-halving winner, argmax of g + logits + sigma(q) among the most visited actions (g = 0
when greedy). The root value is sum_a pi'(a) completedQ(a), the value of the improved policy: with
few simulations a better bootstrap than the mean over the halving's forced visits. One leaf per
network call (1 + simulations calls per move): each root choice depends on the values just backed
up, and Gumbel's point is to need few simulations. Several roots (B observation stacks) share
each of those calls instead: they follow the same halving schedule, one leaf per root per call.
"""

import math

import numpy as np
import torch

from muzero_lite.search.base import Generators, SearchModel, SearchResult
from muzero_lite.search.mcts import Node, backup, expand_leaves, expand_roots

TINY = 1e-30  # floor of a prior before its log: an underflowed prior stays a valid logit


def considered_visits(m: int, simulations: int) -> list[int]:
    """Sequential halving's schedule: the visit count an action must have to be picked at step i.

    With m = 4 and 8 simulations: [0, 0, 0, 0, 1, 1, 2, 2] (4 actions once each, then 2 actions
    twice more). Each phase gives every remaining action max(1, n / (log2(m) * remaining)) visits.
    """
    if m <= 1:
        return list(range(simulations))
    log2m = math.ceil(math.log2(m))
    schedule, visits, remaining = [], [0] * m, m
    while len(schedule) < simulations:
        for _ in range(max(1, simulations // (log2m * remaining))):
            schedule.extend(visits[:remaining])
            visits[:remaining] = [v + 1 for v in visits[:remaining]]
        remaining = max(2, remaining // 2)
    return schedule[:simulations]


def completed_q(node: Node, discount: float) -> list[float]:
    """[A] Q of visited actions; the mixed value v_mix for unvisited ones."""
    children = node.children
    total = sum(c.visits for c in children)
    if total == 0:
        return [node.raw_value] * len(children)
    visited = [c for c in children if c.visits]
    mass = sum(max(c.prior, TINY) for c in visited)
    weighted = sum(max(c.prior, TINY) * c.q(discount) for c in visited) / mass
    mixed = (node.raw_value + total * weighted) / (1 + total)
    return [c.q(discount) if c.visits else mixed for c in children]


def sigma(node: Node, discount: float, c_visit: float, c_scale: float) -> list[float]:
    """[A] sigma(completedQ) = (c_visit + max_b N(b)) c_scale minmax(completedQ)."""
    q = completed_q(node, discount)
    low, high = min(q), max(q)
    if high <= low:
        return [0.0] * len(q)
    scale = (c_visit + max(c.visits for c in node.children)) * c_scale / (high - low)
    return [(v - low) * scale for v in q]


def improved_logits(node: Node, discount: float, c_visit: float, c_scale: float) -> list[float]:
    """[A] log prior + sigma(completedQ): pi' = softmax of these (the prior's log is its logits
    up to a constant, which neither a softmax nor an argmax sees)."""
    sig = sigma(node, discount, c_visit, c_scale)
    return [math.log(max(c.prior, TINY)) + s for c, s in zip(node.children, sig, strict=True)]


def softmax(logits: list[float]) -> list[float]:
    top = max(logits)
    weights = [math.exp(x - top) for x in logits]
    total = sum(weights)
    return [w / total for w in weights]


def interior_action(node: Node, discount: float, c_visit: float, c_scale: float) -> int:
    """The paper's deterministic non-root selection: argmax pi'(a) - N(a) / (1 + sum N)."""
    improved = softmax(improved_logits(node, discount, c_visit, c_scale))
    total = 1 + sum(c.visits for c in node.children)
    scores = [p - c.visits / total for p, c in zip(improved, node.children, strict=True)]
    return max(range(len(scores)), key=scores.__getitem__)  # the first of equals, like argmax


def root_scores(root: Node, gumbel: np.ndarray, considered: int, logits: list[float]):
    """[A] g + improved logits for the actions with `considered` visits, -inf for the rest."""
    visits = np.array([c.visits for c in root.children])
    return np.where(visits == considered, gumbel + np.array(logits), -np.inf)


def gumbel_search(
    model: SearchModel,
    observations: torch.Tensor,
    prev_actions: torch.Tensor,
    *,
    simulations: int,
    max_considered: int = 16,
    c_visit: float = 50.0,
    c_scale: float = 0.1,
    discount: float,
    rng: Generators,
    greedy: bool = False,
) -> list[SearchResult]:
    """Gumbel MuZero search from B observation stacks at once, one tree per root: at each step of
    the halving every root expands one leaf, all B in one call (1 + simulations calls per move).

    Args:
      model: anything with `initial_inference` and `recurrent_inference` (see SearchModel).
      observations: [B, N, *obs_shape] the stacked observations.
      prev_actions: [B, N] the actions that led to each stacked observation (-1: none).
      simulations: leaves expanded per root (one dynamics step each).
      max_considered: m, the actions sampled at the root (clipped to the number of actions).
      c_visit, c_scale: sigma(q) = (c_visit + max_b N(b)) c_scale q.
      discount: per-step discount of rewards and values.
      rng: random state for the Gumbel noise: one generator per root, or a single one drawn
        from root by root, in order.
      greedy: evaluation: no Gumbel noise, so the search and its action are deterministic.
    """
    rngs, roots, prior_logits = expand_roots(model, observations, prev_actions, rng)
    num_actions = prior_logits.shape[1]
    gumbels = [  # [B][A]
        np.zeros(num_actions) if greedy else root_rng.gumbel(size=num_actions) for root_rng in rngs
    ]
    # The schedule depends only on m and the simulations, which every root shares.
    for considered in considered_visits(min(max_considered, num_actions), simulations):
        paths = [  # [B] (path, last action)
            root_path(root, gumbel, considered, discount, c_visit, c_scale)
            for root, gumbel in zip(roots, gumbels, strict=True)
        ]
        expand_leaves(model, [(path[-1], path[-2], a) for path, a in paths])
        for path, _ in paths:
            backup(path, path[-1].raw_value, discount)
    return [
        gumbel_result(root, gumbel, logits, discount, c_visit, c_scale)
        for root, gumbel, logits in zip(roots, gumbels, prior_logits, strict=True)
    ]


def root_path(
    root: Node,
    gumbel: np.ndarray,
    considered: int,
    discount: float,
    c_visit: float,
    c_scale: float,
) -> tuple[list[Node], int]:
    """One simulation's walk: the halving's pick at the root, then the deterministic selection
    down to an unexpanded node; (path, last action)."""
    logits = improved_logits(root, discount, c_visit, c_scale)
    action = int(np.argmax(root_scores(root, gumbel, considered, logits)))
    path = [root, root.children[action]]
    while path[-1].children:
        action = interior_action(path[-1], discount, c_visit, c_scale)
        path.append(path[-1].children[action])
    return path, action


def gumbel_result(
    root: Node,
    gumbel: np.ndarray,
    prior_logits: np.ndarray,
    discount: float,
    c_visit: float,
    c_scale: float,
) -> SearchResult:
    """One searched tree's record: pi' as the policy, completed Q, the halving's winner."""
    logits = improved_logits(root, discount, c_visit, c_scale)
    policy = np.array(softmax(logits))  # [A]
    q = np.array(completed_q(root, discount))  # [A]
    most = max(c.visits for c in root.children)
    return SearchResult(
        policy=policy,
        root_value=float((policy * q).sum()),
        action=int(np.argmax(root_scores(root, gumbel, most, logits))),
        q_values=q,
        prior_logits=prior_logits,
    )
