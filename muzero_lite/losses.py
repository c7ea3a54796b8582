"""MuZero's training loss with the exploration network (DESIGN sections 6 and 8).

For an unroll of K steps from a sampled position, at every step k = 0..K:
  value       cross-entropy of the value head to the two-hot n-step target,
  reward      (k >= 1) cross-entropy of the reward head to the two-hot observed reward (value
              and reward are masked past the cut of a truncated game, where they are unknown),
  policy      cross-entropy of the policy head to the search policy (masked past the game's end),
  exploration the exploration network learns to predict softmax(policy) (a detached target), and
              the policy loss is reduced by `exploration_fraction` times that same cross-entropy
              computed with the exploration logits detached: the policy is pushed away from what
              is easy to predict, and that term is its only route into the policy. The
              exploration network reads detached hidden states, so its own loss never trains
              the representation or the dynamics.
  consistency (k >= 1, only with consistency_weight > 0) 1 - the cosine similarity between the
              hidden state the dynamics network reached and the representation of the observed
              state t + k (a detached target): the self-supervised consistency of EfficientZero,
              which makes the dynamics a model of what really follows. With a projector
              (network.projection_size > 0) both sides are projected first and the dynamics'
              side also goes through the predictor, as in EfficientZero (SimSiam). It is taken
              at the J steps the batch carries (all K, or J drawn at random), each scaled by 1/J
              in the gradient: in expectation the gradient of all K steps scaled by 1/K.
Steps k >= 1 are scaled by 1/K; as in the MuZero pseudocode the heads read each hidden state
unscaled and only its way into the next dynamics step (the reward head is part of that step)
halves the gradient, for the states the dynamics reached (k >= 1); each sample's loss is weighted
by its importance weight.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from muzero_lite.acceleration import autocast
from muzero_lite.replay.buffer import Batch
from networks import MuZeroNet, Prediction, scalar_to_support, support_to_scalar


@dataclass(frozen=True)
class LossOutput:
    total: torch.Tensor  # [] what the optimizer minimises
    value: float  # mean per-sample terms, for the logs
    reward: float
    policy: float
    exploration: float
    consistency: float
    policy_entropy: float  # mean entropy (nats) of the policy head at k = 0, for the logs
    value_errors: torch.Tensor  # [B] |target value - predicted value| at k = 0: new priorities
    terms: dict[str, torch.Tensor]  # [] each term's importance-weighted mean, in the graph


def scale_gradient(x: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
    """Identity forward; the gradient is multiplied by `scale`."""
    return x * scale + x.detach() * (1 - scale)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-sum_i target_i log softmax(logits)_i over the last axis: [..., C] -> [...]."""
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1)


def exploration_losses(
    policy_logits: torch.Tensor, exploration_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(exploration network's loss, the term the policy loss is reduced by), each [B].

    The first trains the exploration network towards softmax(policy) and sends no gradient into
    the policy. The second is the same cross-entropy with the exploration logits detached: it
    sends gradient only into the policy, and subtracting it moves the policy away from what the
    exploration network predicts.
    """
    predictability = soft_cross_entropy(exploration_logits, F.softmax(policy_logits, -1).detach())
    novelty = soft_cross_entropy(exploration_logits.detach(), F.softmax(policy_logits, -1))
    return predictability, novelty


def muzero_loss(
    model: MuZeroNet,
    batch: Batch,
    *,
    exploration_fraction: float,
    consistency_weight: float = 0.0,
    device: torch.device | str = "cpu",
    precision: torch.dtype = torch.float32,
) -> LossOutput:
    """The importance-weighted loss of one batch, and the value errors for new priorities.

    The dynamics run step by step; the heads then read all K + 1 hidden states of the unroll in
    one batched call, and every term is computed for all steps at once ([B, K+1]; the
    consistency term for the J steps the batch carries, [B, J]).
    With consistency_weight > 0 the batch must carry next_observations (see Batch).
    With a `precision` other than float32 the network passes run under autocast to it (mixed
    precision); the logits are then cast back, and every term is computed in float32.
    """
    tensors = {name: torch.as_tensor(getattr(batch, name), device=device) for name in _BATCH_FIELDS}
    support = model.arch.support_size
    size, unroll = tensors["actions"].shape
    with autocast(device, precision):
        out, states, reward_logits = _unroll(model, tensors)
    unrolled = (size, unroll + 1)  # [B, K+1]
    value_logits = out.value_logits.float().unflatten(0, unrolled)  # [B, K+1, 2S+1]
    policy_logits = out.policy_logits.float().unflatten(0, unrolled)  # [B, K+1, A]
    exploration_logits = out.exploration_logits.float().unflatten(0, unrolled)  # [B, K+1, A]

    no_step = torch.zeros(size, 1, device=device)  # k = 0 has no step into it
    known = tensors["value_mask"]  # [B, K+1] value and reward unknown past the cut of a truncation
    value_targets = scalar_to_support(tensors["target_values"], support)
    terms = {
        "value": known * soft_cross_entropy(value_logits, value_targets),
        "reward": no_step,
    }
    if unroll > 0:
        reward_logits = reward_logits.float().unflatten(0, (size, unroll))  # [B, K, 2S+1]
        rewards = scalar_to_support(tensors["target_rewards"][:, 1:], support)
        reward = soft_cross_entropy(reward_logits, rewards)  # [B, K]
        terms["reward"] = torch.cat([no_step, known[:, 1:] * reward], dim=1)
    mask = tensors["policy_mask"]  # [B, K+1]
    predictability, novelty = exploration_losses(policy_logits, exploration_logits)
    terms["policy"] = mask * (
        soft_cross_entropy(policy_logits, tensors["target_policies"])
        - exploration_fraction * novelty
    )
    terms["exploration"] = mask * predictability

    scale = torch.full((unroll + 1,), 1.0 / max(unroll, 1), device=device)
    scale[0] = 1.0  # steps k >= 1 scaled by 1/K in the gradient
    per_sample = {
        name: scale_gradient(term, scale[: term.shape[1]]).sum(1) for name, term in terms.items()
    }
    per_sample["consistency"] = no_step[:, 0]
    if consistency_weight > 0:
        dissimilarity = _consistency(model, batch, states, device, precision)
        per_sample["consistency"] = consistency_weight * dissimilarity
    predicted = support_to_scalar(value_logits[:, 0].detach(), support)
    value_errors = (predicted - tensors["target_values"][:, 0]).abs()
    weights = tensors["weights"]
    weighted = {name: (weights * per_sample[name]).mean() for name in _TERMS}
    means = {name: float(term.detach().mean()) for name, term in per_sample.items()}
    return LossOutput(
        total=sum(weighted.values()),
        value_errors=value_errors,
        terms=weighted,
        policy_entropy=float(_entropy(policy_logits[:, 0].detach()).mean()),
        **means,
    )


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of softmax(logits) over the last axis: [..., A] -> [...]."""
    return soft_cross_entropy(logits, F.softmax(logits, dim=-1))


def _unroll(
    model: MuZeroNet, tensors: dict[str, torch.Tensor]
) -> tuple[Prediction, torch.Tensor, torch.Tensor | None]:
    """The network passes of an unroll: (the heads of all K + 1 states, flattened [B*(K+1), ...];
    the states [B, K+1, *hidden_shape]; the reward logits [B*K, 2S+1], None when K = 0).

    As in the MuZero pseudocode, a state's way into the next dynamics step (the reward head is
    part of that step) halves its gradient, for the states the dynamics reached (k >= 1).
    """
    hidden = model.represent(tensors["observations"], tensors["prev_actions"])
    hiddens, inputs = [hidden], []  # states the heads read; states entering a dynamics step
    for k in range(tensors["actions"].shape[1]):
        inputs.append(hidden if k == 0 else scale_gradient(hidden, 0.5))
        hidden = model.next_hidden(inputs[-1], tensors["actions"][:, k])
        hiddens.append(hidden)
    states = torch.stack(hiddens, dim=1)  # [B, K+1, *hidden_shape]
    out = model.predict(states.flatten(0, 1))
    reward_logits = None
    if inputs:
        reward_inputs = torch.stack(inputs, dim=1).flatten(0, 1)  # [B*K, *hidden_shape]
        reward_logits = model.reward_logits(reward_inputs, tensors["actions"].flatten())
    return out, states, reward_logits


def _consistency(
    model: MuZeroNet,
    batch: Batch,
    states: torch.Tensor,
    device: torch.device | str,
    precision: torch.dtype,
) -> torch.Tensor:
    """Per sample [B], the sum over the batch's J next states of 1 - the cosine similarity between
    the state the unroll reached ([B, K+1, ...] `states`, through the projector and predictor)
    and the one observed (through the projector, no gradient); each step's gradient scaled by
    1/J, and steps past the end of the game masked."""
    steps = _next_steps(batch, device)  # [B, J]
    rows = torch.arange(len(steps), device=device)[:, None]
    with autocast(device, precision):
        reached = model.project(states[rows, steps].flatten(0, 1), predict=True)  # [B*J, F]
        observed = _observed_features(model, batch, device)  # [B*J, F]
    similarity = F.cosine_similarity(reached.float(), observed.float(), dim=1)
    mask = torch.as_tensor(batch.next_mask, device=device)  # [B, J]
    term = mask * (1 - similarity.unflatten(0, steps.shape))
    return scale_gradient(term, 1.0 / steps.shape[1]).sum(1)


def _next_steps(batch: Batch, device: torch.device | str) -> torch.Tensor:
    """The unroll steps k [B, J] of the batch's next states: all of 1..K unless it says which."""
    if batch.next_steps is not None:
        return torch.as_tensor(batch.next_steps, device=device)
    size, unroll = batch.actions.shape
    return torch.arange(1, unroll + 1, device=device).expand(size, unroll)


@torch.no_grad()
def _observed_features(model: MuZeroNet, batch: Batch, device: torch.device | str) -> torch.Tensor:
    """Consistency targets [B*J, F] of the observed states t + k: their representations,
    projected when the network has a projector (no gradient)."""
    shape = batch.next_prev_actions.shape  # [B, J, N]
    observations = batch.next_observations.reshape(-1, *batch.observations.shape[1:])
    prev_actions = batch.next_prev_actions.reshape(-1, shape[-1])
    hidden = model.represent(
        torch.as_tensor(observations, device=device), torch.as_tensor(prev_actions, device=device)
    )
    return model.project(hidden, predict=False)


_BATCH_FIELDS = (
    "observations",
    "prev_actions",
    "actions",
    "target_values",
    "target_rewards",
    "target_policies",
    "policy_mask",
    "value_mask",
    "weights",
)
_TERMS = ("value", "reward", "policy", "exploration", "consistency")
