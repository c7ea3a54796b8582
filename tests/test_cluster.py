"""End-to-end: `launch.py --ray local` places a trainer and two workers as Ray actors on an s3://
data folder (moto's S3 server in this process), restarts a worker whose process is killed, loses
no game, and stops everything on Ctrl-C."""

import os
import re
import signal
import subprocess
import time

import pytest
from conftest import BUCKET, CHILD_ENV, REPO, S3_ENV, entry_command, names

from muzero_lite.checkpoints import architecture_for
from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from muzero_lite.loader import GameLoader, run_limits
from muzero_lite.storage import location

CONFIG = load_config(REPO / "configs" / "cartpole.toml")
ARCH = architecture_for(CONFIG, Environment(CONFIG.env))

pytestmark = pytest.mark.e2e
FAST = ["--set", "train.warmup_transitions=50", "--set", "launch.status_seconds=2"]


def pids_of(*words: str) -> list[int]:
    """Pids whose command line holds every one of `words`."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    line = f.read()
            except OSError:
                continue
            if all(w.encode() in line for w in words):
                pids.append(int(entry))
    return pids


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_a_ray_run_on_s3_restarts_a_killed_worker_and_stops_on_ctrl_c(endpoint, tmp_path):
    url = f"s3://{BUCKET}/ray-run"
    root = location(url)
    env = {**CHILD_ENV, **S3_ENV, "AWS_ENDPOINT_URL": endpoint, "RAY_AUTH_MODE": "disabled"}
    command = entry_command("launch.py", url, "--local-dir", str(tmp_path), "--workers", "2",
                            "--ray", "local", *FAST)  # fmt: skip
    launcher = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        games = lambda: [n for n in names(root / "games") if n.endswith(".npz")]  # noqa: E731
        wait_for(lambda: len(games()) >= 2, 180, "the first games on the store")
        first = pids_of("selfplay.py", "--worker-id\x000\x00", url)
        assert len(first) == 1 and len(pids_of("train.py", url)) == 1
        os.kill(first[0], signal.SIGKILL)  # as the OOM killer would
        again = lambda: pids_of("selfplay.py", "--worker-id\x000\x00", url) not in ([], first)  # noqa: E731
        wait_for(again, 120, "worker 0 started again")
        before = len(games())
        wait_for(lambda: len(games()) > before, 120, "a game of the restarted worker")
        wait_for(lambda: names(root / "checkpoints"), 120, "a checkpoint")
        launcher.send_signal(signal.SIGINT)
        out, _ = launcher.communicate(timeout=120)
    finally:
        launcher.kill()
    assert launcher.returncode == 0, out  # every process stopped with status 0
    assert pids_of(url) == []  # nothing left running
    assert (tmp_path / "runs" / "train" / "metrics.csv").exists()  # on the trainer's node
    # No game lost: each game a worker's log says it wrote is on the store, and loads. A kill
    # between a game's write and its log line would leave one game more than the lines.
    logged = sum(
        len(re.findall(r"^\[worker \d\] game \d+ \|", log.read_text(), re.MULTILINE))
        for log in (tmp_path / "logs").glob("worker-*.log")
    )
    lines = []
    limits = run_limits(CONFIG.env, ARCH)  # the trainer's: a game it would refuse fails here
    loaded = GameLoader(root / "games", log=lines.append, limits=limits).poll()
    assert lines == [] and logged <= len(loaded) <= logged + 1, (logged, len(loaded))
