"""End-to-end: the launcher starts a trainer and a worker, and stops them with nothing left over;
evaluate.py judges a checkpoint and writes its JSON summary."""

import json
import os
import signal
import subprocess
import time

import pytest
from conftest import REPO, entry_command

from muzero_lite.checkpoints import build_model, save_checkpoint
from muzero_lite.config import load_config
from muzero_lite.envs import Environment

pytestmark = pytest.mark.e2e
FAST = ["--set", "train.warmup_transitions=50", "--set", "launch.status_seconds=2"]


def processes_using(path) -> list[int]:
    """Pids whose command line mentions `path` (the data dir is unique to a test)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if str(path).encode() in f.read():
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def launch(data_dir, *args):
    return entry_command("launch.py", data_dir, "--workers", "1", *FAST, *args)


def test_launcher_runs_and_stops_cleanly(tmp_path):
    result = subprocess.run(
        launch(tmp_path, "--minutes", "0.25"), cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr  # 0: every child's status was 0
    assert processes_using(tmp_path) == []
    logs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert logs == ["train.log", "worker-0.log"]  # it started a trainer and one worker
    assert list((tmp_path / "games").glob("*.npz"))
    assert list((tmp_path / "checkpoints").glob("step-*.pt"))  # the trainer's final checkpoint


def test_ctrl_c_stops_every_process(tmp_path):
    launcher = subprocess.Popen(launch(tmp_path), cwd=REPO, stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not list((tmp_path / "games").glob("*.npz")) and time.time() < deadline:
        time.sleep(0.2)
    launcher.send_signal(signal.SIGINT)
    out, _ = launcher.communicate(timeout=90)
    assert launcher.returncode == 0, out  # 0: every child's exit status was 0 as well
    assert processes_using(tmp_path) == []


def test_evaluate_writes_a_summary_per_stage(tmp_path):
    overrides = ["env.stages=1-1,4-1", "env.max_episode_steps=15"]
    config = load_config(REPO / "configs" / "mario.toml", overrides)
    save_checkpoint(tmp_path / "checkpoints", 9, build_model(config, Environment(config.env)))
    summary = tmp_path / "summary.json"
    command = entry_command("evaluate.py", tmp_path, config="configs/mario.toml")
    for item in overrides:
        command += ["--set", item]
    command += ["--episodes", "2", "--gifs", "--json", str(summary)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(summary.read_text())
    assert report["checkpoint_step"] == 9
    assert [e["stage"] for e in report["episodes"]] == ["1-1", "4-1"]
    assert set(report["summary"]) == {"1-1", "4-1", "all"}
    assert report["summary"]["all"]["episodes"] == 2
    assert {"mean", "std", "min", "max"} <= report["summary"]["1-1"]["x_pos_max"].keys()
    assert len(list((tmp_path / "gifs" / "eval").glob("*.gif"))) == 2


def test_evaluate_without_a_checkpoint_is_one_clear_error(tmp_path):
    result = subprocess.run(
        entry_command("evaluate.py", tmp_path),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    folder = tmp_path / "checkpoints"
    expected = f"error: no checkpoint in {folder}: train first, or pass --checkpoint PATH"
    assert result.stderr.strip().splitlines() == [expected]


def test_sigint_stops_a_process_that_inherited_it_ignored(tmp_path):
    # A non-interactive shell starts background jobs with SIGINT ignored; Ctrl-C must still work.
    no_pace = ["--set", "selfplay.max_env_steps_per_train_step=0"]
    command = entry_command("selfplay.py", tmp_path, *no_pace)

    def ignore_sigint():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    worker = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, text=True, preexec_fn=ignore_sigint
    )
    deadline = time.time() + 60
    while not list((tmp_path / "games").glob("*.npz")) and time.time() < deadline:
        time.sleep(0.1)
    worker.send_signal(signal.SIGINT)
    worker.communicate(timeout=30)
    assert worker.returncode == 0  # a clean stop: without --games a worker runs until stopped
