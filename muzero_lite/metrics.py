"""One logging path: TensorBoard and plain CSVs, with grouped names (`losses/value`, ...).

`metrics.csv` has a fixed column list (one row per report); `stages.csv` has one row per Mario
stage played since the last report, since which stages appear is known only from the games.
"""

import csv
import json
import math
import numbers
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter

from muzero_lite.game_metadata import GameMetadata

STAGE_COLUMNS = ["step", "wall_time", "charts/env_steps", "stage", "charts/x_pos_max", "games"]


@dataclass(frozen=True)
class StageMean:
    """The new games of one Mario stage since the last report."""

    stage: str
    x_pos_max: float
    """Mean over those games of each game's furthest x position."""
    games: int


def stage_means(games: Iterable[GameMetadata]) -> list[StageMean]:
    """Per stage (sorted by name), the mean x_pos_max of games' metadata; [] without stages."""
    by_stage: dict[str, list[float]] = {}
    for meta in games:
        if meta.stage is not None and meta.x_pos_max is not None:
            by_stage.setdefault(meta.stage, []).append(float(meta.x_pos_max))
    return [StageMean(s, sum(xs) / len(xs), len(xs)) for s, xs in sorted(by_stage.items())]


class MetricsLogger:
    """Rows of named scalars at a step, to `folder/metrics.csv` (and `stages.csv`) and TensorBoard.

    A CSV whose header differs from the columns (an older version's) is set aside, renamed with
    the time, and a new one started; `clock` gives the wall time of each row (seconds).
    """

    def __init__(
        self,
        folder: Path,
        columns: list[str],
        settings: dict[str, Any],
        clock: Callable[[], float] = time.time,
    ):
        folder.mkdir(parents=True, exist_ok=True)
        self.columns = ["step", "wall_time", *columns]
        self.csv_path = folder / "metrics.csv"
        self.stages_path = folder / "stages.csv"
        self.clock = clock
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.set_aside = _set_aside_if_stale(self.csv_path, self.columns, stamp)
        _set_aside_if_stale(self.stages_path, STAGE_COLUMNS, stamp, always=bool(self.set_aside))
        if not self.csv_path.exists():
            _append(self.csv_path, self.columns)
        (folder / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
        self.writer = SummaryWriter(str(folder))
        self.writer.add_text("settings", "```\n" + json.dumps(settings, indent=2) + "\n```")

    def last(self, name: str) -> float | None:
        """The newest value of a column in the CSV, or in the one set aside for an older header
        (a resume after an upgrade goes on counting); None when absent or empty."""
        for path in (self.csv_path, self.set_aside):
            if path is None:
                continue
            with open(path, newline="") as f:
                values = [row[name] for row in csv.DictReader(f) if row.get(name)]
            if values:
                return float(values[-1])
        return None

    def log(self, step: int, values: dict[str, float]) -> None:
        """One CSV row (names outside the columns go to TensorBoard only)."""
        cells = {"step": str(step), "wall_time": _wall_time(self.clock())}
        cells |= {name: _cell(value) for name, value in values.items()}
        _append(self.csv_path, [cells.get(name, "") for name in self.columns])
        for name, value in values.items():
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def log_stages(self, step: int, env_steps: int, stages: list[StageMean]) -> None:
        """One `stages.csv` row per stage (the file starts with the first), and TensorBoard's
        `charts/x_pos_max/<stage>`."""
        if not stages:
            return
        if not self.stages_path.exists():
            _append(self.stages_path, STAGE_COLUMNS)
        now = _wall_time(self.clock())
        for s in stages:
            _append(
                self.stages_path,
                [str(step), now, _cell(env_steps), s.stage, _cell(s.x_pos_max), str(s.games)],
            )
            self.writer.add_scalar(f"charts/x_pos_max/{s.stage}", s.x_pos_max, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _set_aside_if_stale(
    path: Path, columns: list[str], stamp: str, always: bool = False
) -> Path | None:
    """Rename `path` to `<stem>-<stamp>.csv` if its header is not `columns`: the new name, or
    None when it was kept."""
    if not path.exists() or (not always and _header(path) == columns):
        return None
    return path.rename(path.with_name(f"{path.stem}-{stamp}.csv"))


def _header(path: Path) -> list[str]:
    with open(path, newline="") as f:
        return next(csv.reader(f), [])


def _append(path: Path, cells: list[str]) -> None:
    with open(path, "a", newline="") as f:
        csv.writer(f).writerow(cells)


def _wall_time(seconds: float) -> str:
    """Seconds since the epoch to the millisecond: `1796200000.123` (plots need the differences)."""
    return f"{seconds:.3f}"


def _cell(value: float | int | None) -> str:
    """Integers exactly; other numbers to 10 significant digits, so counters below 10^10 stay
    exact (`1234567`, not `1.23457e+06`); None, NaN and infinities blank."""
    if value is None:
        return ""
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    return f"{value:.10g}" if math.isfinite(value) else ""
