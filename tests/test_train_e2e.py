"""End-to-end: self-play writes games, the trainer checkpoints, resumes, and workers pick it up."""

import csv
import subprocess
import sys

import pytest
import torch
from conftest import REPO, resume_with_new_games

from muzero_lite.games import load_game

pytestmark = pytest.mark.e2e
FAST = [
    "--set", "train.warmup_transitions=10", "--set", "train.replay_ratio=10",
    "--set", "train.batch_size=16", "--set", "train.checkpoint_every=10",
    "--set", "train.log_every=5", "--set", "train.poll_seconds=0.2",
]  # fmt: skip


def run(script, data_dir, *args):
    command = [
        sys.executable,
        script,
        "--config",
        "configs/cartpole.toml",
        "--data-dir",
        str(data_dir),
    ]
    result = subprocess.run(
        [*command, *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_selfplay_train_resume_and_pick_up(tmp_path):
    run("selfplay.py", tmp_path, "--games", "3")
    out = run("train.py", tmp_path, "--steps", "20", *FAST).stdout
    assert "[train] step 20 |" in out
    checkpoints = sorted(p.name for p in (tmp_path / "checkpoints").glob("*.pt"))
    assert checkpoints == ["step-00000010.pt", "step-00000020.pt"]
    state = torch.load(tmp_path / "checkpoints" / "step-00000020.pt", weights_only=True)
    assert (
        state["step"] == 20
        and "optimizer" in state
        and state["config"]["env"]["id"] == "CartPole-v1"
    )

    status, out = resume_with_new_games(
        [sys.executable, "train.py", "--config", "configs/cartpole.toml", "--data-dir",
         str(tmp_path), "--steps", "40", "--resume", *FAST],
        tmp_path,
    )  # fmt: skip
    assert status == 0, out
    assert "resumed at step 20" in out and "replay refilled with the 3 newest games" in out
    assert "[train] step 25 |" in out and "[train] step 40 |" in out and "step 5 |" not in out
    resumed = torch.load(tmp_path / "checkpoints" / "step-00000040.pt", weights_only=True)
    assert resumed["step"] == 40
    assert resumed["optimizer"]["state"][0]["step"].item() == 40  # Adam's counter went on too

    run("selfplay.py", tmp_path, "--games", "1", "--worker-id", "1")
    newest = max((tmp_path / "games").glob("*-w01-*.npz"))
    assert load_game(newest).metadata["checkpoint_step"] == 40

    with open(tmp_path / "runs" / "train" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert {"losses/value", "losses/policy", "losses/exploration", "replay/size"} <= rows[0].keys()
    assert float(rows[0]["replay/games_loaded"]) == 3


def test_training_again_without_resume_is_refused(tmp_path):
    run("selfplay.py", tmp_path, "--games", "1")
    run("train.py", tmp_path, "--steps", "10", *FAST)
    command = [sys.executable, "train.py", "--config", "configs/cartpole.toml"]
    result = subprocess.run(
        [*command, "--data-dir", str(tmp_path), "--steps", "20"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'checkpoints'} already holds checkpoints up to step 10: "
        "pass --resume to continue from them, or use another --data-dir"
    ]
