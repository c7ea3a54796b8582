"""A run's progress read from its files: games played, env steps, x_pos, the trainer's last metrics.

Only each new game's small metadata record is read (not its frames; on a store, ranged GETs of
the blocks that hold it), so scanning stays cheap.
"""

import csv
import json
import time
import zipfile
from collections import deque
from collections.abc import Callable

import numpy as np

from muzero_lite.game_metadata import GameMetadata
from muzero_lite.paths import DataDirs
from muzero_lite.storage import Location, NotRegularFile, open_ranged


class RunMonitor:
    """`metrics`: where the trainer's newest metrics row comes from (by default its metrics.csv
    in the local folder; a Ray run asks the trainer's actor, on whichever node it runs)."""

    def __init__(
        self,
        dirs: DataDirs,
        recent: int = 20,
        metrics: Callable[[], dict[str, str]] | None = None,
    ):
        self.dirs = dirs
        self.metrics = metrics or self.trainer_metrics
        self.seen: set[str] = set()
        self.games = 0
        self.env_steps = 0
        self.recent: deque[GameMetadata] = deque(maxlen=recent)
        self.best: GameMetadata | None = None
        self._rate_mark = (time.monotonic(), 0)

    def scan(self) -> None:
        """Read the metadata of games written since the last scan, oldest first."""
        for path in sorted(self.dirs.games.glob("*.npz")):
            if path.name in self.seen:
                continue
            self.seen.add(path.name)
            meta = read_metadata(path)
            if meta is None:
                continue
            self.games += 1
            self.env_steps += int(meta.length or 0)
            self.recent.append(meta)
            if self.best is None or meta.score() > self.best.score():
                self.best = meta

    def trainer_metrics(self) -> dict[str, str]:
        """The trainer's newest metrics row ({} before its first report)."""
        path = self.dirs.runs / "train" / "metrics.csv"  # on the trainer's disk
        if not path.exists():
            return {}
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        return rows[-1] if rows else {}

    def status_line(self) -> str:
        """Games, env steps/s, return and x_pos of recent games, train step and losses."""
        self.scan()
        now = time.monotonic()
        then, steps = self._rate_mark
        rate = (self.env_steps - steps) / max(now - then, 1e-9)
        self._rate_mark = (now, self.env_steps)
        parts = [f"games {self.games}", f"env steps {self.env_steps} ({rate:.0f}/s)"]
        if self.recent:
            returns = [float(m.return_) for m in self.recent]
            parts.append(f"return mean {np.mean(returns):.1f} (last {len(returns)})")
            xs = [float(m.x_pos_max) for m in self.recent if m.x_pos_max is not None]
            if xs:
                parts.append(f"x_pos mean {np.mean(xs):.0f} best {self.best.x_pos_max or 0:.0f}")
            else:
                parts.append(f"best return {float(self.best.return_):.1f}")
        row = self.metrics()
        if row:
            parts.append(
                f"train step {row['step']} loss v {_f(row, 'losses/value')} "
                f"p {_f(row, 'losses/policy')} | {_f(row, 'charts/samples_per_s')} samples/s"
            )
        else:
            parts.append("trainer warming up")
        return " | ".join(parts)


def read_metadata(path: Location) -> GameMetadata | None:
    """A game file's metadata alone; None if it cannot be read (the trainer quarantines it) or
    lacks the return and length this view shows."""
    try:
        with open_ranged(path) as f, np.load(f, allow_pickle=False) as data:
            meta = GameMetadata.from_json(json.loads(str(data["metadata"])))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, NotRegularFile):
        return None
    return meta if meta.return_ is not None and meta.length is not None else None


def _f(row: dict[str, str], key: str) -> str:
    value = row.get(key, "")
    return f"{float(value):.3g}" if value else "-"
