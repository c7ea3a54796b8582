"""The six networks of MuZero-Lite and the two inference calls the search makes.

- representation: observation stack -> hidden state
- dynamics:       hidden state + action -> next hidden state
- reward:         (hidden state, action) -> predicted reward       (categorical logits)
- value:          hidden state -> predicted value                   (categorical logits)
- policy:         hidden state -> relative predicted value of each move (logits)
- exploration:    hidden state -> predicted policy (logits), trained to imitate `policy`
With `projection_size` > 0, the consistency loss of training also has a projector (hidden state ->
features) and a predictor (features -> features), as in EfficientZero; the search never uses them.

Pixels use convolutions with residual blocks, vectors use MLPs; hidden states are min-max scaled to
[0, 1] per sample, as in MuZero, so the dynamics sees inputs of one range at every depth.
"""

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from networks.blocks import (
    HIDDEN_SIDE,
    ConvEncoder,
    ConvHead,
    ResidualBlock,
    mlp,
    zero_output,
)
from networks.support import support_to_scalar


@dataclass(frozen=True)
class Architecture:
    """All that fixes the shapes of the weights; stored in checkpoints and compared on load."""

    observation_shape: tuple[int, ...]
    num_actions: int
    stack: int
    pixels: bool
    channels: int
    blocks: int
    hidden_size: int
    head_size: int
    support_size: int
    projection_size: int = 0  # 0: no projector and predictor (checkpoints before them have none)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "observation_shape": list(self.observation_shape)}


@dataclass(frozen=True)
class NetworkOutput:
    """Scalar outputs for the search (no gradients)."""

    hidden: torch.Tensor  # [B, *hidden_shape]
    value: torch.Tensor  # [B]
    reward: torch.Tensor  # [B] reward of the step into `hidden` (0 at the root)
    policy_logits: torch.Tensor  # [B, A]


@dataclass(frozen=True)
class Prediction:
    """Logits of the three heads that read a hidden state, for training."""

    value_logits: torch.Tensor  # [B, 2S + 1]
    policy_logits: torch.Tensor  # [B, A]
    exploration_logits: torch.Tensor | None  # [B, A]; None when predict(exploration=False)


class MuZeroNet(nn.Module):
    """Representation, dynamics and the four heads for one architecture."""

    def __init__(self, arch: Architecture):
        super().__init__()
        self.arch = arch
        bins = 2 * arch.support_size + 1
        a = arch.num_actions
        if arch.pixels:
            frame_channels = arch.observation_shape[2] if len(arch.observation_shape) == 3 else 1
            c = arch.channels
            self.representation_net = ConvEncoder(arch.stack * (frame_channels + 1), c, arch.blocks)
            self.transition_net = nn.Sequential(
                nn.Conv2d(c + a, c, 3, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(),
                *[ResidualBlock(c) for _ in range(arch.blocks)],
            )
            self.reward_net = ConvHead(c + a, bins, arch.head_size)
            self.value_net = ConvHead(c, bins, arch.head_size)
            self.policy_net = ConvHead(c, a, arch.head_size)
            self.exploration_net = ConvHead(c, a, arch.head_size)
        else:
            (size,) = arch.observation_shape
            hs = arch.hidden_size
            self.representation_net = mlp(arch.stack * (size + a), [hs], hs)
            self.transition_net = mlp(hs + a, [hs], hs)
            self.reward_net = mlp(hs + a, [arch.head_size], bins)
            self.value_net = mlp(hs, [arch.head_size], bins)
            self.policy_net = mlp(hs, [arch.head_size], a)
            self.exploration_net = mlp(hs, [arch.head_size], a)
        zero_output(self.value_net)
        zero_output(self.reward_net)
        if arch.projection_size:
            features = arch.channels * HIDDEN_SIDE**2 if arch.pixels else arch.hidden_size
            p = arch.projection_size
            self.projector = mlp(features, [p], p)
            self.predictor = mlp(p, [max(p // 4, 1)], p)
        self.channels_last = False  # pixel activations [B, H, W, C] in memory (use_channels_last)

    def use_channels_last(self) -> "MuZeroNet":
        """Pixel networks: weights and activations laid out [B, H, W, C] in memory, which the
        convolution kernels of CPUs and GPUs run faster; the same numbers either way."""
        if self.arch.pixels:
            self.to(memory_format=torch.channels_last)
            self.channels_last = True
        return self

    def represent(self, observations: torch.Tensor, prev_actions: torch.Tensor) -> torch.Tensor:
        """[B, N, *obs_shape] observations, [B, N] previous actions (-1: none) -> hidden state."""
        if self.arch.pixels:
            x = self._frames_and_actions(observations, prev_actions)
        else:
            one_hot = _one_hot(prev_actions, self.arch.num_actions)  # [B, N, A], zeros for -1
            x = torch.cat([observations.float(), one_hot], dim=-1).flatten(1)
        return _scale(self.representation_net(x))

    def _frames_and_actions(
        self, observations: torch.Tensor, prev_actions: torch.Tensor
    ) -> torch.Tensor:
        """The convolutional input [B, N*C + N, H, W]: the frames scaled to [0, 1], then one plane
        per stacked state holding its previous action, (a + 1) / A (0: none); built directly in
        the [B, H, W, C] memory layout when the network is channels_last."""
        frames = observations if observations.dim() == 5 else observations.unsqueeze(-1)
        b, n, hh, ww, cc = frames.shape  # [B, N, H, W, C] -> [B, N*C, H, W]
        if self.channels_last:  # a view of the frames as they are, [B, H, W, N*C] in memory
            frames = frames.permute(0, 2, 3, 1, 4).reshape(b, hh, ww, n * cc).permute(0, 3, 1, 2)
        else:
            frames = frames.permute(0, 1, 4, 2, 3).reshape(b, n * cc, hh, ww)
        planes = (prev_actions.float() + 1) / self.arch.num_actions  # [B, N]
        return self._with_planes(frames.float() / 255.0, planes)

    def dynamics(
        self, hidden: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden [B, ...], action [B]) -> (next hidden, reward logits [B, 2S + 1])."""
        x = self._with_action(hidden, action)
        return _scale(self.transition_net(x)), self.reward_net(x)

    def next_hidden(self, hidden: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The next hidden state alone of `dynamics` (training reads the rewards in one batch)."""
        return _scale(self.transition_net(self._with_action(hidden, action)))

    def reward_logits(self, hidden: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The reward logits alone of `dynamics`: [B, ...], [B] -> [B, 2S + 1]."""
        return self.reward_net(self._with_action(hidden, action))

    def _with_action(self, hidden: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The dynamics' input: the hidden state with the one-hot action (as planes for pixels)."""
        one_hot = _one_hot(action, self.arch.num_actions).to(hidden.dtype)
        if not self.arch.pixels:
            return torch.cat([hidden, one_hot], dim=1)
        return self._with_planes(hidden, one_hot)

    def _with_planes(self, x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """x [B, C, H, W] followed by one constant plane per column of values [B, P]:
        [B, C + P, H, W], joined along the last axis of [B, H, W, C] when channels_last."""
        side = x.shape[-2:]
        if self.channels_last:
            planes = values[:, None, None, :].expand(-1, *side, -1)
            return torch.cat([x.permute(0, 2, 3, 1), planes], dim=-1).permute(0, 3, 1, 2)
        return torch.cat([x, values[:, :, None, None].expand(-1, -1, *side)], dim=1)

    def predict(self, hidden: torch.Tensor, exploration: bool = True) -> Prediction:
        """The heads that read a hidden state. The exploration head reads it detached: its loss
        trains the exploration network alone, never the representation or the dynamics."""
        exploration_logits = self.exploration_net(hidden.detach()) if exploration else None
        return Prediction(self.value_net(hidden), self.policy_net(hidden), exploration_logits)

    def project(self, hidden: torch.Tensor, predict: bool) -> torch.Tensor:
        """Consistency features [B, P] of hidden states [B, ...]: the projector, then the predictor
        for the side that must predict the other (the dynamics'); the hidden states themselves,
        flattened, when the network has no projector."""
        x = hidden.flatten(1)
        if not self.arch.projection_size:
            return x
        x = self.projector(x)
        return self.predictor(x) if predict else x

    @torch.inference_mode()
    def initial_inference(
        self, observations: torch.Tensor, prev_actions: torch.Tensor
    ) -> NetworkOutput:
        hidden = self.represent(observations, prev_actions)
        out = self.predict(hidden, exploration=False)
        value = support_to_scalar(out.value_logits, self.arch.support_size)
        return NetworkOutput(hidden, value, torch.zeros_like(value), out.policy_logits)

    @torch.inference_mode()
    def recurrent_inference(self, hidden: torch.Tensor, action: torch.Tensor) -> NetworkOutput:
        next_hidden, reward_logits = self.dynamics(hidden, action)
        out = self.predict(next_hidden, exploration=False)
        value = support_to_scalar(out.value_logits, self.arch.support_size)
        reward = support_to_scalar(reward_logits, self.arch.support_size)
        return NetworkOutput(next_hidden, value, reward, out.policy_logits)


def _one_hot(actions: torch.Tensor, num_actions: int) -> torch.Tensor:
    """One-hot float encoding; an action of -1 ("none") encodes as all zeros."""
    return nn.functional.one_hot((actions + 1).long(), num_actions + 1)[..., 1:].float()


def _scale(hidden: torch.Tensor) -> torch.Tensor:
    """Min-max scale each sample's hidden state to [0, 1] (in its own memory format)."""
    dims = tuple(range(1, hidden.dim()))
    low = hidden.amin(dim=dims, keepdim=True)
    high = hidden.amax(dim=dims, keepdim=True)
    return (hidden - low) / (high - low).clamp(min=1e-5)
