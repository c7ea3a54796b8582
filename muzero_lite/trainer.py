"""The trainer: games/ -> prioritized replay -> MuZero loss -> checkpoints/.

It polls games/ for finished games, trains while the replay ratio allows (never far ahead of the
data the workers produce), and writes atomic checkpoints the workers pick up. `--resume` restores
weights, optimizer and step from the newest finite checkpoint and refills replay from the newest
games; the refill buys no training steps (the replay ratio counts only games new to this process).
A step whose loss or gradient is not finite is skipped: nothing it touched changes.
"""

import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np
import torch

from muzero_lite import interrupts
from muzero_lite.acceleration import Acceleration, accelerate
from muzero_lite.checkpoints import (
    NonFiniteWeights,
    architecture_for,
    changed_settings,
    list_checkpoints,
    prune_checkpoints,
    read_latest,
    save_checkpoint,
)
from muzero_lite.config import Config, ConfigError
from muzero_lite.envs import Environment
from muzero_lite.finite import SkippedSteps, all_finite, gradients_finite, restore_buffers
from muzero_lite.game_metadata import GameMetadata
from muzero_lite.games import remove_stale_temps
from muzero_lite.loader import GameLoader, LoadedGame, run_limits
from muzero_lite.losses import LossOutput, muzero_loss
from muzero_lite.metrics import MetricsLogger, stage_means
from muzero_lite.optimizer import make_optimizer, restore_optimizer
from muzero_lite.paths import DataDirs
from muzero_lite.plots import plot_progress
from muzero_lite.replay.augment import augmented
from muzero_lite.replay.buffer import Batch, ReplayBuffer
from muzero_lite.training_state import Counters, Networks
from networks import MuZeroNet

COLUMNS = [
    "losses/total",
    "losses/value",
    "losses/reward",
    "losses/policy",
    "losses/exploration",
    "replay/size",
    "replay/games",
    "replay/games_loaded",
    "replay/quarantined",
    "charts/train_steps_per_s",
    "charts/samples_per_s",
    "charts/priority_beta",
    "charts/episodic_return",
    "charts/episode_length",
    "charts/x_pos_max",
    "charts/env_steps",
    "charts/skipped_steps",
    "charts/policy_entropy",
]
PLOT_EVERY_S = 60.0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device is cuda, but PyTorch sees no CUDA device; use auto or cpu")
    return torch.device(name)


class Trainer:
    def __init__(self, config: Config, dirs: DataDirs, *, resume: bool, seed: int = 0, log=print):
        tc = config.train
        torch.set_num_threads(tc.threads)
        self.config, self.dirs, self.log = config, dirs, log
        self.device = resolve_device(tc.device)
        env = Environment(config.env)
        arch = architecture_for(config, env)
        env.close()
        if tc.augment_shift and not arch.pixels:
            raise ConfigError("train.augment_shift shifts frames; vector observations need 0")
        self.nets = Networks.create(arch, tc, self.device, seed)
        self.optimizer = make_optimizer(self.model, tc)
        self.accel = self._accelerate()
        self.scaler = self.accel.grad_scaler()
        self.replay = ReplayBuffer(
            capacity_transitions=tc.replay_capacity,
            alpha=tc.priority_alpha,
            stack=config.env.stack,
            unroll_steps=tc.unroll_steps,
            td_steps=tc.td_steps,
            discount=config.search.discount,
        )
        self.loader = GameLoader(dirs.games, log, limits=run_limits(config.env, arch))
        self.rng = np.random.default_rng(seed)
        self.recent_games: list[GameMetadata] = []
        self.metrics = MetricsLogger(dirs.runs / "train", COLUMNS, config.to_dict())
        self.counters = Counters(SkippedSteps(tc.max_skipped_steps))
        if resume:
            self.counters.env_steps = int(self.metrics.last("charts/env_steps") or 0)
        self.counters.step = self.counters.saved_step = self._restore(resume)
        self.last_plot = time.monotonic()

    @property
    def model(self) -> MuZeroNet:
        """The network being trained."""
        return self.nets.model

    @property
    def step(self) -> int:
        """The global training step."""
        return self.counters.step

    def _accelerate(self) -> Acceleration:
        """Precision and compilation as train.* says; logs them with the memory format."""
        tc = self.config.train
        accel = accelerate(
            self.model,
            device=self.device,
            precision=tc.precision,
            compile=tc.compile,
            batch_size=tc.batch_size,
        )
        self.compile_logged = not accel.compiled
        for line in accel.lines():
            self.log(line)
        return accel

    def _restore(self, resume: bool) -> int:
        if self.dirs.checkpoints.is_dir():  # temporaries of a trainer killed mid-save
            remove_stale_temps(self.dirs.checkpoints, max_age_s=60.0)
        existing = list_checkpoints(self.dirs.checkpoints)
        if not resume:
            if existing:
                raise ConfigError(
                    f"{self.dirs.checkpoints} already holds checkpoints up to step "
                    f"{existing[-1][0]}: "
                    "pass --resume to continue from them, or use another --data-dir"
                )
            return 0
        state = read_latest(self.dirs.checkpoints, self.model.arch)
        if state is None and existing:  # else the kept files would be pruned as newer ones
            raise ConfigError(
                f"no usable checkpoint in {self.dirs.checkpoints}: all {len(existing)} are "
                "unreadable or hold non-finite weights; move them aside, or use another --data-dir"
            )
        if state is None:
            self.log("[train] --resume: no checkpoint yet, starting at step 0")
            return 0
        if changed := changed_settings(state.get("config", {}), self.config.to_dict()):
            self.log(f"[train] settings changed since step {state['step']}: {changed}")
        self.model.load_state_dict(state.get("trained_weights", state["acting_weights"]))
        self.nets.follow(state)
        if self.scaler.is_enabled() and "grad_scaler" in state:
            self.scaler.load_state_dict(state["grad_scaler"])
        if "optimizer" in state:  # checkpoints before the setting decayed everything
            saved_train = state.get("config", {}).get("train", {})
            decay_all = saved_train.get("decay_biases_and_norms", True)
            restore_optimizer(self.optimizer, self.model, state["optimizer"], decay_all)
        games = self.loader.refill(self.config.train.replay_capacity)
        self._add(games, fresh=False)
        self.log(
            f"[train] resumed at step {state['step']}; replay refilled with the {len(games)} "
            "newest games "
            f"({self.replay.num_transitions} transitions)"
        )
        return int(state["step"])

    def _add(self, games: list[LoadedGame], fresh: bool = True) -> None:
        """Games into replay; `fresh` ones (not a resume's refill) count as new env steps."""
        for game in games:
            try:
                self.replay.add_game(game.record)
            except ValueError as e:  # longer than the whole replay: not one this run can learn
                self.loader.quarantine(game.path, str(e))
                continue
            if fresh:  # a resume's refill buys no training steps
                self.counters.transitions_loaded += game.record.length
                self.counters.env_steps += game.record.length
                self.recent_games.append(game.record.metadata)

    def can_train(self) -> bool:
        """Warm-up reached, and no more steps than replay_ratio x transitions loaded."""
        tc = self.config.train
        warm = self.replay.num_transitions >= tc.warmup_transitions
        budget = tc.replay_ratio * self.counters.transitions_loaded
        return warm and self.counters.steps_done < budget

    def priority_beta(self) -> float:
        tc = self.config.train
        fraction = min(1.0, self.step / max(tc.priority_beta_steps, 1))
        return tc.priority_beta_start + (1.0 - tc.priority_beta_start) * fraction

    def train_step(self) -> LossOutput | None:
        """One gradient step on a prioritized batch; the sampled positions get new priorities.

        When the loss, a value error or a gradient is not finite, the step is skipped: no weight,
        optimizer state, moving average or priority changes, and None is returned. So is a
        float16 step whose scaled gradients overflowed; the scaler then lowers its scale.
        """
        tc = self.config.train
        fresh = self.nets.target_model is not None
        batch = self.replay.sample(
            tc.batch_size,
            self.rng,
            self.priority_beta(),
            bootstrap_inputs=fresh,
            next_inputs=tc.consistency_weight > 0,
            next_count=tc.consistency_steps,
        )
        if fresh:
            batch = self._fresh_value_targets(batch)
        batch = augmented(batch, tc.augment_shift, self.rng)
        buffers = [b.clone() for b in self.model.buffers()]  # BatchNorm statistics, for a skip
        started = time.perf_counter()
        loss = muzero_loss(
            self.model,
            batch,
            exploration_fraction=tc.exploration_fraction,
            consistency_weight=tc.consistency_weight,
            device=self.device,
            precision=self.accel.dtype,
        )
        self.optimizer.zero_grad(set_to_none=True)
        if not all_finite([loss.total, loss.value_errors]):
            return self._skip("loss", buffers)
        self.scaler.scale(loss.total).backward()
        self.scaler.unscale_(self.optimizer)  # no-op unless float16
        if not self.compile_logged:
            self.log(f"[train] compiled in {time.perf_counter() - started:.1f} s (first step)")
            self.compile_logged = True
        if not gradients_finite(self.model, tc.max_grad_norm):
            overflow = self.scaler.is_enabled() and self.scaler.get_scale() >= 1.0
            self.scaler.update()  # every unscale_ needs one; after an overflow, halves the scale
            return self._overflow(buffers) if overflow else self._skip("gradient", buffers)
        self.counters.skips.in_a_row = 0
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.replay.update_priorities(batch.leaf_indices, loss.value_errors.cpu().numpy())
        self.counters.step += 1
        self.counters.steps_done += 1
        self.nets.after_step(self.step, tc)
        return loss

    def _skip(self, what: str, buffers: list[torch.Tensor]) -> None:
        """Undo the step and count the skip; too many in a row raise TrainingDiverged."""
        self._undo(buffers)
        if (line := self.counters.skips.count(self.step, what)) is not None:
            self.log(line)

    def _overflow(self, buffers: list[torch.Tensor]) -> None:
        """A float16 step whose scaled gradients overflowed: undone like a skip, not counted as
        one (the scaler has halved its scale)."""
        self._undo(buffers)
        self.counters.overflows += 1

    def _undo(self, buffers: list[torch.Tensor]) -> None:
        """Drop the gradients and put back what the forward pass changed (BatchNorm statistics)."""
        self.optimizer.zero_grad(set_to_none=True)
        restore_buffers(self.model, buffers)

    def _fresh_value_targets(self, batch: Batch) -> Batch:
        """The batch with value targets that bootstrap from the target network's values now."""
        shape = batch.bootstrap_prev_actions.shape  # [B, K+1, N]
        observations = batch.bootstrap_observations.reshape(-1, *batch.observations.shape[1:])
        prev_actions = batch.bootstrap_prev_actions.reshape(-1, shape[-1])
        with self.accel.autocast():
            values = self.nets.target_model.initial_inference(
                torch.as_tensor(observations, device=self.device),
                torch.as_tensor(prev_actions, device=self.device),
            ).value
        values = values.float().cpu().numpy().reshape(shape[:2])
        targets = batch.returns + batch.bootstrap_weights * values
        return dataclasses.replace(batch, target_values=targets.astype(np.float32))

    def save(self) -> bool:
        """A checkpoint: the acting weights for the workers, plus all that a resume needs.

        Returns False, writing nothing, when a weight is not finite (one log line says which)."""
        extra = {}
        if self.scaler.is_enabled():  # float16: a resume goes on at the scale reached
            extra["grad_scaler"] = self.scaler.state_dict()
        if self.nets.acting_model is not None:  # the workers play the average, training goes on
            extra["trained_weights"] = self.model.state_dict()
        try:
            save_checkpoint(
                self.dirs.checkpoints,
                self.step,
                self.nets.checkpointed,
                optimizer=self.optimizer.state_dict(),
                config=self.config.to_dict(),
                **extra,
            )
        except NonFiniteWeights as e:  # skipped steps keep this from happening; never write it
            self.log(f"[train] {e}")
            return False
        self.counters.saved_step = self.step
        prune_checkpoints(self.dirs.checkpoints, self.config.train.keep_checkpoints)
        if time.monotonic() - self.last_plot >= PLOT_EVERY_S:
            self.plot()
        return True

    def plot(self) -> None:
        """Redraw progress.png (in the local folder) from the metrics so far."""
        self.last_plot = time.monotonic()
        plot_progress(self.metrics.csv_path, self.dirs.local / "progress.png")

    def run(self, steps: int | None = None) -> None:
        """Train until the global step reaches `steps` (None: forever); checkpoint at the end."""
        tc = self.config.train
        clock = _Clock(tc.poll_seconds)
        try:
            while steps is None or self.step < steps:
                interrupts.check()
                if clock.poll_due() or not self.can_train():
                    self._add(self.loader.poll())
                if not self.can_train():
                    clock.wait(lambda: self.log(self._waiting_line()))
                    continue
                started = time.perf_counter()
                loss = self.train_step()
                clock.train_seconds += time.perf_counter() - started
                if loss is None:  # skipped: the step did not advance
                    continue
                if self.step % tc.log_every == 0:
                    self._report(loss, tc.log_every / max(clock.train_seconds, 1e-9))
                    clock.train_seconds = 0.0
                if self.step % tc.checkpoint_every == 0:
                    self.save()
        finally:
            if self.step != self.counters.saved_step and self.save():
                self.log(f"[train] checkpoint step {self.step} written")
            self.plot()
            self.metrics.close()

    def _waiting_line(self) -> str:
        tc = self.config.train
        size = self.replay.num_transitions
        if size < tc.warmup_transitions:
            return f"[train] waiting for games: replay {size}/{tc.warmup_transitions} (warm-up)"
        return f"[train] step {self.step}: waiting for new games (replay ratio {tc.replay_ratio})"

    def _report(self, loss: LossOutput, steps_per_s: float) -> None:
        games, self.recent_games = self.recent_games, []
        values = {
            "losses/total": float(loss.total.detach()),
            "losses/value": loss.value,
            "losses/reward": loss.reward,
            "losses/policy": loss.policy,
            "losses/exploration": loss.exploration,
            "losses/consistency": loss.consistency,  # TensorBoard only: the CSV keeps its columns
            "replay/size": self.replay.num_transitions,
            "replay/games": self.replay.num_games,
            "replay/games_loaded": self.loader.loaded,
            "replay/quarantined": self.loader.quarantined,
            "charts/train_steps_per_s": steps_per_s,
            "charts/samples_per_s": steps_per_s * self.config.train.batch_size,
            "charts/priority_beta": self.priority_beta(),
            "charts/episodic_return": _mean(g.return_ for g in games),
            "charts/episode_length": _mean(g.length for g in games),
            "charts/x_pos_max": _mean(g.x_pos_max for g in games),
            "charts/env_steps": self.counters.env_steps,
            "charts/skipped_steps": self.counters.skips.total,
            "charts/policy_entropy": loss.policy_entropy,
            "charts/overflow_steps": self.counters.overflows,  # TensorBoard only, float16
        }
        self.metrics.log(self.step, values)
        self.metrics.log_stages(self.step, self.counters.env_steps, stage_means(games))
        self.log(
            f"[train] step {self.step} | replay {self.replay.num_transitions} "
            f"({self.replay.num_games} games) | loss value {loss.value:.3f} "
            f"reward {loss.reward:.3f} "
            f"policy {loss.policy:.3f} expl {loss.exploration:.3f} | {steps_per_s:.1f} steps/s"
            + (f" | skipped {self.counters.skips.total}" if self.counters.skips.total else "")
            + (f" | fp16 overflows {self.counters.overflows}" if self.counters.overflows else "")
        )


class _Clock:
    """When to poll games/, how long to wait for data, and time spent training since a report."""

    def __init__(self, poll_seconds: float):
        self.poll_seconds = poll_seconds
        self.last_poll = time.monotonic()
        self.last_wait_line = -math.inf
        self.train_seconds = 0.0

    def poll_due(self) -> bool:
        if time.monotonic() - self.last_poll >= self.poll_seconds:
            self.last_poll = time.monotonic()
            return True
        return False

    def wait(self, say: Callable[[], None]) -> None:
        if time.monotonic() - self.last_wait_line >= 30:
            say()
            self.last_wait_line = time.monotonic()
        time.sleep(min(self.poll_seconds, 1.0))


def _mean(values) -> float:
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else float("nan")
