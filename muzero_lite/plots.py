"""progress.png: return (and Mario's x_pos) of the games the trainer loaded, against environment
steps and wall time, drawn from the trainer's `metrics.csv` (and `stages.csv` beside it).

Each report's mean is a faint point, with a running mean over the last rows drawn on top; with
several Mario stages, the x_pos panels draw one curve per stage instead of their mixture.
"""

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIN_WINDOW = 5
"""The running mean spans this many rows, or a twentieth of the series when that is more."""


@dataclass(frozen=True)
class Series:
    """One quantity at each report, against environment steps and wall time."""

    label: str
    env_steps: list[float]  # [N]
    wall_time: list[float]  # [N] in `Progress.time_unit` since the first row of metrics.csv
    values: list[float]  # [N] NaN where a report had no value
    running_mean: list[float]  # [N] see `running_mean`


@dataclass(frozen=True)
class Panel:
    """A row of the figure: its series against env steps (left) and wall time (right)."""

    ylabel: str
    series: list[Series]


@dataclass(frozen=True)
class Progress:
    """What progress.png shows."""

    step: str  # the newest report's train step
    time_unit: str  # "minutes", or "hours" for runs over two hours
    panels: list[Panel]


def running_mean(values: list[float], window: int) -> list[float]:
    """m_i = mean of the non-NaN values among values[i - window + 1 .. i] (NaN if none), from
    prefix sums so that a long run's thousands of rows cost little."""
    v = np.asarray(values, dtype=np.float64)  # [N]
    known = ~np.isnan(v)
    sums = np.concatenate([[0.0], np.cumsum(np.where(known, v, 0.0))])  # [N + 1] prefix sums
    counts = np.concatenate([[0], np.cumsum(known)])
    end = np.arange(1, len(v) + 1)
    begin = np.maximum(0, end - window)
    n = counts[end] - counts[begin]
    return np.where(n > 0, (sums[end] - sums[begin]) / np.maximum(n, 1), np.nan).tolist()


def progress_data(metrics_csv: Path) -> Progress | None:
    """The panels to draw from the metrics (and stages) CSV; None before any games."""
    every_row = _read(metrics_csv)
    rows = [r for r in every_row if r.get("charts/episodic_return")]
    if not rows:
        return None
    start = _float(every_row[0].get("wall_time"))
    span = _float(every_row[-1].get("wall_time")) - start
    time_unit, seconds = ("hours", 3600.0) if span > 2 * 3600 else ("minutes", 60.0)

    def series(label: str, picked: list[dict[str, str]], column: str) -> Series:
        values = [_float(r.get(column)) for r in picked]
        return Series(
            label=label,
            env_steps=[_float(r.get("charts/env_steps")) for r in picked],
            wall_time=[(_float(r.get("wall_time")) - start) / seconds for r in picked],
            values=values,
            running_mean=running_mean(values, max(MIN_WINDOW, len(values) // 20)),
        )

    panels = [
        Panel("mean return of new games", [series("all games", rows, "charts/episodic_return")])
    ]
    stage_rows: dict[str, list[dict[str, str]]] = {}
    for r in _read(metrics_csv.with_name("stages.csv")):
        if r.get("stage") and r.get("charts/x_pos_max"):
            stage_rows.setdefault(r["stage"], []).append(r)
    if len(stage_rows) > 1:
        curves = [series(s, stage_rows[s], "charts/x_pos_max") for s in sorted(stage_rows)]
        panels.append(Panel("mean x_pos of new games, per stage", curves))
    elif any(r.get("charts/x_pos_max") for r in rows):
        panels.append(
            Panel("mean x_pos of new games", [series("all games", rows, "charts/x_pos_max")])
        )
    return Progress(step=every_row[-1].get("step") or "?", time_unit=time_unit, panels=panels)


def plot_progress(metrics_csv: Path, out: Path) -> bool:
    """Draw the plot (atomically replacing `out`); False when there is nothing to draw yet."""
    progress = progress_data(metrics_csv)
    if progress is None:
        return False
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    panels = progress.panels
    fig, axes = plt.subplots(len(panels), 2, figsize=(10, 3.2 * len(panels)), squeeze=False)
    for row_axes, panel in zip(axes, panels, strict=True):
        for ax, x_name, xlabel in (
            (row_axes[0], "env_steps", "environment steps"),
            (row_axes[1], "wall_time", f"wall time ({progress.time_unit})"),
        ):
            for i, s in enumerate(panel.series):
                xs = getattr(s, x_name)
                ax.plot(xs, s.values, ".", color=f"C{i}", markersize=3, alpha=0.3)
                ax.plot(xs, s.running_mean, "-", color=f"C{i}", linewidth=1.5, label=s.label)
            if len(panel.series) > 1:
                ax.legend(fontsize="small", title="stage", title_fontsize="small")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(panel.ylabel)
            ax.grid(alpha=0.3)
    fig.suptitle(f"MuZero-Lite progress (train step {progress.step}; lines: running means)")
    fig.tight_layout()
    temp = out.with_name(f".tmp-{out.name}")
    fig.savefig(temp, dpi=80, format="png")
    plt.close(fig)
    os.replace(temp, out)
    return True


def _read(path: Path) -> list[dict[str, str]]:
    """A CSV's rows as dicts; [] when the file is absent."""
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def _float(cell: str | None) -> float:
    """A cell as a number; NaN when empty, missing or unreadable (a tolerant reader)."""
    try:
        return float(cell) if cell else math.nan
    except ValueError:
        return math.nan
