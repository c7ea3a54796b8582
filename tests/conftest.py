"""Shared test helpers: small game records, a fast trainer, and commands for the entry points and
the child programs in tests/children/."""

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto.server import ThreadedMotoServer

from muzero_lite.config import load_config
from muzero_lite.game_limits import env_settings
from muzero_lite.game_metadata import GameMetadata
from muzero_lite.games import GameRecord, save_game

REPO = Path(__file__).resolve().parent.parent
# Child programs the tests run as `python <path> <args>`; CHILD_ENV lets them import muzero_lite.
CHILDREN = Path(__file__).resolve().parent / "children"
CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO)}
# make_record's games record the env settings of configs/cartpole.toml: its trainers take them.
CARTPOLE_ENV = load_config(REPO / "configs" / "cartpole.toml").env
# A CartPole trainer small enough for unit tests: tiny networks, a batch of 8, no real warm-up.
SMALL_TRAINER = [
    "train.batch_size=8", "train.warmup_transitions=1", "network.hidden_size=8",
    "network.head_size=8", "network.support_size=5",
]  # fmt: skip
# `--set` overrides for a trainer process that trains on a few CartPole games within seconds:
# a metrics row every 5 steps, a checkpoint every 10 (a later `--set` of a key wins).
FAST_TRAINER = [
    "--set", "train.warmup_transitions=10", "--set", "train.replay_ratio=10",
    "--set", "train.batch_size=16", "--set", "train.checkpoint_every=10",
    "--set", "train.log_every=5", "--set", "train.poll_seconds=0.2",
]  # fmt: skip


def entry_command(
    script: str, data_dir: Path, *args: str, config: str = "configs/cartpole.toml"
) -> list[str]:
    """`python <script> --config <config> --data-dir <data_dir> <args>`, to run from REPO."""
    return [sys.executable, script, "--config", config, "--data-dir", str(data_dir), *args]


def train_metrics(data_dir: Path) -> list[dict[str, str]]:
    """The trainer's metrics rows (<data_dir>/runs/train/metrics.csv), oldest first."""
    with open(data_dir / "runs" / "train" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def make_record(length: int = 3, num_actions: int = 2, terminated: bool = True) -> GameRecord:
    """A small valid game of vector observations whose values are easy to check, recorded as
    a CartPole worker on configs/cartpole.toml records it."""
    return GameRecord(
        observations=np.arange((length + 1) * 4, dtype=np.float32).reshape(length + 1, 4),
        actions=np.arange(length, dtype=np.int64) % num_actions,
        rewards=np.arange(1, length + 1, dtype=np.float32),
        policies=np.full((length, num_actions), 1.0 / num_actions, dtype=np.float32),
        root_values=np.linspace(10, 10 * (length + 1), length + 1).astype(np.float32),
        terminated=terminated,
        truncated=not terminated,
        metadata=GameMetadata(
            env_id="CartPole-v1",
            return_=float(length * (length + 1) / 2),
            env_settings=env_settings(CARTPOLE_ENV),
        ),
    )


@pytest.fixture
def record() -> GameRecord:
    return make_record()


def resume_with_new_games(command: list[str], data_dir: Path, games: int = 2) -> tuple[int, str]:
    """Run a `train.py --resume` command; once it has refilled replay, add `games` new games.

    A resumed trainer trains only on games new to it (the refill buys no steps), so a test that
    resumes without workers hands it some. Returns (exit status, stdout and stderr).
    """
    log_path = data_dir / "resume.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "[train] resumed at step" not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "timed out waiting for the resume"
            time.sleep(0.05)
        for i in range(games):
            save_game(make_record(length=30), data_dir / "games", f"29990101-00000{i}-w99-new")
        process.wait(timeout=300)
    finally:
        process.kill()
        process.wait()
    return process.returncode, log_path.read_text()


# S3 on moto's server, for the tests of a data folder on object storage.
BUCKET = "muzero-lite-test"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def endpoint():
    """moto's S3 server on a free port, with a bucket, reached as MinIO or AWS would be: through
    AWS_ENDPOINT_URL and the credential variables (set for the module's tests, then restored)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    previous = {k: os.environ.get(k) for k in [*S3_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update({**S3_ENV, "AWS_ENDPOINT_URL": url})
    boto3.client("s3", endpoint_url=url).create_bucket(Bucket=BUCKET)
    yield url
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.stop()


def names(folder) -> list[str]:
    """The names directly in a folder (of a store, or a Path), sorted."""
    return sorted(p.name for p in folder.iterdir())
