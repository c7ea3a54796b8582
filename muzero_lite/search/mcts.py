"""Full MuZero MCTS in latent space (Schrittwieser et al. 2020, appendix B), after acme's search.

Each simulation walks down from the root by PUCT,
    a* = argmax_a Qn(s, a) + P(s, a) sqrt(N(s)) / (1 + N(s, a)) (c1 + log((N(s) + c2 + 1) / c2)),
with Qn(s, a) = Q(s, a) = r(s, a) + discount V(s') min-max normalised over every value seen in this
tree (0 for an unvisited child; ties go to the higher prior), expands the leaf it reaches with one
dynamics step, and backs the leaf's value up the path: G <- r + discount G at each node. Dirichlet
noise is mixed into the root's prior in self-play only. The search policy (the training target) is
the root's visit counts normalised; the root value is the root's mean value over the simulations.

Leaves in batches: `parallel` simulations descend one after another, each pending visit counting as
a visit of normalised value 0 (a virtual loss) so that the next descent tends to go elsewhere, and
their leaves are expanded in one network call: 1 + ceil(simulations / parallel) calls per move. On a
CPU the network call is most of a simulation's cost and barely grows with the batch (the cost per
move at 1 and at 4 is in BENCHMARKS.md, "Search kinds at an equal wall-clock budget"), so the
default batches 4, at the price of a slightly less sequential search; parallel = 1 is the paper's
sequential search, exactly.

Roots in batches too (games played side by side): `mcts_search` grows the trees of B roots in
lockstep, each with its own min-max statistics, and every round's leaves of all the trees share the
one network call, so a move still costs 1 + ceil(simulations / parallel) calls whatever the number
of roots. Each tree grows as it would alone (exactly, for a network whose rows do not round
differently in a bigger batch).
"""

import math

import numpy as np
import torch

from muzero_lite.search.base import Generators, SearchModel, SearchResult, per_root
from networks import NetworkOutput


class MinMax:
    """The lowest and highest Q seen in one tree; normalise() maps them to [0, 1]."""

    def __init__(self):
        self.low, self.high = math.inf, -math.inf

    def update(self, value: float) -> None:
        self.low, self.high = min(self.low, value), max(self.high, value)

    def normalise(self, value: float) -> float:
        """0 while no spread has been seen: then no value is better than another."""
        return (value - self.low) / (self.high - self.low) if self.high > self.low else 0.0


class Node:
    """A latent state: its prior (from its parent's policy), reward into it and visit counts."""

    __slots__ = (
        "children",
        "hidden",
        "pending",
        "prior",
        "raw_value",
        "reward",
        "value_sum",
        "visits",
    )

    def __init__(self, prior: float):
        self.prior = prior
        self.reward = 0.0  # predicted reward of the step into this node
        self.raw_value = 0.0  # the value network's estimate, set on expansion
        self.hidden: torch.Tensor | None = None  # [*hidden_shape], set on expansion
        self.children: list[Node] = []  # one per action once expanded
        self.visits = 0
        self.value_sum = 0.0
        self.pending = 0  # visits on their way down in the current batch (virtual loss)

    def value(self) -> float:
        return self.value_sum / self.visits if self.visits else 0.0

    def q(self, discount: float) -> float:
        """Q of the action into this node, r + discount * V."""
        return self.reward + discount * self.value()


def expand_roots(
    model: SearchModel, observations: torch.Tensor, prev_actions: torch.Tensor, rng: Generators
) -> tuple[list[np.random.Generator], list[Node], np.ndarray]:
    """The roots of B searches, expanded in one initial inference: (one generator per root, the
    roots, the policy network's logits at each [B, A] in float64)."""
    rngs = per_root(rng, len(observations))
    out = model.initial_inference(observations, prev_actions)
    roots = [Node(1.0) for _ in rngs]
    expand(roots, out)
    return rngs, roots, out.policy_logits.double().cpu().numpy()


def expand(nodes: list["Node"], out: NetworkOutput) -> None:
    """Give each node its hidden state, reward, value and one child per action ([B] outputs)."""
    priors = torch.softmax(out.policy_logits.double(), dim=1).cpu().tolist()  # [B, A]
    rewards, values = out.reward.double().cpu().tolist(), out.value.double().cpu().tolist()
    for i, node in enumerate(nodes):
        node.hidden, node.reward, node.raw_value = out.hidden[i], rewards[i], values[i]
        node.children = [Node(p) for p in priors[i]]


def backup(path: list[Node], value: float, discount: float, stats: MinMax | None = None) -> None:
    """Add the leaf's value to every node on the path, discounting through the rewards."""
    for node in reversed(path):
        node.value_sum += value
        node.visits += 1
        if stats is not None:
            stats.update(node.q(discount))
        value = node.reward + discount * value


def add_dirichlet_noise(
    root: Node, alpha: float, noise_fraction: float, rng: np.random.Generator
) -> None:
    """Root prior <- (1 - noise_fraction) prior + noise_fraction Dir(alpha), in self-play."""
    noise = rng.dirichlet([alpha] * len(root.children))
    for child, n in zip(root.children, noise, strict=True):
        child.prior = (1 - noise_fraction) * child.prior + noise_fraction * float(n)


def puct_child(node: Node, stats: MinMax, c1: float, c2: float, discount: float) -> int:
    """The child with the highest PUCT score; pending visits count with normalised value 0."""
    n_parent = node.visits + node.pending
    c = (math.log((n_parent + c2 + 1) / c2) + c1) * math.sqrt(n_parent)
    best, best_key = 0, (-math.inf, -math.inf)
    for a, child in enumerate(node.children):
        n = child.visits + child.pending
        q = stats.normalise(child.q(discount)) * child.visits / n if child.visits else 0.0
        key = (q + c * child.prior / (1 + n), child.prior)
        if key > best_key:
            best, best_key = a, key
    return best


def descend(
    root: Node, stats: MinMax, c1: float, c2: float, discount: float
) -> tuple[list[Node], int]:
    """Walk by PUCT to an unexpanded node, marking the path pending; (path, last action)."""
    path, action = [root], -1
    while path[-1].children:
        action = puct_child(path[-1], stats, c1, c2, discount)
        path.append(path[-1].children[action])
    for node in path:
        node.pending += 1
    return path, action


def expand_leaves(model: SearchModel, leaves: list[tuple[Node, Node, int]]) -> None:
    """Expand each (leaf, parent, action into the leaf) with one batched dynamics call."""
    hidden = torch.stack([parent.hidden for _, parent, _ in leaves])  # [L, *hidden_shape]
    action = torch.tensor([a for _, _, a in leaves], device=hidden.device)  # [L]
    expand([leaf for leaf, _, _ in leaves], model.recurrent_inference(hidden, action))


def simulate(
    model: SearchModel,
    *roots: Node,
    simulations: int,
    parallel: int,
    c1: float,
    c2: float,
    discount: float,
) -> None:
    """Grow the trees under expanded roots in lockstep: each round every tree descends up to
    `parallel` paths and the distinct leaves of all the trees share one dynamics call."""
    stats = [MinMax() for _ in roots]  # each tree normalises by its own values
    done = 0
    while done < simulations:
        count = min(parallel, simulations - done)
        paths = [  # [B][count] (path, last action)
            [descend(root, tree_stats, c1, c2, discount) for _ in range(count)]
            for root, tree_stats in zip(roots, stats, strict=True)
        ]
        # Two descents of one batch may stop at the same leaf: it is expanded once.
        leaves = {id(path[-1]): (path[-1], path[-2], a) for tree in paths for path, a in tree}
        expand_leaves(model, list(leaves.values()))
        for tree, tree_stats in zip(paths, stats, strict=True):
            for path, _ in tree:
                for node in path:
                    node.pending -= 1
                backup(path, path[-1].raw_value, discount, tree_stats)
        done += count


def visit_temperature(step: int, temperatures: list[float], steps: list[int]) -> float:
    """temperatures[i] where i is the number of thresholds in `steps` the trainer has reached."""
    return temperatures[sum(step >= s for s in steps)]


def mcts_search(
    model: SearchModel,
    observations: torch.Tensor,
    prev_actions: torch.Tensor,
    *,
    simulations: int,
    parallel: int = 1,
    c1: float = 1.25,
    c2: float = 19652.0,
    discount: float,
    dirichlet_alpha: float = 0.25,
    noise_fraction: float = 0.25,
    temperature: float = 1.0,
    rng: Generators,
    greedy: bool = False,
) -> list[SearchResult]:
    """MuZero's MCTS from B observation stacks at once, one tree per root, grown in lockstep:
    1 + ceil(simulations / parallel) network calls per move, whatever B. One result per root.

    Args:
      model: anything with `initial_inference` and `recurrent_inference` (see SearchModel).
      observations: [B, N, *obs_shape] the stacked observations.
      prev_actions: [B, N] the actions that led to each stacked observation (-1: none).
      simulations: leaves expanded per root (one dynamics step each).
      parallel: simulations per root whose leaves share one batched network call (1: sequential).
      c1, c2: PUCT constants.
      discount: per-step discount of rewards and values.
      dirichlet_alpha, noise_fraction: root noise in self-play (none when greedy).
      temperature: self-play action p(a) ~ N(a)^(1 / temperature); 0 plays the most visited.
      rng: random state for the root noise and the action: one generator per root, or a single
        one (all the roots' noise is drawn from it, root by root, then all their actions).
      greedy: evaluation: no noise, the most visited action (ties to the higher Q).
    """
    rngs, roots, prior_logits = expand_roots(model, observations, prev_actions, rng)
    if not greedy and noise_fraction > 0:
        for root, root_rng in zip(roots, rngs, strict=True):
            add_dirichlet_noise(root, dirichlet_alpha, noise_fraction, root_rng)
    simulate(
        model, *roots, simulations=simulations, parallel=parallel, c1=c1, c2=c2, discount=discount
    )
    return [
        root_result(root, logits, discount, temperature, root_rng, greedy)
        for root, logits, root_rng in zip(roots, prior_logits, rngs, strict=True)
    ]


def root_result(
    root: Node,
    prior_logits: np.ndarray,
    discount: float,
    temperature: float,
    rng: np.random.Generator,
    greedy: bool,
) -> SearchResult:
    """One searched tree's record: visit-count policy, per-action Q, and the action to play."""
    visits = np.array([c.visits for c in root.children], dtype=np.float64)  # [A]
    q = np.array([c.q(discount) if c.visits else root.value() for c in root.children])  # [A]
    return SearchResult(
        policy=visits / visits.sum(),
        root_value=root.value(),
        action=choose_by_visits(visits, q, temperature, rng, greedy),
        q_values=q,
        prior_logits=prior_logits,
    )


def choose_by_visits(
    visits: np.ndarray, q: np.ndarray, temperature: float, rng: np.random.Generator, greedy: bool
) -> int:
    """Most visits (ties to the higher Q) when greedy or T = 0; else p(a) ~ N(a)^(1/T)."""
    if greedy or temperature <= 0:
        best = np.flatnonzero(visits == visits.max())
        return int(best[np.argmax(q[best])])
    weights = (visits / visits.max()) ** (1.0 / temperature)
    return int(rng.choice(len(visits), p=weights / weights.sum()))
