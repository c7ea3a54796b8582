"""Faults: writers and trainers killed with SIGKILL at random moments lose nothing finished and
leave nothing half-written where a reader looks; two writers never replace each other's files."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
import torch
from conftest import (
    CHILD_ENV,
    CHILDREN,
    FAST_TRAINER,
    REPO,
    entry_command,
    make_record,
    resume_with_new_games,
    train_metrics,
)

from muzero_lite.checkpoints import (
    architecture_for,
    list_checkpoints,
    load_latest,
    read_checkpoint,
    read_latest,
)
from muzero_lite.config import load_config
from muzero_lite.envs import Environment
from muzero_lite.games import TEMP_PREFIX, load_game, remove_stale_temps, save_game
from muzero_lite.loader import GameLoader
from networks import MuZeroNet

pytestmark = pytest.mark.e2e

# Saves small games as fast as it can, saying "start <id>" before each write and "done <id>" after.
# About 1 ms per game, so a random kill mostly lands inside a write.
GAME_WRITER = CHILDREN / "game_writer.py"


def test_killed_game_writers_lose_no_finished_game_and_leave_no_partial_file(tmp_path):
    games = tmp_path / "games"
    lines: list[str] = []
    loader = GameLoader(games, log=lines.append)
    loaded: Counter[str] = Counter()
    started, done, rng = set(), set(), np.random.default_rng(0)
    kills = 60
    for run in range(kills):
        writer = subprocess.Popen(
            [sys.executable, str(GAME_WRITER), str(games), str(run)],
            stdout=subprocess.PIPE,
            text=True,
            env=CHILD_ENV,
        )
        assert writer.stdout.readline() == "ready\n"
        deadline = time.monotonic() + rng.uniform(0.0, 0.08)
        while time.monotonic() < deadline:  # the trainer polls while the writer writes
            loaded.update(g.path.stem for g in loader.poll())
        os.kill(writer.pid, signal.SIGKILL)
        out = writer.stdout.read()  # (not communicate: it would skip what readline buffered)
        assert writer.wait(timeout=10) == -signal.SIGKILL
        for kind, game_id in (line.split() for line in out.splitlines()):
            (started if kind == "start" else done).add(game_id)
        assert not lines, lines
    loaded.update(g.path.stem for g in loader.poll())

    visible = {p.stem for p in games.glob("*.npz")}
    temps = sorted(games.glob(f"{TEMP_PREFIX}*"))
    assert len(done) >= kills  # many writes completed between the kills
    assert done <= visible <= started  # every finished write is there, nothing unknown is
    assert len(visible - done) <= kills  # linked, then killed before saying "done": complete
    assert set(loaded) == visible and set(loaded.values()) == {1}  # each loaded exactly once
    assert loader.quarantined == 0 and not lines  # nothing half-written was ever visible
    assert len(temps) >= kills // 4  # proof that many kills landed inside a write
    assert remove_stale_temps(games) == 0  # fresh temporaries may belong to a live writer
    assert remove_stale_temps(games, max_age_s=0) == len(temps)
    assert not list(games.glob(f"{TEMP_PREFIX}*"))
    assert {p.stem for p in games.glob("*.npz")} == visible
    print(f"{kills} kills: {len(done)} games written, {len(temps)} partial temporaries removed")


# A fork server of "trainers" that resume like train.py --resume and save after every step: it
# imports torch once and forks one per "start" line (a fresh interpreter per restart costs seconds).
CHECKPOINT_WRITER = CHILDREN / "checkpoint_writer.py"


def test_killed_trainers_always_leave_a_newest_checkpoint_that_loads(tmp_path):
    folder, saved = tmp_path / "checkpoints", tmp_path / "saved.txt"
    config = load_config(REPO / "configs" / "cartpole.toml")
    arch = architecture_for(config, Environment(config.env))
    worker_model, worker_step = MuZeroNet(arch), -1
    server = subprocess.Popen(
        [sys.executable, str(CHECKPOINT_WRITER), str(folder), str(saved)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=CHILD_ENV,
    )

    def ask(line: str) -> int:
        server.stdin.write(line + "\n")
        server.stdin.flush()
        return int(server.stdout.readline())

    def saved_steps() -> list[int]:
        return [int(s) for s in saved.read_text().split()] if saved.exists() else []

    rng, kills, interrupted = np.random.default_rng(1), 24, 0
    try:
        for _ in range(kills):
            before = len(saved_steps())
            pid = ask("start")
            # Kill only once it has saved: a slow start (a loaded machine) is not a lost restart.
            wait_for(lambda n=before: len(saved_steps()) > n, 30, "a first checkpoint")
            time.sleep(rng.uniform(0.005, 0.1))
            os.kill(pid, signal.SIGKILL)
            assert ask(f"reap {pid}") == -signal.SIGKILL  # killed, not crashed
            printed = saved_steps()
            newest = read_latest(folder, arch)
            if printed:  # the newest is the last step reported saved, or a newer one
                assert newest is not None and newest["step"] >= printed[-1]
            for _, path in list_checkpoints(folder):  # whatever is visible is complete
                read_checkpoint(path, arch)
            if newest is not None:  # Adam's counter went on across every resume
                assert newest["optimizer"]["state"][0]["step"].item() == newest["step"]
                # a worker between games takes the newest; its own weights stay otherwise
                newer = load_latest(folder, worker_model, newer_than=worker_step)
                worker_step = newer or worker_step
                assert worker_step == newest["step"]
            interrupted += len(list(folder.glob(f"{TEMP_PREFIX}*")))
            remove_stale_temps(folder, max_age_s=0)  # (a real start leaves them an hour)
    finally:
        server.kill()
        server.communicate()
    assert len(printed) >= kills  # every restart went on from the newest step on disk
    assert printed == sorted(set(printed))  # strictly increasing: no step saved twice
    assert interrupted >= kills // 8  # some kills landed inside a save (about half, usually)
    print(f"{kills} kills: {len(printed)} checkpoints, {interrupted} interrupted saves")


FAST = [*FAST_TRAINER, "--set", "train.checkpoint_every=5"]  # a checkpoint with each metrics row


NO_PACE = ["--set", "selfplay.max_env_steps_per_train_step=0"]  # (else it waits for a trainer)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def newest_step(folder) -> int:
    return max((step for step, _ in list_checkpoints(folder)), default=0)


def test_a_killed_trainer_resumes_step_and_optimizer_while_workers_play_on(tmp_path):
    games = tmp_path / "games"
    for i in range(5):
        save_game(make_record(length=30), games, f"20260101-00000{i}-w09-seeded")
    with open(tmp_path / "train.log", "w") as log:
        trainer = subprocess.Popen(
            entry_command("train.py", tmp_path, *FAST), cwd=REPO, stdout=log, stderr=log
        )
    with open(tmp_path / "worker.log", "w") as log:
        worker = subprocess.Popen(
            entry_command("selfplay.py", tmp_path, "--worker-id", "1", *NO_PACE),
            cwd=REPO,
            stdout=log,
            stderr=log,
        )
    try:
        folder = tmp_path / "checkpoints"
        wait_for(lambda: newest_step(folder) >= 10, 120, "the trainer's checkpoint at step 10")
        time.sleep(np.random.default_rng(2).uniform(0.0, 0.3))  # any moment, mid-save included
        trainer.kill()
        assert trainer.wait(timeout=30) == -signal.SIGKILL
        config = load_config(REPO / "configs" / "cartpole.toml")
        state = read_latest(
            tmp_path / "checkpoints", architecture_for(config, Environment(config.env))
        )
        step = state["step"]
        assert step == newest_step(folder) >= 10
        assert state["optimizer"]["state"][0]["step"].item() == step

        # the worker does not notice: it plays on with the weights it has
        before = set(games.glob("*-w01-*.npz"))
        wait_for(lambda: len(set(games.glob("*-w01-*.npz")) - before) >= 2, 60, "worker games")
        worker.send_signal(signal.SIGINT)
        assert worker.wait(timeout=60) == 0
        after = set(games.glob("*-w01-*.npz")) - before
        assert all(load_game(p).metadata.checkpoint_step <= step for p in after)
        assert "Traceback" not in (tmp_path / "worker.log").read_text()
    finally:
        for process in (trainer, worker):
            process.kill()
            process.wait()

    logged = len(train_metrics(tmp_path))  # the killed trainer's rows
    status, out = resume_with_new_games(
        entry_command("train.py", tmp_path, "--resume", "--steps", str(step + 10), *FAST), tmp_path
    )
    assert status == 0, out
    # the resumed run went on from the newest checkpoint's step to step + 10, not from 0
    assert [int(r["step"]) for r in train_metrics(tmp_path)[logged:]] == [step + 5, step + 10]
    final = torch.load(tmp_path / "checkpoints" / f"step-{step + 10:08d}.pt", weights_only=True)
    assert final["optimizer"]["state"][0]["step"].item() == step + 10  # Adam's counter went on


# Two processes publish under the same names at once: os.link lets exactly one win each name.
PUBLISHER = CHILDREN / "publisher.py"


def test_two_processes_publishing_the_same_names_never_replace_each_other(tmp_path):
    writers = [
        subprocess.Popen(
            [sys.executable, str(PUBLISHER), str(tmp_path), me],
            stdout=subprocess.PIPE,
            text=True,
            env=CHILD_ENV,
        )
        for me in "ab"
    ]
    time.sleep(0.3)
    (tmp_path / "go").touch()
    won = {
        me: {int(i) for i in w.communicate(timeout=60)[0].split()}
        for me, w in zip("ab", writers, strict=True)
    }
    assert [w.returncode for w in writers] == [0, 0]
    assert won["a"] | won["b"] == set(range(300)) and not won["a"] & won["b"]
    for i in range(300):  # each file holds exactly the content of the one writer that won it
        me = "a" if i in won["a"] else "b"
        assert (tmp_path / f"g{i:03d}.npz").read_bytes() == (me * 5000).encode()
    assert not list(tmp_path.glob(f"{TEMP_PREFIX}*"))
