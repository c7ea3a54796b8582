"""progress.png: return (and Mario's x_pos) of the games the trainer loaded, against environment
steps and wall time, drawn from the trainer's metrics CSV."""

import csv
import os
from pathlib import Path


def plot_progress(metrics_csv: Path, out: Path) -> bool:
    """Draw the plot (atomically replacing `out`); False when there is nothing to draw yet."""
    with open(metrics_csv, newline="") as f:
        every_row = list(csv.DictReader(f))
    rows = [r for r in every_row if r.get("charts/episodic_return")]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figures = [("charts/episodic_return", "mean return of new games")]
    if any(r.get("charts/x_pos_max") for r in rows):
        figures.append(("charts/x_pos_max", "mean x_pos of new games"))
    start = float(every_row[0]["wall_time"])
    span = float(every_row[-1]["wall_time"]) - start
    unit, seconds = ("hours", 3600) if span > 2 * 3600 else ("minutes", 60)
    axes_x = [
        ([float(r["charts/env_steps"] or "nan") for r in rows], "environment steps"),
        ([(float(r["wall_time"]) - start) / seconds for r in rows], f"wall time ({unit})"),
    ]
    fig, axes = plt.subplots(len(figures), 2, figsize=(10, 3.2 * len(figures)), squeeze=False)
    for row_axes, (column, label) in zip(axes, figures, strict=True):
        ys = [float(r[column]) if r.get(column) else float("nan") for r in rows]
        for ax, (xs, xlabel) in zip(row_axes, axes_x, strict=True):
            ax.plot(xs, ys, ".", markersize=3, alpha=0.6)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    fig.suptitle(f"MuZero-Lite progress (train step {every_row[-1]['step']})")
    fig.tight_layout()
    temp = out.with_name(f".tmp-{out.name}")
    fig.savefig(temp, dpi=80, format="png")
    plt.close(fig)
    os.replace(temp, out)
    return True
