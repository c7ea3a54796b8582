"""What a user watches: gifs/best/ keeps the best game per stage, progress.png is drawn."""

import csv
import json

import numpy as np

from muzero_lite.gifs import update_best, write_gif
from muzero_lite.plots import plot_progress


def gif(tmp_path, name):
    return write_gif([np.zeros((8, 8, 3), dtype=np.uint8)] * 2, tmp_path / name, fps=10)


def test_best_game_per_stage_by_x_pos_then_return(tmp_path):
    best = tmp_path / "best"
    first = {"env_id": "SuperMarioBros-1-1-v0", "stage": "1-1", "x_pos_max": 500, "return": 10.0}
    assert update_best(best, gif(tmp_path, "a.gif"), first)
    worse = {**first, "x_pos_max": 400, "return": 99.0}
    assert not update_best(best, gif(tmp_path, "b.gif"), worse)
    tie_better_return = {**first, "return": 11.0}
    assert update_best(best, gif(tmp_path, "c.gif"), tie_better_return)
    other_stage = {**first, "stage": "4-1", "env_id": "SuperMarioBros-4-1-v0", "x_pos_max": 1}
    assert update_best(best, gif(tmp_path, "d.gif"), other_stage)
    assert json.loads((best / "1-1.json").read_text())["gif"] == "c.gif"
    assert sorted(p.name for p in best.iterdir()) == [
        ".lock",
        "1-1.gif",
        "1-1.json",
        "4-1.gif",
        "4-1.json",
    ]


def test_environments_without_stages_keep_one_best_by_return(tmp_path):
    best = tmp_path / "best"
    assert update_best(best, gif(tmp_path, "a.gif"), {"env_id": "CartPole-v1", "return": 20.0})
    assert not update_best(best, gif(tmp_path, "b.gif"), {"env_id": "CartPole-v1", "return": 9.0})
    assert (best / "CartPole-v1.gif").exists()


def test_progress_plot_from_the_metrics_csv(tmp_path):
    path = tmp_path / "metrics.csv"
    columns = [
        "step",
        "wall_time",
        "charts/episodic_return",
        "charts/x_pos_max",
        "charts/env_steps",
    ]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerow([10, 1000.0, "", "", ""])  # no new games at that report
        for i in range(1, 5):
            writer.writerow([10 + 10 * i, 1000.0 + 60 * i, 5.0 * i, 100 * i, 500 * i])
    out = tmp_path / "progress.png"
    assert plot_progress(path, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_plot_before_the_first_games(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,wall_time,charts/episodic_return\n10,1000.0,\n")
    assert not plot_progress(path, tmp_path / "progress.png")
    assert not (tmp_path / "progress.png").exists()
