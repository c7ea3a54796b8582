"""The trainer's side of games/: find new game files, load each exactly once, quarantine bad ones.

Only complete files are visible (writers link finished files into place under `*.npz`), so the
loader never sees half a game. A file that fails to load or validate is moved to
`games/quarantine/` beside a `.reason.txt` saying why, and loading goes on. Files that vanish
between listing and loading (retention, another trainer) are skipped.
"""

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from muzero_lite.games import GameFileError, GameRecord, load_game

QUARANTINE = "quarantine"


@dataclass(frozen=True)
class LoadedGame:
    path: Path
    record: GameRecord


class GameLoader:
    """Tracks which game files were already taken, by name."""

    def __init__(self, directory: Path, log: Callable[[str], None] = print):
        self.directory = directory
        self.log = log
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

    def _unseen(self) -> list[Path]:
        """Unseen game files, oldest first (names start with the time they were written)."""
        return sorted(p for p in self.directory.glob("*.npz") if p.name not in self.seen)

    def _load(self, path: Path) -> LoadedGame | None:
        self.seen.add(path.name)
        try:
            record = load_game(path)
        except GameFileError as e:
            if path.exists():  # else it was removed while we read it: nothing to do
                self.quarantine(path, str(e))
            return None
        self.loaded += 1
        return LoadedGame(path, record)

    def quarantine(self, path: Path, reason: str) -> None:
        """Move a bad file aside with its reason; one log line."""
        folder = self.directory / QUARANTINE
        folder.mkdir(exist_ok=True)
        try:
            shutil.move(path, folder / path.name)
        except FileNotFoundError:
            return
        (folder / f"{path.name}.reason.txt").write_text(reason + "\n")
        self.quarantined += 1
        self.log(f"[train] quarantined {path.name}: {reason}")
