"""One logging path: TensorBoard and a plain CSV, with grouped names (`losses/value`, ...)."""

import csv
import json
import math
import time
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter


class MetricsLogger:
    """Rows of named scalars at a step, to `folder/metrics.csv` and TensorBoard events."""

    def __init__(self, folder: Path, columns: list[str], settings: dict[str, Any]):
        folder.mkdir(parents=True, exist_ok=True)
        self.columns = ["step", "wall_time", *columns]
        self.csv_path = folder / "metrics.csv"
        if self.csv_path.exists() and _header(self.csv_path) != self.columns:
            self.csv_path.rename(folder / f"metrics-{time.strftime('%Y%m%d-%H%M%S')}.csv")
        if not self.csv_path.exists():
            with open(self.csv_path, "w", newline="") as f:
                csv.writer(f).writerow(self.columns)
        (folder / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
        self.writer = SummaryWriter(str(folder))
        self.writer.add_text("settings", "```\n" + json.dumps(settings, indent=2) + "\n```")

    def last(self, name: str) -> float | None:
        """The newest value of a column in the CSV (None when absent or empty)."""
        with open(self.csv_path, newline="") as f:
            values = [row[name] for row in csv.DictReader(f) if row.get(name)]
        return float(values[-1]) if values else None

    def log(self, step: int, values: dict[str, float]) -> None:
        row = {"step": step, "wall_time": round(time.time(), 3), **values}
        with open(self.csv_path, "a", newline="") as f:
            csv.writer(f).writerow([_cell(row.get(name)) for name in self.columns])
        for name, value in values.items():
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _header(path: Path) -> list[str]:
    with open(path, newline="") as f:
        return next(csv.reader(f), [])


def _cell(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)
