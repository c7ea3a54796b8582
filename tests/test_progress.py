"""What a user watches: gifs/best/ keeps the best game per stage, progress.png is drawn."""

import csv
import json
import math
from dataclasses import replace

import numpy as np

from muzero_lite.game_metadata import GameMetadata
from muzero_lite.gifs import update_best, write_gif
from muzero_lite.metrics import MetricsLogger, StageMean, stage_means
from muzero_lite.plots import plot_progress, progress_data, running_mean

T0 = 1796200000.123  # a wall time in 2026, to the millisecond
COLUMNS = ["charts/episodic_return", "charts/x_pos_max", "charts/env_steps"]


def gif(tmp_path, name):
    return write_gif([np.zeros((8, 8, 3), dtype=np.uint8)] * 2, tmp_path / name, fps=10)


def test_best_game_per_stage_by_x_pos_then_return(tmp_path):
    best = tmp_path / "best"
    first = GameMetadata(env_id="SuperMarioBros-1-1-v0", stage="1-1", x_pos_max=500, return_=10.0)
    assert update_best(best, gif(tmp_path, "a.gif"), first)
    worse = replace(first, x_pos_max=400, return_=99.0)
    assert not update_best(best, gif(tmp_path, "b.gif"), worse)
    tie_better_return = replace(first, return_=11.0)
    assert update_best(best, gif(tmp_path, "c.gif"), tie_better_return)
    other_stage = replace(first, stage="4-1", env_id="SuperMarioBros-4-1-v0", x_pos_max=1)
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
    cartpole = GameMetadata(env_id="CartPole-v1", return_=20.0)
    assert update_best(best, gif(tmp_path, "a.gif"), cartpole)
    assert not update_best(best, gif(tmp_path, "b.gif"), replace(cartpole, return_=9.0))
    assert (best / "CartPole-v1.gif").exists()


def test_a_namespaced_env_id_gets_a_best_gif_with_a_safe_name(tmp_path):
    best = tmp_path / "games" / "best"
    pong = GameMetadata(env_id="ALE/Pong-v5", return_=-20.0)
    assert update_best(best, gif(tmp_path, "a.gif"), pong)
    assert json.loads((best / "ALE_Pong-v5.json").read_text())["env_id"] == "ALE/Pong-v5"
    escaping = GameMetadata(env_id="../..", return_=1.0)  # as a name as it is: games/best/../...gif
    assert update_best(best, gif(tmp_path, "b.gif"), escaping)
    assert sorted(p.name for p in best.iterdir()) == [
        ".lock",
        "ALE_Pong-v5.gif",
        "ALE_Pong-v5.json",
        "_.._...gif",
        "_.._...json",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "b.gif", "games"]


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


def logged(tmp_path, times, rows, stages=None):
    """Rows logged through MetricsLogger at the given wall times; stages: per row, games."""
    clock = iter(t for t in times for _ in range(2 if stages else 1))
    logger = MetricsLogger(tmp_path, COLUMNS, {}, clock=lambda: next(clock))
    for i, values in enumerate(rows):
        logger.log(10 * (i + 1), values)
        if stages:
            logger.log_stages(10 * (i + 1), values["charts/env_steps"], stage_means(stages[i]))
    logger.close()
    return tmp_path / "metrics.csv"


def test_wall_time_to_the_millisecond_and_counters_exactly_in_the_csv(tmp_path):
    values = {"charts/episodic_return": 0.1234567890123, "charts/env_steps": 12345678}
    values["charts/x_pos_max"] = 2345678.0  # a large float: not 2.34568e+06
    path = logged(tmp_path, [T0], [values])
    with open(path, newline="") as f:
        (row,) = csv.DictReader(f)
    assert row == {
        "step": "10",
        "wall_time": "1796200000.123",
        "charts/episodic_return": "0.123456789",
        "charts/x_pos_max": "2345678",
        "charts/env_steps": "12345678",
    }


def test_the_wall_time_axis_spans_the_run(tmp_path):
    rows = [{"charts/episodic_return": r, "charts/env_steps": 500 * r} for r in (1, 2, 3)]
    path = logged(tmp_path, [T0, T0 + 300, T0 + 900], rows)
    progress = progress_data(path)
    assert progress.time_unit == "minutes"
    [returns] = progress.panels  # CartPole: no x_pos
    [series] = returns.series
    assert series.wall_time == [0.0, 5.0, 15.0]
    assert series.env_steps == [500.0, 1000.0, 1500.0]
    assert series.values == [1.0, 2.0, 3.0]
    assert series.running_mean == [1.0, 1.5, 2.0]  # fewer rows than the window: all so far
    assert plot_progress(path, tmp_path / "progress.png")


def test_running_mean_over_the_last_rows_skips_missing_values():
    nan = math.nan
    assert running_mean([1.0, 3.0, nan, 8.0, 2.0], window=2) == [1.0, 2.0, 3.0, 8.0, 5.0]
    assert math.isnan(running_mean([nan], window=3)[0])


def test_stage_means_average_x_pos_per_stage():
    games = [
        GameMetadata(stage="4-1", x_pos_max=50, return_=1.0),
        GameMetadata(stage="1-1", x_pos_max=100, return_=2.0),
        GameMetadata(stage="1-1", x_pos_max=300, return_=3.0),
        GameMetadata(env_id="CartPole-v1", return_=9.0),
    ]
    assert stage_means(games) == [StageMean("1-1", 200.0, 2), StageMean("4-1", 50.0, 1)]
    assert stage_means(games[3:]) == []


def test_two_mario_stages_get_one_x_pos_curve_each(tmp_path):
    rows = [
        {"charts/episodic_return": 10.0, "charts/x_pos_max": 200.0, "charts/env_steps": 1000},
        {"charts/episodic_return": 20.0, "charts/x_pos_max": 400.0, "charts/env_steps": 3000},
    ]
    stages = [
        [GameMetadata(stage="1-1", x_pos_max=300), GameMetadata(stage="4-1", x_pos_max=100)],
        [GameMetadata(stage="1-1", x_pos_max=400)],
    ]
    path = logged(tmp_path, [T0, T0 + 600], rows, stages)
    returns, x_pos = progress_data(path).panels
    assert [s.label for s in returns.series] == ["all games"]
    assert [s.label for s in x_pos.series] == ["1-1", "4-1"]
    first, fourth = x_pos.series
    assert (first.env_steps, first.wall_time, first.values) == ([1000, 3000], [0, 10], [300, 400])
    assert (fourth.env_steps, fourth.wall_time, fourth.values) == ([1000], [0], [100])
    with open(tmp_path / "stages.csv", newline="") as f:
        assert list(csv.reader(f))[1] == ["10", "1796200000.123", "1000", "1-1", "300", "1"]
    assert plot_progress(path, tmp_path / "progress.png")


def test_a_resume_after_a_new_column_goes_on_counting_from_the_csv_set_aside(tmp_path):
    old = tmp_path / "metrics.csv"
    old.write_text("step,wall_time,charts/env_steps\n10,1796200000.000,1234\n")
    logger = MetricsLogger(tmp_path, ["charts/env_steps", "charts/skipped_steps"], {})
    assert logger.set_aside is not None and logger.set_aside.exists()  # the old file, renamed
    assert logger.last("charts/env_steps") == 1234
    logger.log(20, {"charts/env_steps": 1300, "charts/skipped_steps": 0})
    assert logger.last("charts/env_steps") == 1300
    logger.close()
