"""Disk limits: retention keeps games/ and gifs/ under a count and a size (oldest first), a failed
write leaves no partial file and costs one log line, and the trainer shrugs off vanished files."""

import errno
import os
from pathlib import Path

import pytest
from conftest import REPO, make_record

import muzero_lite.games
import muzero_lite.loader
import muzero_lite.selfplay.worker
import muzero_lite.storage
from muzero_lite.config import ConfigError, load_config
from muzero_lite.games import load_game, save_game
from muzero_lite.loader import GameLoader
from muzero_lite.paths import DataDirs
from muzero_lite.retention import prune_oldest
from muzero_lite.selfplay.worker import Worker


def files(folder: Path, sizes: dict[str, int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in sizes.items():
        (folder / name).write_bytes(b"x" * size)


def names(folder: Path, pattern: str = "*") -> list[str]:
    return sorted(p.name for p in folder.glob(pattern) if p.is_file())


def test_a_count_limit_deletes_the_oldest_names_first(tmp_path):
    files(tmp_path, {f"2026010{i}-000000-w00-a.npz": 10 for i in range(1, 6)})
    deleted = prune_oldest(tmp_path, "*.npz", keep=2)
    assert [p.name for p in deleted] == ["20260103-000000-w00-a.npz", "20260102-000000-w00-a.npz",
                                         "20260101-000000-w00-a.npz"]  # fmt: skip
    assert names(tmp_path) == ["20260104-000000-w00-a.npz", "20260105-000000-w00-a.npz"]


def test_a_size_limit_keeps_the_newest_files_that_fit(tmp_path):
    files(tmp_path, {"a.gif": 400_000, "b.gif": 300_000, "c.gif": 500_000, "d.gif": 400_000})
    prune_oldest(tmp_path, "*.gif", max_mb=1.0)  # d + c = 0.9 MB fit, b would make 1.2
    assert names(tmp_path) == ["c.gif", "d.gif"]
    prune_oldest(tmp_path, "*.gif", max_mb=0.1)  # below one file: the newest stays alone
    assert names(tmp_path) == ["d.gif"]


def test_an_older_file_never_outlives_a_newer_deleted_one(tmp_path):
    files(tmp_path, {"a.gif": 10, "b.gif": 900_000, "c.gif": 200_000})
    prune_oldest(tmp_path, "*.gif", max_mb=1.0)  # b does not fit: a goes too, though it would
    assert names(tmp_path) == ["c.gif"]


def test_no_limit_deletes_nothing(tmp_path):
    files(tmp_path, {"a.npz": 5_000_000, "b.npz": 5_000_000})
    assert prune_oldest(tmp_path, "*.npz") == []
    assert names(tmp_path) == ["a.npz", "b.npz"]


def test_subfolders_temporaries_and_other_files_are_never_touched(tmp_path):
    files(tmp_path, {"a.gif": 10, "b.gif": 10, ".tmp-c.gif.1234": 10, "notes.txt": 10})
    files(tmp_path / "best", {"1-1.gif": 10, "1-1.json": 10})
    files(tmp_path / "quarantine", {"x.npz": 10})
    prune_oldest(tmp_path, "*.gif", keep=1)
    prune_oldest(tmp_path / "best", "*.npz", keep=1)  # (nothing of that kind there)
    assert names(tmp_path, "*") == [".tmp-c.gif.1234", "b.gif", "notes.txt"]
    assert names(tmp_path / "best") == ["1-1.gif", "1-1.json"]
    assert names(tmp_path / "quarantine") == ["x.npz"]


def test_files_another_worker_deleted_first_are_skipped(tmp_path, monkeypatch):
    files(tmp_path, {f"{i}.npz": 10 for i in range(6)})
    real_unlink, real_stat = Path.unlink, Path.stat

    def unlink_raced(self, missing_ok=False):
        os.remove(self)  # the other worker wins the race for every file
        real_unlink(self, missing_ok)

    def stat_raced(self, **kwargs):
        if self.name == "4.npz":
            os.remove(self)
        return real_stat(self, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink_raced)
    monkeypatch.setattr(Path, "stat", stat_raced)
    assert prune_oldest(tmp_path, "*.npz", keep=2) == []  # all deleted by "the other worker"
    assert names(tmp_path) == ["3.npz", "5.npz"]  # 4 vanished before counting: 5 and 3 kept


def test_retention_settings_are_checked():
    config = load_config(REPO / "configs" / "cartpole.toml", ["selfplay.keep_games=10"])
    assert (config.selfplay.keep_games, config.selfplay.max_gifs_mb) == (10, 0.0)
    assert load_config(None, ["selfplay.max_games_mb=2"]).selfplay.max_games_mb == 2.0
    for bad in ("keep_games=-1", "keep_gifs=-1", "max_games_mb=-0.5", "max_gifs_mb=-1"):
        with pytest.raises(ConfigError, match=f"selfplay.{bad.split('=')[0]} must be >= 0"):
            load_config(None, [f"selfplay.{bad}"])


@pytest.fixture
def worker(tmp_path):
    """A CartPole worker in this process, writing to tmp_path, its log lines in worker.lines."""
    overrides = ["selfplay.gif_every=1", "selfplay.keep_games=2", "selfplay.keep_gifs=1"]
    config = load_config(REPO / "configs" / "cartpole.toml", overrides)
    lines: list[str] = []
    worker = Worker(config, DataDirs(tmp_path), worker_id=0, seed=0, log=lines.append)
    worker.lines = lines
    yield worker
    worker.close()


def test_the_worker_keeps_only_the_newest_games_and_gifs(worker, tmp_path):
    for _ in range(4):
        worker.play_one()
    games, gifs = names(tmp_path / "games"), names(tmp_path / "gifs")
    assert len(games) == 2 and len(gifs) == 1
    ids = [load_game(tmp_path / "games" / g).metadata.game_id for g in games]
    assert ids == sorted(ids) and gifs[0].startswith(ids[-1])  # the newest survive
    assert (tmp_path / "gifs" / "best" / "CartPole-v1.gif").exists()  # best/ is kept
    assert sum(line.startswith("[worker 0] game ") for line in worker.lines) == 4


def failing_fsync(monkeypatch, fail_calls: set[int]) -> None:
    """os.fsync in storage.publish raises ENOSPC on the given calls (where full disks report it)."""
    calls = iter(range(1_000_000))
    real = os.fsync

    def fsync(fd):
        if next(calls) in fail_calls:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(muzero_lite.storage.os, "fsync", fsync)


def test_a_full_disk_costs_one_line_and_the_worker_plays_on(worker, tmp_path, monkeypatch):
    failing_fsync(monkeypatch, {0})  # the first game's file
    worker.play_one()
    assert len(worker.lines) == 2, worker.lines  # the start line and the failure
    assert worker.lines[1].startswith("[worker 0] could not write game 2026")
    assert worker.lines[1].endswith(": No space left on device")
    assert os.listdir(tmp_path / "games") == [] and names(tmp_path / "gifs") == []
    worker.play_one()  # the disk has room again
    assert worker.lines[2].startswith("[worker 0] game 2 |")
    assert len(names(tmp_path / "games")) == 1 and worker.games_written == 1


def test_a_game_that_fails_validation_is_dropped_with_one_line(worker, tmp_path, monkeypatch):
    real_write = muzero_lite.selfplay.worker.write_played

    def nan_root_value(played, *args, **kwargs):  # what a network with NaN weights would search
        played.record.root_values[0] = float("nan")
        return real_write(played, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(muzero_lite.selfplay.worker, "write_played", nan_root_value)
        worker.play_one()
    assert len(worker.lines) == 2, worker.lines
    assert worker.lines[1].startswith("[worker 0] dropped game 2026")
    assert worker.lines[1].endswith(": root_values contain NaN or infinite values")
    assert os.listdir(tmp_path / "games") == [] and worker.games_written == 0
    worker.play_one()  # and plays on
    assert worker.lines[2].startswith("[worker 0] game 2 |")
    assert len(names(tmp_path / "games")) == 1


def test_a_failed_gif_write_keeps_the_game(worker, tmp_path, monkeypatch):
    failing_fsync(monkeypatch, {1})  # the GIF, after its game
    worker.play_one()
    assert len(worker.lines) == 3, worker.lines
    assert worker.lines[1].startswith("[worker 0] could not write GIF 2026")
    assert worker.lines[1].endswith(": No space left on device")
    assert worker.lines[2].startswith("[worker 0] game 1 |")
    assert len(names(tmp_path / "games")) == 1
    assert [p.name for p in (tmp_path / "gifs").iterdir()] == []  # no partial GIF either


def test_the_loader_skips_games_deleted_between_listing_and_loading(tmp_path, monkeypatch):
    for i in range(4):
        save_game(make_record(), tmp_path, f"20260101-00000{i}-w00-x")
    real_load = muzero_lite.loader.load_game

    def load_after_retention(path, *limits):
        if path.name.startswith(("20260101-000001", "20260101-000002")):
            path.unlink()  # retention in a worker deleted it just now
        return real_load(path, *limits)

    monkeypatch.setattr(muzero_lite.loader, "load_game", load_after_retention)
    lines = []
    loader = GameLoader(tmp_path, log=lines.append)
    assert [g.path.name[:15] for g in loader.poll()] == ["20260101-000000", "20260101-000003"]
    assert lines == [] and loader.quarantined == 0 and not (tmp_path / "quarantine").exists()


def test_the_loader_skips_a_game_deleted_while_it_is_read(tmp_path, monkeypatch):
    save_game(make_record(), tmp_path, "20260101-000000-w00-x")
    real_open = os.open

    def vanish_then_open(path, *args, **kwargs):  # after the loader checked what the file is
        if str(path).endswith(".npz"):
            Path(path).unlink()
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(muzero_lite.storage.os, "open", vanish_then_open)
    lines = []
    loader = GameLoader(tmp_path, log=lines.append)
    assert loader.poll() == [] and lines == [] and loader.quarantined == 0
    assert loader.refill(100) == []
