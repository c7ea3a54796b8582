"""End-to-end: self-play writes games, the trainer checkpoints, resumes, and workers pick it up."""

import subprocess

import pytest
import torch
from conftest import FAST_TRAINER, REPO, entry_command, resume_with_new_games, train_metrics

from muzero_lite.games import load_game

pytestmark = pytest.mark.e2e


def run(script, data_dir, *args):
    command = entry_command(script, data_dir, *args)
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_selfplay_train_resume_and_pick_up(tmp_path):
    run("selfplay.py", tmp_path, "--games", "3")
    run("train.py", tmp_path, "--steps", "20", *FAST_TRAINER)
    assert [int(r["step"]) for r in train_metrics(tmp_path)] == [5, 10, 15, 20]
    checkpoints = sorted(p.name for p in (tmp_path / "checkpoints").glob("*.pt"))
    assert checkpoints == ["step-00000010.pt", "step-00000020.pt"]
    state = torch.load(tmp_path / "checkpoints" / "step-00000020.pt", weights_only=True)
    assert (
        state["step"] == 20
        and "optimizer" in state
        and state["config"]["env"]["id"] == "CartPole-v1"
    )

    played = sum(load_game(p).length for p in (tmp_path / "games").glob("*.npz"))
    status, out = resume_with_new_games(
        entry_command("train.py", tmp_path, "--steps", "40", "--resume", *FAST_TRAINER), tmp_path
    )
    assert status == 0, out
    rows = train_metrics(tmp_path)[4:]  # the resumed run's: it went on from 20, not from 0
    assert [int(r["step"]) for r in rows] == [25, 30, 35, 40]
    for r in rows:  # replay: the 3 games refilled (`played` moves), then 1 or 2 new ones of 30
        new = int(r["replay/games"]) - 3
        assert new in (1, 2) and int(r["replay/size"]) == played + 30 * new, r
    resumed = torch.load(tmp_path / "checkpoints" / "step-00000040.pt", weights_only=True)
    assert resumed["step"] == 40
    assert resumed["optimizer"]["state"][0]["step"].item() == 40  # Adam's counter went on too

    run("selfplay.py", tmp_path, "--games", "1", "--worker-id", "1")
    newest = max((tmp_path / "games").glob("*-w01-*.npz"))
    assert load_game(newest).metadata.checkpoint_step == 40

    rows = train_metrics(tmp_path)
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert {"losses/value", "losses/policy", "losses/exploration", "replay/size"} <= rows[0].keys()
    assert float(rows[0]["replay/games_loaded"]) == 3


def test_training_again_without_resume_is_refused(tmp_path):
    run("selfplay.py", tmp_path, "--games", "1")
    run("train.py", tmp_path, "--steps", "10", *FAST_TRAINER)
    result = subprocess.run(
        entry_command("train.py", tmp_path, "--steps", "20"),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'checkpoints'} already holds checkpoints up to step 10: "
        "pass --resume to continue from them, or use another --data-dir"
    ]
