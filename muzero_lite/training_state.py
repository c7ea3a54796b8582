"""What the trainer holds besides replay: its networks and its counters, one record each."""

import copy
from dataclasses import dataclass

import torch

from muzero_lite.config import TrainConfig
from muzero_lite.finite import SkippedSteps
from networks import Architecture, MuZeroNet


@dataclass
class Networks:
    """The trainer's networks: the one the optimizer trains, and the copies that follow it."""

    model: MuZeroNet  # trained by the optimizer
    acting_model: MuZeroNet | None  # moving average checkpoints hand out (train.ema_decay > 0)
    target_model: MuZeroNet | None  # what fresh bootstraps read (train.bootstrap = "fresh")

    @classmethod
    def create(cls, arch: Architecture, tc: TrainConfig, device: torch.device, seed: int):
        """New networks on `device`, pixel ones laid out channels_last when tc asks; the copies
        are made here, before an optimizer state (which shares its parameters' layout) or a
        compilation exists, and take the trained weights again after a resume (`follow`)."""
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = MuZeroNet(arch).to(device).train()
        if tc.channels_last:
            model.use_channels_last()
        acting = frozen_copy(model) if tc.ema_decay > 0 else None
        return cls(model, acting, frozen_copy(model) if tc.bootstrap == "fresh" else None)

    @property
    def checkpointed(self) -> MuZeroNet:
        """The weights a checkpoint hands the workers: the average when there is one."""
        return self.model if self.acting_model is None else self.acting_model

    def follow(self, state: dict) -> None:
        """After a resume: the average takes the checkpoint's `state["acting_weights"]`, the
        target the trained ones."""
        if self.acting_model is not None:
            self.acting_model.load_state_dict(state["acting_weights"])
        if self.target_model is not None:
            self.target_model.load_state_dict(self.model.state_dict())

    def after_step(self, step: int, tc: TrainConfig) -> None:
        """Move the average one step towards the trained weights; refresh the target when due."""
        if self.acting_model is not None:
            update_average(self.acting_model, self.model, tc.ema_decay)
        if self.target_model is not None and step % tc.target_update_every == 0:
            self.target_model.load_state_dict(self.model.state_dict())


@dataclass
class Counters:
    """Where the run stands."""

    skips: SkippedSteps  # steps skipped for a non-finite loss or gradient
    step: int = 0  # global training step, restored by --resume
    saved_step: int = 0  # step of the newest checkpoint written or restored
    steps_done: int = 0  # training steps by this process
    transitions_loaded: int = 0  # moves of new games loaded by this process: the ratio's budget
    env_steps: int = 0  # moves of all games of this run, resumes included
    overflows: int = 0  # float16 steps the gradient scaler skipped (not counted in skips)


def frozen_copy(model: MuZeroNet) -> MuZeroNet:
    """A copy that follows `model` without training: eval mode, no gradients."""
    return copy.deepcopy(model).eval().requires_grad_(False)


@torch.no_grad()
def update_average(average: MuZeroNet, model: MuZeroNet, decay: float) -> None:
    """average = decay * average + (1 - decay) * model; buffers (BatchNorm statistics) copied."""
    torch._foreach_lerp_(list(average.parameters()), list(model.parameters()), 1.0 - decay)
    for mean, current in zip(average.buffers(), model.buffers(), strict=True):
        mean.copy_(current)
