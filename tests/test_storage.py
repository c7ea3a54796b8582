"""The shared folders on object storage: S3 served by moto in this process, reached the way a user
reaches MinIO or AWS (an s3:// `--data-dir`, `AWS_ENDPOINT_URL` and the credential variables)."""

import json
import subprocess
import sys
import time
from dataclasses import replace

import boto3
import numpy as np
import pytest
import s3fs
import torch
from botocore.exceptions import EndpointConnectionError
from conftest import (
    BUCKET,
    CHILD_ENV,
    CHILDREN,
    FAST_TRAINER,
    REPO,
    S3_ENV,
    entry_command,
    make_record,
    names,
)

import muzero_lite.storage as storage
from muzero_lite.checkpoints import (
    list_checkpoints,
    prune_checkpoints,
    read_latest,
    save_checkpoint,
)
from muzero_lite.game_metadata import GameMetadata
from muzero_lite.games import load_game, save_game
from muzero_lite.gifs import update_best
from muzero_lite.loader import GameLoader
from muzero_lite.monitor import read_metadata
from muzero_lite.paths import DataDirs
from muzero_lite.retention import prune_oldest
from muzero_lite.storage import StorageError, StoredPath, StoreRefused, location, publish
from networks import Architecture, MuZeroNet


@pytest.fixture
def root(endpoint, request) -> StoredPath:
    """A fresh folder of the bucket for each test."""
    return location(f"s3://{BUCKET}/{request.node.name}")


def test_a_url_is_a_store_and_anything_else_a_local_path(root):
    assert isinstance(root, StoredPath) and str(root) == f"s3://{BUCKET}/{root.name}"
    assert str(location("runs/a")) == "runs/a" and not storage.is_stored(location("runs/a"))
    assert str(location("file:///tmp/x")) == "/tmp/x"
    child = root / "games" / "a.npz"
    assert (child.name, child.stem, child.suffix) == ("a.npz", "a", ".npz")
    assert child.parent == root / "games" and child.with_name("b.gif").name == "b.gif"
    dirs = DataDirs(root)  # this machine's own files stay on its disk
    assert dirs.runs == storage.Path("local-runs").resolve() / f"{BUCKET}_{root.name}" / "runs"


def test_publish_never_replaces_an_object_unless_told(root):
    path = root / "games" / "one.npz"
    publish(path, lambda f: f.write(b"first"))
    with pytest.raises(FileExistsError):  # the conditional PUT (If-None-Match: *) refused it
        publish(path, lambda f: f.write(b"second"))
    assert path.read_bytes() == b"first"
    publish(path, lambda f: f.write(b"third"), replace=True)
    assert path.read_bytes() == b"third"
    uploads = boto3.client("s3").list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert uploads == []  # one PUT per object: no multipart upload to leave dangling


def test_games_round_trip_and_the_loader_lists_once_per_poll(root, monkeypatch):
    games = root / "games"
    for i in range(3):
        save_game(make_record(length=3 + i), games, f"20260101-00000{i}-w00-x")
    calls = {"ls": 0, "info": 0}
    fs = root.fs
    real_ls, real_info = fs.ls, fs.info

    def counted(name, real):
        def call(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(fs, "ls", counted("ls", real_ls))
    monkeypatch.setattr(fs, "info", counted("info", real_info))
    loader = GameLoader(games, log=print)
    loaded = loader.poll()
    assert [g.record.length for g in loaded] == [3, 4, 5]
    assert calls == {"ls": 1, "info": 0}  # one listing; sizes came with it, no request per file
    assert loader.poll() == [] and calls["ls"] == 2  # each game is loaded once
    assert load_game(games / "20260101-000001-w00-x.npz").length == 4


def test_the_progress_view_reads_a_games_metadata_without_its_frames(root, monkeypatch):
    games = root / "games"
    frames = np.random.default_rng(0).integers(0, 255, (301, 84, 84), dtype=np.uint8)
    record = make_record(length=300)
    record.observations = frames  # a Mario game's frames: over a megabyte compressed
    record.metadata = replace(record.metadata, x_pos_max=640, length=300)
    save_game(record, games, "20260101-000000-w00-x")
    size = next(games.glob("*.npz")).stat().st_size
    fetched = []
    real = s3fs.core.S3File._fetch_range

    def counted(self, start, end):
        data = real(self, start, end)
        fetched.append(len(data))
        return data

    monkeypatch.setattr(s3fs.core.S3File, "_fetch_range", counted)
    meta = read_metadata(games / "20260101-000000-w00-x.npz")
    assert (meta.x_pos_max, meta.length) == (640, 300)
    assert size > 2**20 and 0 < sum(fetched) < size // 4, (size, fetched)


def test_a_bad_game_is_quarantined_on_the_store(root):
    games = root / "games"
    save_game(make_record(), games, "20260101-000000-w00-good")
    publish(games / "20260101-000001-w00-bad.npz", lambda f: f.write(b"not a zip"))
    lines = []
    loader = GameLoader(games, log=lines.append)
    assert [g.path.name for g in loader.poll()] == ["20260101-000000-w00-good.npz"]
    assert len(lines) == 1 and lines[0].startswith("[train] quarantined 20260101-000001-w00-bad")
    assert names(games) == ["20260101-000000-w00-good.npz", "quarantine"]
    quarantine = games / "quarantine"
    assert names(quarantine) == [
        "20260101-000001-w00-bad.npz",
        "20260101-000001-w00-bad.npz.reason.txt",
    ]
    assert (quarantine / "20260101-000001-w00-bad.npz").read_bytes() == b"not a zip"


def test_checkpoints_save_list_read_and_prune_on_the_store(root):
    arch = Architecture((4,), 2, 1, False, 8, 1, 8, 8, 5)  # CartPole's shapes, tiny
    model = MuZeroNet(arch)
    folder = root / "checkpoints"
    assert list_checkpoints(folder) == [] and read_latest(folder, arch) is None
    for step in (10, 20, 30):
        save_checkpoint(folder, step, model, note=torch.tensor(step))
    assert [s for s, _ in list_checkpoints(folder)] == [10, 20, 30]
    assert read_latest(folder, arch)["step"] == 30
    assert read_latest(folder, arch, newer_than=30) is None
    prune_checkpoints(folder, keep=2)
    assert names(folder) == ["step-00000020.pt", "step-00000030.pt"]


def test_retention_deletes_the_oldest_objects(root):
    gifs = root / "gifs"
    for i in range(4):
        publish(gifs / f"2026010{i}-000000-w00-x.gif", lambda f: f.write(b"gif"))
    deleted = prune_oldest(gifs, "*.gif", keep=2)
    assert sorted(p.name for p in deleted) == [
        "20260100-000000-w00-x.gif",
        "20260101-000000-w00-x.gif",
    ]
    assert names(gifs) == ["20260102-000000-w00-x.gif", "20260103-000000-w00-x.gif"]


def gif_of(folder: StoredPath, name: str, x_pos: int) -> tuple[StoredPath, GameMetadata]:
    path = folder / name
    publish(path, lambda f: f.write(name.encode()))
    return path, GameMetadata(env_id="SuperMarioBros-1-1-v0", stage="1-1", x_pos_max=x_pos,
                              return_=float(x_pos))  # fmt: skip


def test_the_best_gif_is_kept_under_the_stores_lock(root, monkeypatch):
    best = root / "gifs" / "best"
    better, worse = gif_of(root / "gifs", "a.gif", 900), gif_of(root / "gifs", "b.gif", 500)
    assert update_best(best, *better) and not update_best(best, *worse)
    assert (best / "1-1.gif").read_bytes() == b"a.gif"
    assert json.loads((best / "1-1.json").read_text())["gif"] == "a.gif"
    assert names(best) == ["1-1.gif", "1-1.json"]  # the lock object is gone
    publish(best / ".lock", lambda f: f.write(b"a worker that died holding it"))
    monkeypatch.setattr(storage, "LOCK_STALE_S", 0.0)  # its lock counts as stale at once
    assert update_best(best, *gif_of(root / "gifs", "c.gif", 1200))
    assert (best / "1-1.gif").read_bytes() == b"c.gif" and ".lock" not in names(best)


def test_transient_errors_are_retried_then_reported_in_one_line(root, monkeypatch):
    path = root / "x.bin"
    publish(path, lambda f: f.write(b"data"))
    monkeypatch.setattr(storage.time, "sleep", lambda s: None)
    real = root.fs.cat_file
    # what the S3 client raises with the server out of reach, then what s3fs makes of a 5xx
    failures = iter([EndpointConnectionError(endpoint_url="http://store"), OSError(5, "503")])

    def flaky(*args, **kwargs):
        if failure := next(failures, None):
            raise failure
        return real(*args, **kwargs)

    monkeypatch.setattr(root.fs, "cat_file", flaky)
    assert path.read_bytes() == b"data"  # two failures, then an answer

    def down(*args, **kwargs):
        raise OSError(5, "503 Service Unavailable")

    monkeypatch.setattr(root.fs, "cat_file", down)
    with pytest.raises(StorageError) as error:
        path.read_bytes()
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"read {path} failed {storage.RETRIES + 1}")


def test_a_store_that_refuses_a_read_stops_the_loader_and_quarantines_nothing(root, monkeypatch):
    games = root / "games"
    save_game(make_record(), games, "20260101-000000-w00-good")

    def refused(*args, **kwargs):
        raise PermissionError("Access Denied")  # s3fs's 403: expired credentials, a policy

    monkeypatch.setattr(root.fs, "cat_file", refused)
    with pytest.raises(StoreRefused, match=r"refused: Access Denied$"):
        GameLoader(games, log=print).poll()
    assert names(games) == ["20260101-000000-w00-good.npz"]  # the good game stays for later


def test_a_writer_killed_mid_upload_leaves_no_object_and_no_upload(root, endpoint):
    # 160 MB: above s3fs's own multipart threshold (100 MB) and boto3's (8 MB)
    env = {**CHILD_ENV, **S3_ENV, "AWS_ENDPOINT_URL": endpoint}
    path = root / "games" / "20260101-000000-w00-big.npz"
    writer = subprocess.Popen(
        [sys.executable, str(CHILDREN / "object_writer.py"), str(path), str(160 * 2**20)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert writer.stdout.readline() == "start\n"
    time.sleep(0.1)  # the PUT is under way (it takes 0.5 to 2 s here)
    writer.kill()
    assert writer.wait(timeout=30) == -9 and writer.stdout.read() == ""  # killed before "done"
    time.sleep(1.0)  # the server has seen the connection drop
    uploads = boto3.client("s3").list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert uploads == []  # nothing dangling
    found = [p.stat().st_size for p in (root / "games").iterdir()]
    # no object, or (where the PUT finished before the kill landed) the whole one: never a part
    assert found in ([], [160 * 2**20]), found
    # a restart writes again, under a new name (a worker names each game afresh)
    path = path.with_name("20260101-000001-w00-big.npz")
    rerun = subprocess.run(
        [sys.executable, str(CHILDREN / "object_writer.py"), str(path), str(2**20)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert rerun.stdout == "start\ndone\n" and path.stat().st_size == 2**20


@pytest.mark.e2e
def test_selfplay_and_training_on_an_s3_data_dir(root, endpoint, tmp_path):
    env = {**CHILD_ENV, **S3_ENV, "AWS_ENDPOINT_URL": endpoint}
    local = ["--local-dir", str(tmp_path)]

    def run(script, *args):
        command = entry_command(script, str(root), *local, *args)
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr

    run("selfplay.py", "--games", "3")
    assert len([n for n in names(root / "games") if n.endswith(".npz")]) == 3
    assert names(root / "gifs" / "best") == ["CartPole-v1.gif", "CartPole-v1.json"]
    run("train.py", "--steps", "20", *FAST_TRAINER)
    assert names(root / "checkpoints") == ["step-00000010.pt", "step-00000020.pt"]
    assert (tmp_path / "runs" / "train" / "metrics.csv").exists()  # metrics stay on local disk
    run("selfplay.py", "--games", "1", "--worker-id", "1")
    newest = max(p for p in (root / "games").glob("*-w01-*.npz"))
    assert load_game(newest).metadata.checkpoint_step == 20


@pytest.mark.e2e
def test_the_cartpole_benchmarks_keep_and_judge_a_run_on_a_store(root, endpoint, tmp_path):
    env = {**CHILD_ENV, **S3_ENV, "AWS_ENDPOINT_URL": endpoint}
    local = ["--local-dir", str(tmp_path / "local")]

    def run(script, *args):
        command = [sys.executable, script, *local, "--json", str(tmp_path / "out.json"), *args]
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads((tmp_path / "out.json").read_text())

    learned = run("bench/learn_cartpole.py", "--keep-data", str(root), "--minutes", "0.4",
                  "--eval-every", "12", "--episodes", "2", "--keep-going",
                  "--csv", str(tmp_path / "curve.csv"), *FAST_TRAINER)  # fmt: skip
    assert [n for n in names(root) if n in ("checkpoints", "games")] == ["checkpoints", "games"]
    assert learned["final"]["train_steps"] > 0  # the bench read the checkpoints on the store
    assert (tmp_path / "local" / "logs" / "train.log").exists()  # logs stay on this disk
    judged = run("bench/checkpoint_sweep.py", "--data-dir", str(root), "--window", "0", "1000000",
                 "--every", "1", "--episodes", "1", *FAST_TRAINER)  # fmt: skip
    assert judged["checkpoints"] == len(list_checkpoints(root / "checkpoints")) > 0
