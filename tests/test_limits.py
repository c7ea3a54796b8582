"""The two limits that keep the trainer and the workers in step: the trainer's replay ratio
(`Trainer.can_train`) and a worker's pace (`Worker.wait_for_trainer`)."""

import pytest
from conftest import REPO, SMALL_TRAINER, make_record

import muzero_lite.selfplay.worker
from muzero_lite.config import load_config
from muzero_lite.games import save_game
from muzero_lite.paths import DataDirs
from muzero_lite.selfplay.worker import Worker
from muzero_lite.trainer import Trainer


def make_trainer(tmp_path, warmup: int, ratio: float) -> Trainer:
    settings = [
        *SMALL_TRAINER, f"train.warmup_transitions={warmup}", f"train.replay_ratio={ratio}",
        "selfplay.max_env_steps_per_train_step=0",  # no paced worker here to wait on
    ]  # fmt: skip
    config = load_config(REPO / "configs/cartpole.toml", settings)
    return Trainer(config, DataDirs(tmp_path), resume=False, log=lambda line: None)


def load_new_game(trainer: Trainer, moves: int, name: str) -> None:
    save_game(make_record(moves), trainer.dirs.games, name)
    trainer._add(trainer.loader.poll())


def steps_allowed(trainer: Trainer) -> int:
    """Train while the trainer may; how many steps that was."""
    steps = 0
    while trainer.can_train():
        assert trainer.train_step() is not None
        steps += 1
        assert steps < 1000
    return steps


def test_no_step_before_the_warm_up_then_replay_ratio_steps_per_move_loaded(tmp_path):
    trainer = make_trainer(tmp_path, warmup=12, ratio=0.5)
    assert not trainer.can_train()  # empty replay
    load_new_game(trainer, 10, "20260101-000000-w00-00000000")
    assert trainer.replay.num_transitions == 10
    assert steps_allowed(trainer) == 0  # 10 < 12: a budget of 5 steps, but not warm yet
    load_new_game(trainer, 4, "20260101-000001-w00-00000001")
    assert steps_allowed(trainer) == 7  # warm: 0.5 x 14 moves loaded
    assert trainer.counters.steps_done == 7
    load_new_game(trainer, 3, "20260101-000002-w00-00000002")
    assert steps_allowed(trainer) == 2  # 0.5 x 17 = 8.5: a 9th step, not a 10th


def test_a_ratio_above_one_buys_several_steps_per_move(tmp_path):
    trainer = make_trainer(tmp_path, warmup=1, ratio=2.5)
    load_new_game(trainer, 3, "20260101-000000-w00-00000000")
    assert steps_allowed(trainer) == 8  # 2.5 x 3 = 7.5: the 8th step starts below it
    load_new_game(trainer, 1, "20260101-000001-w00-00000001")
    assert steps_allowed(trainer) == 2  # 2.5 x 4 = 10


@pytest.fixture
def paced(tmp_path, monkeypatch):
    """A CartPole worker paced at 0.5 env steps per trainer step after 500 free steps, whose
    checkpoint step rises by one at every look for a newer one and whose waits take no time."""
    overrides = ["selfplay.max_env_steps_per_train_step=0.5", "selfplay.pace_free_steps=500"]
    config = load_config(REPO / "configs" / "cartpole.toml", overrides)
    lines: list[str] = []
    worker = Worker(config, DataDirs(tmp_path), worker_id=3, seed=0, log=lines.append)
    worker.lines, worker.looks = lines, 0
    worker.step = worker.start_step = 100  # a worker that started on checkpoint step 100

    def pick_up_checkpoint():
        worker.looks += 1
        worker.step += 1

    monkeypatch.setattr(worker, "pick_up_checkpoint", pick_up_checkpoint)
    monkeypatch.setattr(muzero_lite.selfplay.worker.time, "sleep", lambda seconds: None)
    yield worker
    worker.close()


def test_a_worker_within_its_free_steps_does_not_wait(paced):
    paced.env_steps = 499
    paced.wait_for_trainer()
    assert paced.looks == 0 and len(paced.lines) == 1  # the start line only


def test_a_worker_ahead_waits_until_the_trainer_has_caught_up_and_says_so_once(paced):
    paced.env_steps = 504  # may play on once 500 + 0.5 x (step - 100) > 504: step 109
    paced.wait_for_trainer()
    assert paced.step == 109 and paced.looks == 9
    assert len(paced.lines) == 2  # the start line and one waiting line
    paced.env_steps = 505  # waits while 505 >= 500 + 0.5 x (step - 100): until step 111
    paced.wait_for_trainer()
    assert paced.step == 111 and paced.looks == 11


def test_pace_zero_never_waits(paced):
    paced.config.selfplay.max_env_steps_per_train_step = 0.0
    paced.env_steps = 10**9
    paced.wait_for_trainer()
    assert paced.looks == 0
