"""A self-play worker: N game slots playing side by side, each finished game written at once.

The worker talks to the trainer through files only: it reads the newest checkpoint from
`<data>/checkpoints/` between moves and writes `<data>/games/<id>.npz` and `<data>/gifs/<id>_*.gif`
(`output`). It keeps `selfplay.envs` game slots: every move, the roots of all slots are searched
in one batched call (`episodes.advance`), and a slot whose game ended starts the next one at once.
All slots take up a newer checkpoint together, between moves; a game records the first and the
last checkpoint step that played it. A game that is interrupted is simply not written; one whose
write fails (a full disk, say) or that fails validation is one log line, and the worker plays on.
A checkpoint with non-finite weights is skipped for the newest finite one.
The network calls run in the precision `selfplay.precision` chooses (`acceleration.for_selfplay`:
bfloat16 autocast for a pixel network with 8 or more slots where the CPU has it, else float32).

Random state: slot i draws from its own generator, seeded from (seed, worker id, i), so slot i
plays what a one-slot worker given that generator would play, up to ties that batched arithmetic
may break differently.
"""

import time
from dataclasses import dataclass

import numpy as np
import torch

from muzero_lite import interrupts
from muzero_lite.acceleration import for_selfplay
from muzero_lite.checkpoints import build_model, load_latest
from muzero_lite.config import Config
from muzero_lite.envs import EmulatorPool, Environment
from muzero_lite.games import remove_stale_temps
from muzero_lite.paths import DataDirs
from muzero_lite.selfplay.episodes import Episode, PlayedGame, advance
from muzero_lite.selfplay.output import write_played
from muzero_lite.selfplay.progress import progress_line

PICKUP_SECONDS = 2.0  # in the middle of games, look for a newer checkpoint this often


@dataclass
class Slot:
    """One game at a time: its env, its random generator and the game it is playing."""

    env: Environment
    rng: np.random.Generator
    episode: Episode | None = None
    moves_at_start: int = 0  # the worker's move count when the game began (for its steps/s)


class Worker:
    """One self-play process's state: its slots, network, checkpoint step and counters."""

    def __init__(self, config: Config, dirs: DataDirs, *, worker_id: int, seed: int, log=print):
        torch.set_num_threads(config.selfplay.threads)
        self.config, self.dirs, self.log = config, dirs, log
        self.worker_id, self.seed = worker_id, seed
        start = time.perf_counter()
        slots = config.selfplay.envs
        self.pool = EmulatorPool(config.env, slots)
        self.slots = [
            Slot(Environment(config.env, self.pool), np.random.default_rng([seed, worker_id, i]))
            for i in range(slots)
        ]
        env = self.slots[0].env
        with torch.random.fork_rng():  # seed the initial weights without touching global state
            torch.manual_seed(seed * 1000 + worker_id)
            self.model = build_model(config, env)
        self.model.to(config.selfplay.device).eval()
        self.inference = for_selfplay(
            self.model, config.selfplay.precision, torch.device(config.selfplay.device), slots
        )
        for folder in (dirs.games, dirs.gifs):
            folder.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(folder)
        step = load_latest(dirs.checkpoints, self.model, env=config.env)
        name = config.env.id if config.env.stages else env.env_id
        weights = (
            f"checkpoint step {step}" if step is not None else "no checkpoint yet: random network"
        )
        many = f", {slots} game slots" if slots > 1 else ""
        log(
            f"[worker {worker_id}] {name} ({env.num_actions} actions{many}), {weights}; "
            f"{self.inference.line()}"
        )
        self.start_seconds = time.perf_counter() - start
        self.step = step or 0
        self.start_step = self.step
        self._looked = time.monotonic()  # when the checkpoints were last looked at
        self.games_started = 0
        self.games_played = 0  # finished, written or not
        self.games_written = 0
        self.env_steps = 0  # moves of the written games: what the pace counts
        self.moves = 0  # moves of all slots, finished games or not

    def pick_up_checkpoint(self) -> None:
        self._looked = time.monotonic()
        newer = load_latest(
            self.dirs.checkpoints, self.model, newer_than=self.step, env=self.config.env
        )
        if newer is not None:
            self.step = newer
            self.log(f"[worker {self.worker_id}] loaded checkpoint step {self.step}")

    def ahead_of_trainer(self) -> bool:
        """Whether the pace holds new games back now (`selfplay.max_env_steps_per_train_step`)."""
        sp = self.config.selfplay
        return sp.max_env_steps_per_train_step > 0 and self.env_steps >= (
            sp.pace_free_steps + sp.max_env_steps_per_train_step * (self.step - self.start_step)
        )

    def wait_for_trainer(self, poll_seconds: float = 0.5) -> None:
        """Pace: hold back while this worker is too far ahead of the trainer (SelfPlayConfig)."""
        said = False
        while self.ahead_of_trainer():
            if not said:
                self.log(f"[worker {self.worker_id}] waiting for the trainer (step {self.step})")
                said = True
            interrupts.check()
            time.sleep(poll_seconds)
            self.pick_up_checkpoint()

    def play_move(self, games: int | None = None) -> list[PlayedGame]:
        """One move in every slot that has a game; returns the games that ended on it, written.

        Idle slots start games (while fewer than `games` have started; None: no limit) after a
        look for a newer checkpoint, unless the pace holds new games back: then the games in
        progress play on, and with none in progress the worker waits for the trainer. In the
        middle of games the checkpoints are looked at every PICKUP_SECONDS. A stop request
        (Ctrl-C) during the move is raised once the games that ended on it are written.
        """
        idle = [s for s in self.slots if s.episode is None]
        if games is not None:
            idle = idle[: max(0, games - self.games_started)]
        if idle or time.monotonic() - self._looked >= PICKUP_SECONDS:
            self.pick_up_checkpoint()
        if idle and self.ahead_of_trainer():
            if any(s.episode is not None for s in self.slots):
                idle = []  # no new game yet; those in progress play on
            else:
                self.wait_for_trainer()
        for slot in idle:
            self._start(slot)
        playing = [s for s in self.slots if s.episode is not None]
        if not playing:
            return []
        interrupts.check()
        with interrupts.deferred():
            episodes = [s.episode for s in playing]
            advance(episodes, self.inference.search_model, self.config, train_step=self.step)
            self.moves += len(playing)
            return [self._finish(s) for s in playing if s.episode.last is not None]

    def play_one(self) -> PlayedGame:
        """Play until a game ends and return it (any others that ended with it are written too)."""
        while not (ended := self.play_move()):
            pass
        return ended[0]

    def _start(self, slot: Slot) -> None:
        every = self.config.selfplay.gif_every
        record_gif = every > 0 and self.games_started % every == 0
        slot.episode = Episode.begin(
            slot.env, slot.rng, train_step=self.step, record_frames=record_gif
        )
        slot.moves_at_start = self.moves
        self.games_started += 1

    def _finish(self, slot: Slot) -> PlayedGame:
        """Write the slot's finished game and its GIF, log it, and free the slot."""
        played = slot.episode.played(self.config)
        moves = self.moves - slot.moves_at_start
        slot.episode = None
        self.games_played += 1
        written = write_played(
            played, self.dirs, self.config, worker_id=self.worker_id, seed=self.seed, log=self.log
        )
        if written is not None:  # else the write failed, and said so in one line
            self.games_written += 1
            self.env_steps += played.record.length  # pace counts only what the trainer can see
            rate = moves / max(played.seconds, 1e-9)
            self.log(progress_line(self.worker_id, self.games_played, played.record.metadata, rate))
        return played

    def close(self) -> None:
        for slot in self.slots:
            slot.env.close()
        self.pool.close()


def run_worker(
    config: Config, dirs: DataDirs, *, games: int | None, worker_id: int, seed: int, log=print
) -> int:
    """Play `games` games (forever when None); returns the number written."""
    worker = Worker(config, dirs, worker_id=worker_id, seed=seed, log=log)
    try:
        while games is None or worker.games_played < games:
            worker.play_move(games)
    finally:
        worker.close()
    return worker.games_written
