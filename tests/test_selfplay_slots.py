"""A worker's game slots (`selfplay.envs`): every game written and valid, slot i playing what a
one-slot worker given slot i's generator plays, checkpoints taken up between moves, emulators
shared through one pool."""

import os
import signal

import numpy as np
import pytest
import torch
from conftest import REPO

import muzero_lite.selfplay.worker
from muzero_lite import acceleration, interrupts
from muzero_lite.checkpoints import build_model, save_checkpoint
from muzero_lite.config import EnvConfig, load_config
from muzero_lite.envs import EmulatorPool, Environment
from muzero_lite.games import load_game
from muzero_lite.paths import DataDirs
from muzero_lite.selfplay.worker import Worker, run_worker

KINDS = {
    "truncated": [],
    "mcts": ["search.kind=mcts", "search.mcts.simulations=8"],
    "gumbel": ["search.kind=gumbel", "search.gumbel.simulations=8"],
}


def cartpole(tmp_path, *overrides: str):
    """CartPole settings and a data dir holding one fixed checkpoint (step 7)."""
    config = load_config(REPO / "configs" / "cartpole.toml", ["selfplay.gif_every=0", *overrides])
    torch.manual_seed(0)
    model = build_model(config, Environment(config.env))
    save_checkpoint(tmp_path / "data" / "checkpoints", 7, model)
    return config


def games_by_slot(worker: Worker, games: int) -> dict[int, list]:
    """Play until `games` have ended; each slot's finished games in order."""
    by_slot: dict[int, list] = {i: [] for i in range(len(worker.slots))}
    finish = worker._finish

    def spy(slot):
        played = finish(slot)
        by_slot[worker.slots.index(slot)].append(played.record)
        return played

    worker._finish = spy
    while worker.games_played < games:
        worker.play_move(games)
    return by_slot


@pytest.mark.parametrize("kind", KINDS)
def test_slot_i_plays_what_one_slot_given_its_generator_plays(tmp_path, kind):
    config = cartpole(tmp_path, "selfplay.envs=4", *KINDS[kind])
    dirs = DataDirs(tmp_path / "data")
    worker = Worker(config, dirs, worker_id=2, seed=5, log=lambda _: None)
    by_slot = games_by_slot(worker, 10)
    worker.close()
    files = sorted(dirs.games.glob("*.npz"))
    assert len(files) == 10 and sum(map(len, by_slot.values())) == 10
    for path in files:
        game = load_game(path)  # validates
        assert game.metadata.checkpoint_step == game.metadata.last_checkpoint_step == 7

    one_slot = cartpole(tmp_path / "one", "selfplay.envs=1", *KINDS[kind])
    for i, played in by_slot.items():
        alone = Worker(
            one_slot, DataDirs(tmp_path / "one" / "data"), worker_id=2, seed=5, log=lambda _: None
        )
        alone.slots[0].rng = np.random.default_rng([5, 2, i])  # slot i's generator
        for game in played:
            mine = alone.play_one().record
            # The moves and so the observations match exactly; the searched figures come from
            # batches of up to 4 roots against 1 and may differ in float32's last digits.
            np.testing.assert_array_equal(mine.actions, game.actions)
            np.testing.assert_array_equal(mine.observations, game.observations)
            np.testing.assert_allclose(mine.policies, game.policies, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(mine.root_values, game.root_values, rtol=1e-5, atol=1e-5)
        alone.close()


@pytest.mark.parametrize("kind", KINDS)
def test_a_bfloat16_worker_writes_valid_games(tmp_path, monkeypatch, kind):
    """selfplay.precision = bfloat16 (auto's choice on Mario where it measures faster): every
    search kind plays on autocast inference, and every game written validates."""
    monkeypatch.setattr(acceleration, "cpu_has_bf16", lambda: True)  # whatever this CPU has
    config = cartpole(tmp_path, "selfplay.envs=4", "selfplay.precision=bfloat16", *KINDS[kind])
    dirs = DataDirs(tmp_path / "data")
    worker = Worker(config, dirs, worker_id=0, seed=1, log=lambda _: None)
    assert worker.inference.dtype == torch.bfloat16
    assert isinstance(worker.inference.search_model, acceleration.AutocastModel)
    assert worker.inference.search_model.model is worker.model  # checkpoints load into it
    while worker.games_played < 6:
        worker.play_move(6)
    worker.close()
    files = sorted(dirs.games.glob("*.npz"))
    assert len(files) == 6
    for path in files:
        game = load_game(path)  # validates
        assert np.all(np.isfinite(game.root_values))


def test_a_game_records_the_first_and_the_last_checkpoint_that_played_it(tmp_path):
    config = cartpole(tmp_path, "selfplay.envs=2")
    dirs = DataDirs(tmp_path / "data")
    lines: list[str] = []
    worker = Worker(config, dirs, worker_id=0, seed=0, log=lines.append)
    worker.play_move()  # both slots have begun on step 7
    save_checkpoint(dirs.checkpoints, 9, worker.model)
    worker._looked = -1e9  # time for a look between moves
    while worker.games_played < 2:
        worker.play_move(2)
    worker.close()
    steps = sorted(
        (g.metadata.checkpoint_step, g.metadata.last_checkpoint_step)
        for g in map(load_game, dirs.games.glob("*.npz"))
    )
    assert steps == [(7, 9), (7, 9)] and worker.step == 9
    assert sum(line.endswith("| ckpt 7->9") for line in lines) == 2


def test_a_paced_worker_plays_its_games_in_progress_on_and_starts_none(tmp_path, monkeypatch):
    config = cartpole(tmp_path, "selfplay.envs=2", "selfplay.max_env_steps_per_train_step=1")
    worker = Worker(config, DataDirs(tmp_path / "data"), worker_id=0, seed=0, log=lambda _: None)
    worker.play_move()  # two games begin
    worker.env_steps = 10**6  # far ahead of the trainer from now on
    waits = []

    def wait_for_trainer(poll_seconds=0.5):
        waits.append(sum(s.episode is not None for s in worker.slots))
        worker.env_steps = 0  # the trainer has caught up

    monkeypatch.setattr(worker, "wait_for_trainer", wait_for_trainer)
    while worker.games_played < 2:
        worker.play_move()
        assert worker.games_started == 2  # no new game while ahead
    worker.play_move()  # none in progress: only now does it wait, then start both
    assert waits == [0] and worker.games_started == 4
    worker.close()


def test_a_stop_during_a_move_still_writes_the_games_that_ended_on_it(tmp_path, monkeypatch):
    config = cartpole(tmp_path, "selfplay.envs=3")
    dirs = DataDirs(tmp_path / "data")
    worker = Worker(config, dirs, worker_id=0, seed=0, log=lambda _: None)
    real_advance = muzero_lite.selfplay.worker.advance

    def advance(*args, **kwargs):
        ended = real_advance(*args, **kwargs)
        if ended:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C just after games ended
        return ended

    monkeypatch.setattr(muzero_lite.selfplay.worker, "advance", advance)
    monkeypatch.setattr(interrupts, "_requested", False)  # restored after the test
    with pytest.raises(KeyboardInterrupt):
        while True:
            worker.play_move()
    assert worker.games_played >= 1
    assert len(list(dirs.games.glob("*.npz"))) == worker.games_written == worker.games_played
    worker.close()


def test_run_worker_writes_exactly_the_games_asked_for(tmp_path):
    config = cartpole(tmp_path, "selfplay.envs=4")
    written = run_worker(
        config, DataDirs(tmp_path / "data"), games=5, worker_id=0, seed=0, log=lambda _: None
    )
    assert written == 5 and len(list((tmp_path / "data" / "games").glob("*.npz"))) == 5


class FakeEnv:
    def __init__(self, env_id):
        self.env_id, self.closed = env_id, False

    def close(self):
        self.closed = True


def test_the_pool_keeps_at_most_max_idle_emulators_idle(monkeypatch):
    built = []

    def make_env(env_id, config):
        built.append(FakeEnv(env_id))
        return built[-1]

    monkeypatch.setattr("muzero_lite.envs.make_env", make_env)
    pool = EmulatorPool(EnvConfig(id="SuperMarioBros-v0", stages=["1-1"]), slots=1)  # 2 idle
    a1, a2, a3, b = pool.take("a"), pool.take("a"), pool.take("a"), pool.take("b")
    pool.give("a", a1)
    assert pool.take("a") is a1 and pool.built == 4  # its own emulator back, none built
    pool.give("a", a1)
    pool.give("b", b)
    pool.give("a", a2)  # three idle: one of "a", which has the most, goes
    assert a1.closed and not a2.closed and not b.closed and pool.alive == 3
    assert pool.take("b") is b and pool.take("a") is a2 and pool.alive == 3
    pool.close()  # closes the idle ones; those in use are their holders' to give back
    assert not a3.closed


def test_slots_share_the_emulators_of_their_stages():
    config = load_config(REPO / "configs" / "mario.toml", ["env.stages=1-1,1-2"])
    pool = EmulatorPool(config.env, slots=3)  # 2 + 3 idle, as a worker of 3 slots keeps
    envs = [Environment(config.env, pool) for _ in range(3)]
    assert pool.built == 1 and pool.in_use == 0  # one emulator for their spaces, given back
    rng = np.random.default_rng(0)
    for _ in range(6):
        for env in envs:
            env.reset(rng)
            assert pool.alive <= 2 * 3 + 2  # one in use per slot, at most S + N idle
    for env in envs:
        env.close()
    assert pool.in_use == 0
    pool.close()
