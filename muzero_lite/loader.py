"""The trainer's side of games/: find new game files, load each exactly once, quarantine bad ones.

Only complete files are visible (writers publish finished files whole under `*.npz`), so the
loader never sees half a game; each poll lists the folder once (one request on a store). A file
that fails to load or validate is moved to `games/quarantine/` beside a `.reason.txt` saying why,
and loading goes on; so is anything named `*.npz` that is not a regular file (a FIFO, a folder, a
link, a device), without being opened.
With `GameLimits` (the trainer's), a file declaring more than the largest game its config allows,
or a game of other env settings, is quarantined before it is read. Files that vanish between
listing and loading (retention, another trainer) are skipped.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from muzero_lite.config import EnvConfig
from muzero_lite.envs import is_mario
from muzero_lite.game_limits import GameLimits, compared_settings, env_settings
from muzero_lite.games import GameFileError, GameRecord, load_game
from muzero_lite.storage import Location, lexists, move

if TYPE_CHECKING:
    from networks import Architecture

QUARANTINE = "quarantine"


@dataclass(frozen=True)
class LoadedGame:
    path: Location
    record: GameRecord


def run_limits(env: EnvConfig, arch: "Architecture") -> GameLimits:
    """A run's limits: its longest game (env.max_episode_steps) of its network's observations and
    actions, and the env settings (of those that matter for its kind) its games must match."""
    settings = env_settings(env)
    names = compared_settings(pixels=arch.pixels, mario=is_mario(env.id))
    return GameLimits(
        max_moves=env.max_episode_steps,
        observation_shape=tuple(arch.observation_shape),
        observation_dtype=np.dtype(np.uint8 if arch.pixels else np.float32),
        num_actions=arch.num_actions,
        env_settings={name: settings[name] for name in names},
    )


class GameLoader:
    """Tracks which game files were already taken, by name; `limits` None: no size or settings
    limits (as for tools)."""

    def __init__(
        self,
        directory: Location,
        log: Callable[[str], None] = print,
        limits: GameLimits | None = None,
    ):
        self.directory = directory
        self.log = log
        self.limits = limits
        self.seen: set[str] = set()
        self.loaded = 0
        self.quarantined = 0

    def poll(self) -> list[LoadedGame]:
        """Load every unseen game, oldest first."""
        return [g for g in map(self._load, self._unseen()) if g is not None]

    def refill(self, transitions: int) -> list[LoadedGame]:
        """For a resume: the newest games holding up to `transitions` moves, returned oldest first.

        Every older game on disk is marked as seen, so it is never loaded later.
        """
        games: list[LoadedGame] = []
        total = 0
        for path in reversed(self._unseen()):
            if total >= transitions:
                self.seen.add(path.name)
            elif (game := self._load(path)) is not None:
                games.append(game)
                total += game.record.length
        return games[::-1]

    def _unseen(self) -> list[Location]:
        """Unseen game files, oldest first (names start with the time they were written)."""
        return sorted(p for p in self.directory.glob("*.npz") if p.name not in self.seen)

    def _load(self, path: Location) -> LoadedGame | None:
        self.seen.add(path.name)
        try:
            record = load_game(path, self.limits)
        except GameFileError as e:
            if lexists(path):  # else it was removed while we read it: nothing to do
                self.quarantine(path, str(e))
            return None
        self.loaded += 1
        return LoadedGame(path, record)

    def quarantine(self, path: Location, reason: str) -> None:
        """Move a bad file aside with its reason; one log line.

        A local rename moves links, FIFOs and folders as they are, opening nothing. One that
        cannot be moved (a folder of the same name already in quarantine, say) stays, seen and
        logged.
        """
        folder = self.directory / QUARANTINE
        folder.mkdir(exist_ok=True)
        try:
            move(path, folder / path.name)
        except FileNotFoundError:
            return
        except OSError as e:
            self.quarantined += 1
            self.log(f"[train] skipped {path.name}, left in place ({e.strerror or e}): {reason}")
            return
        (folder / f"{path.name}.reason.txt").write_text(reason + "\n")
        self.quarantined += 1
        self.log(f"[train] quarantined {path.name}: {reason}")
