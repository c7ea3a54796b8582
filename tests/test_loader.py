"""The trainer's game loader: each game once, bad files quarantined with a reason, nothing larger
than the largest game its config allows ever allocated, and nothing but regular files opened."""

import contextlib
import dataclasses
import io
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import CHILD_ENV, CHILDREN, REPO, make_record

from muzero_lite.config import EnvConfig
from muzero_lite.game_metadata import GameMetadata
from muzero_lite.games import GameFileError, GameRecord, file_arrays, load_game, save_game
from muzero_lite.loader import GameLoader, run_limits


def test_each_game_is_loaded_exactly_once(tmp_path):
    save_game(make_record(), tmp_path, "20260101-000000-w00-a")
    loader = GameLoader(tmp_path, log=lambda _: None)
    assert [g.path.name for g in loader.poll()] == ["20260101-000000-w00-a.npz"]
    assert loader.poll() == []
    save_game(make_record(), tmp_path, "20260101-000001-w00-b")
    assert [g.path.name for g in loader.poll()] == ["20260101-000001-w00-b.npz"]
    assert loader.loaded == 2


def test_bad_files_are_quarantined_with_a_reason_and_loading_goes_on(tmp_path):
    lines = []
    (tmp_path / "20260101-000000-w00-bad.npz").write_bytes(b"not a zip")
    save_game(make_record(), tmp_path, "20260101-000001-w00-good")
    loader = GameLoader(tmp_path, log=lines.append)
    assert [g.path.name for g in loader.poll()] == ["20260101-000001-w00-good.npz"]
    quarantine = tmp_path / "quarantine"
    assert (quarantine / "20260101-000000-w00-bad.npz").exists()
    reason = (quarantine / "20260101-000000-w00-bad.npz.reason.txt").read_text()
    assert "not a readable .npz file" in reason
    assert len(lines) == 1 and lines[0].startswith(
        "[train] quarantined 20260101-000000-w00-bad.npz:"
    )
    assert loader.quarantined == 1 and loader.poll() == []


def test_refill_takes_the_newest_games_up_to_a_transition_budget(tmp_path):
    for i in range(5):
        save_game(make_record(length=3), tmp_path, f"20260101-00000{i}-w00-x")
    loader = GameLoader(tmp_path, log=lambda _: None)
    games = loader.refill(transitions=6)
    assert [g.path.name[:15] for g in games] == ["20260101-000003", "20260101-000004"]
    assert loader.poll() == []  # older games are never loaded later


# Stand-ins for networks.Architecture: what run_limits reads of it.
VECTORS = SimpleNamespace(observation_shape=(4,), num_actions=2, pixels=False)
FRAMES = SimpleNamespace(observation_shape=(84, 84), num_actions=7, pixels=True)
CARTPOLE = EnvConfig(max_episode_steps=10, observation_scale=[1.0, 1.0, 10.0, 1.0])
LIMITS = run_limits(CARTPOLE, VECTORS)  # 10 moves: 11 x 16 bytes of observations at most
GIB = 1 << 30


@dataclass
class Entry:
    """A zip entry written by hand: what it declares need not be what it holds."""

    name: str
    data: bytes  # as stored: deflated unless method is ZIP_STORED
    file_size: int  # the uncompressed size it declares
    crc: int
    method: int = zipfile.ZIP_DEFLATED


def zip_bytes(entries: list[Entry], comment: bytes = b"") -> bytes:
    """A zip archive of `entries`, each with the sizes and CRC it is given."""
    out, directory = io.BytesIO(), []
    for e in entries:
        offset, name = out.tell(), e.name.encode()
        sizes = (e.crc, len(e.data), e.file_size, len(name))
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, e.method, 0, 0, *sizes, 0))
        out.write(name + e.data)
        directory.append(
            struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, e.method, 0, 0, *sizes,
                        0, 0, 0, 0, 0, offset) + name
        )  # fmt: skip
    start, listing = out.tell(), b"".join(directory)
    out.write(listing)
    count, size = len(entries), len(listing)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, size, start, len(comment))
    return out.getvalue() + end + comment


def npy(shape, dtype) -> bytes:
    """The .npy header of an array of `shape` and `dtype` (version 1.0, as numpy writes it)."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": shape}  # fmt: skip
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def deflate(content: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(content) + compressor.flush()


def deflated_zeros(head: bytes, zeros: int) -> bytes:
    """`head` then `zeros` zero bytes, deflated: a gigabyte takes a megabyte, and a moment.

    After a full flush the compressor starts afresh, so the deflated form of one MiB of zeros is
    the same every time: written once, repeated.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    mib = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.compress(bytes(zeros % (1 << 20))) + compressor.flush()
    return start + mib * (zeros >> 20) + end


def game_entries(record=None, **changes: Entry) -> list[Entry]:
    """A game's members as honest entries (np.savez's bytes, deflated), `changes` replacing some."""
    arrays = file_arrays(record or make_record())
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with zipfile.ZipFile(buffer) as archive:
        members = {name: archive.read(f"{name}.npy") for name in arrays}
    honest = {n: Entry(f"{n}.npy", deflate(b), len(b), zlib.crc32(b)) for n, b in members.items()}
    return list({**honest, **changes}.values())


def write(folder, name: str, content: bytes):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder / name


def test_the_largest_legal_game_loads_and_one_move_more_is_quarantined(tmp_path):
    save_game(make_record(length=10), tmp_path, "20260101-000000-w00-longest")
    save_game(make_record(length=11), tmp_path, "20260101-000001-w00-too-long")
    lines = []
    loader = GameLoader(tmp_path, log=lines.append, limits=LIMITS)
    assert [g.record.length for g in loader.poll()] == [10]
    assert lines == [
        "[train] quarantined 20260101-000001-w00-too-long.npz: observations: its .npy header "
        "declares 192 bytes, more than the 176 it may hold in a game of at most 10 moves "
        "(env.max_episode_steps)"
    ]


def damaged_directory(data: bytes) -> bytes:
    """The archive with its first central directory signature broken (its end record intact)."""
    at = data.index(b"PK\x01\x02")
    return data[:at] + b"PK\x01\x09" + data[at + 4 :]


def lying_files() -> dict[str, tuple[list[Entry] | bytes, str]]:
    """Kind of lie -> (the game's zip entries or whole file, its reason under LIMITS)."""
    obs = npy((4, 4), "<f4") + np.arange(16, dtype="<f4").tobytes()  # make_record's observations
    huge = npy((GIB // 16, 4), "<f4")  # a gigabyte of observations
    text = npy((), f"<U{GIB // 4}")  # a gigabyte of metadata
    rewards = game_entries()[2]
    return {
        "a gigabyte of observations": (
            game_entries(observations=Entry("observations.npy", deflated_zeros(huge, GIB),
                                            len(huge) + GIB, 0)),
            f"observations: its zip entry declares {len(huge) + GIB:,} bytes, more than the "
            "10,176 it may hold in a game of at most 10 moves (env.max_episode_steps)",
        ),
        "a gigabyte of metadata": (
            game_entries(metadata=Entry("metadata.npy", deflated_zeros(text, GIB),
                                        len(text) + GIB, 0)),
            f"metadata: its zip entry declares {len(text) + GIB:,} bytes, more than the "
            "272,144 it may hold in a game of at most 10 moves (env.max_episode_steps)",
        ),
        "a .npy header declaring a gigabyte it does not hold": (
            game_entries(observations=Entry("observations.npy", deflate(huge + bytes(64)),
                                            len(huge) + 64, zlib.crc32(huge + bytes(64)))),
            "observations: its .npy header declares 1,073,741,824 bytes, more than the 176 it "
            "may hold in a game of at most 10 moves (env.max_episode_steps)",
        ),
        "a zip entry declaring more than its .npy header": (
            game_entries(observations=Entry("observations.npy", deflate(obs + bytes(64)),
                                            len(obs) + 64, zlib.crc32(obs + bytes(64)))),
            "observations: its zip entry declares 256 bytes, its .npy header 192",
        ),
        "a zip entry inflating to more than it declares": (
            game_entries(observations=Entry("observations.npy", deflated_zeros(obs, GIB),
                                            len(obs), zlib.crc32(obs))),
            "observations inflates to more than the 192 bytes its zip entry declares",
        ),
        "a zip entry inflating to less than it declares": (
            game_entries(observations=Entry("observations.npy", deflate(obs), 1000,
                                            zlib.crc32(obs))),
            "observations holds 192 of the 1,000 bytes it declares",
        ),
        "a zip entry declaring more than deflate can hold": (
            game_entries(observations=Entry("observations.npy", deflate(b""), 10_000, 0)),
            "observations: its zip entry declares 10,000 bytes, more than its 2 stored bytes "
            "can hold",
        ),
        "a damaged member": (
            game_entries(rewards=Entry("rewards.npy", rewards.data, rewards.file_size,
                                       rewards.crc ^ 1)),
            "rewards: CRC check failed, the data is damaged",
        ),
        "an extra member": (
            [*game_entries(), Entry("extra.npy", deflate(b"x"), 1, zlib.crc32(b"x"))],
            "unexpected or repeated members: extra.npy",
        ),
        "a repeated member": (
            [*game_entries(), rewards],
            "unexpected or repeated members: rewards.npy",
        ),
        "a zip directory of thousands of entries": (
            [*game_entries(), *(Entry(f"x{i}.npy", b"", 0, 0, zipfile.ZIP_STORED)
                                for i in range(2000))],
            "its zip directory takes 109,362 bytes, more than the 65,536 a few arrays need",
        ),
        "a zip comment (numpy writes none)": (
            zip_bytes(game_entries(), comment=b"hello"),
            "not a readable .npz file (its zip end record is not at the end)",
        ),
        "a damaged zip directory": (
            damaged_directory(zip_bytes(game_entries())),
            "not a readable .npz file (a damaged zip directory: Bad magic number for central "
            "directory)",
        ),
        "another compression method": (
            game_entries(rewards=Entry("rewards.npy", rewards.data, rewards.file_size,
                                       rewards.crc, method=zipfile.ZIP_BZIP2)),
            "rewards uses zip compression method 12, not deflate",
        ),
    }  # fmt: skip


@pytest.mark.parametrize("kind", list(lying_files()))
def test_a_game_file_whose_sizes_lie_is_refused_before_it_is_read(tmp_path, kind):
    entries, reason = lying_files()[kind]
    path = write(tmp_path, "g.npz", entries if isinstance(entries, bytes) else zip_bytes(entries))
    with pytest.raises(GameFileError) as error:
        load_game(path, LIMITS)
    assert str(error.value) == reason


def test_a_file_larger_than_the_largest_game_is_refused_unread(tmp_path):
    stored = Entry("padding.npy", bytes(LIMITS.max_file_bytes), LIMITS.max_file_bytes, 0,
                   method=zipfile.ZIP_STORED)  # fmt: skip
    path = write(tmp_path, "g.npz", zip_bytes([*game_entries(), stored]))
    with pytest.raises(GameFileError) as error:
        load_game(path, LIMITS)
    assert str(error.value) == (
        f"{path.stat().st_size:,} bytes on disk, more than the {LIMITS.max_file_bytes:,} of "
        "the largest game of 10 moves (env.max_episode_steps)"
    )
    with pytest.raises(GameFileError, match=r"unexpected or repeated members: padding\.npy"):
        load_game(path)  # without limits (tools): read as far as the directory


# Loads each folder of game files with the trainer's loader in a fresh process (PEAK_RSS), and
# prints the peak resident memory after each, with what the loader took and said. Linux carries
# a process's peak across fork and exec, so it runs as the grandchild of a fresh interpreter
# (FRESH): a child of pytest itself would start at pytest's peak.
FRESH = CHILDREN / "fresh.py"
PEAK_RSS = CHILDREN / "peak_rss.py"


def longest_mario_game() -> GameRecord:
    """The largest game a Mario trainer of 2000 moves allows: 2001 frames of 84 x 84."""
    moves = 2000
    return GameRecord(
        observations=(np.arange((moves + 1) * 84 * 84) % 251).astype(np.uint8).reshape(-1, 84, 84),
        actions=np.arange(moves, dtype=np.int64) % 7,
        rewards=np.ones(moves, np.float32),
        policies=np.full((moves, 7), 1 / 7, np.float32),
        root_values=np.zeros(moves + 1, np.float32),
        terminated=False,
        truncated=True,
        metadata=GameMetadata(env_id="SuperMarioBros-1-1-v0"),
    )


def test_a_game_declaring_gigabytes_is_quarantined_without_allocating_them(tmp_path):
    honest = {e.name: e for e in game_entries(longest_mario_game())}
    frames = npy((2001, 84, 84), "|u1")
    huge = npy((GIB // (84 * 84), 84, 84), "|u1")  # a gigabyte of frames
    text = npy((), f"<U{GIB // 4}")  # a gigabyte of metadata
    small = huge + bytes(2001 * 84 * 84)  # declares a gigabyte, holds a legal game's bytes
    hostile = {  # each holds or declares a gigabyte, in a megabyte or so
        "frames": Entry("observations.npy", deflated_zeros(huge, GIB), len(huge) + GIB, 0),
        "metadata": Entry("metadata.npy", deflated_zeros(text, GIB), len(text) + GIB, 0),
        "npy-header": Entry("observations.npy", deflate(small), len(small), zlib.crc32(small)),
        "zip-entry": Entry("observations.npy", deflated_zeros(frames, GIB), len(frames) + GIB, 0),
        "inflating": Entry("observations.npy", deflated_zeros(frames, GIB),
                           honest["observations.npy"].file_size, 0),
    }  # fmt: skip
    folders = [tmp_path / "legal"]
    save_game(longest_mario_game(), folders[0], "20260101-000000-w00-longest")
    for kind, entry in hostile.items():
        folders.append(tmp_path / kind)
        entries = {**honest, entry.name: entry}.values()
        write(folders[-1], f"20260101-000000-w00-{kind}.npz", zip_bytes(list(entries)))
    result = subprocess.run(
        [sys.executable, str(FRESH), str(PEAK_RSS), *map(str, folders)],
        cwd=REPO, env=CHILD_ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    _, legal, *refused = map(json.loads, result.stdout.splitlines())  # the first: after imports
    assert (legal["loaded"], legal["log"]) == (1, [])
    for kind, folder, outcome in zip(hostile, folders[1:], refused, strict=True):
        assert outcome["loaded"] == 0 and len(outcome["log"]) == 1, (kind, outcome)
        assert outcome["log"][0].startswith(f"[train] quarantined 20260101-000000-w00-{kind}.npz")
        assert (folder / "quarantine" / f"20260101-000000-w00-{kind}.npz").exists()
        assert outcome["peak_mb"] < legal["peak_mb"] + 100, (kind, outcome, legal)


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail, instead of hanging, should the loader open a FIFO or read a device after all."""

    def expire(*_):
        raise TimeoutError(f"still loading after {seconds} s: something was opened")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def make_fifo(path):
    os.mkfifo(path)


def make_zero_device(path):
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # what /dev/zero is
    except PermissionError:
        pytest.skip("creating a device needs CAP_MKNOD; see the link to /dev/zero")


def link_to_fifo(path):
    os.mkfifo(path.parent.parent / "pipe")
    path.symlink_to(path.parent.parent / "pipe")


ODD_FILES = {  # kind -> (how to make it at a path, the start of its reason)
    "fifo": (make_fifo, "a FIFO"),
    "directory": (lambda path: path.mkdir(), "a directory"),
    "link-to-dev-zero": (lambda path: path.symlink_to("/dev/zero"), "a symbolic link to /dev/zero"),
    "link-to-fifo": (link_to_fifo, "a symbolic link to {tmp}/pipe"),
    "device": (make_zero_device, "a character device"),
}


@pytest.mark.parametrize("kind", list(ODD_FILES))
def test_a_fifo_or_other_non_regular_file_named_npz_is_set_aside_unopened(tmp_path, kind):
    make, what = ODD_FILES[kind]
    games, name = tmp_path / "games", f"20260101-000000-w00-{kind}.npz"
    games.mkdir()
    make(games / name)
    save_game(make_record(), games, "20260101-000001-w00-good")
    lines = []
    loader = GameLoader(games, log=lines.append, limits=LIMITS)
    with deadline(5):
        assert [g.path.name for g in loader.poll()] == ["20260101-000001-w00-good.npz"]
    reason = f"{what.format(tmp=tmp_path)}, not a regular file: never opened"
    assert lines == [f"[train] quarantined {name}: {reason}"]
    assert os.path.lexists(games / "quarantine" / name) and not os.path.lexists(games / name)
    assert (games / "quarantine" / f"{name}.reason.txt").read_text() == reason + "\n"
    assert loader.quarantined == 1 and loader.poll() == []


def test_a_non_regular_file_that_cannot_be_moved_aside_is_skipped_and_logged(tmp_path):
    name = "20260101-000000-w00-folder.npz"
    (tmp_path / name).mkdir()
    (tmp_path / "quarantine" / name).mkdir(parents=True)  # an earlier one, not empty: in the way
    (tmp_path / "quarantine" / name / "x").write_text("")
    lines = []
    loader = GameLoader(tmp_path, log=lines.append, limits=LIMITS)
    assert loader.poll() == [] and loader.poll() == []  # seen: not tried again
    assert lines == [
        f"[train] skipped {name}, left in place (Directory not empty): a directory, not a "
        "regular file: never opened"
    ]
    assert (tmp_path / name).is_dir() and loader.quarantined == 1


def pixel_game(**settings) -> GameRecord:
    """A Mario game of three moves recording `settings` (the others: the defaults)."""
    return GameRecord(
        observations=np.zeros((4, 84, 84), np.uint8),
        actions=np.array([0, 1, 2]),
        rewards=np.zeros(3, np.float32),
        policies=np.full((3, 7), 1 / 7, np.float32),
        root_values=np.zeros(4, np.float32),
        terminated=True,
        truncated=False,
        metadata=GameMetadata(env_id="SuperMarioBros-1-1-v0", env_settings=settings),
    )


MARIO = EnvConfig(id="SuperMarioBros-v0", max_episode_steps=10)


@pytest.mark.parametrize(
    ("game", "env", "arch", "reason"),
    [
        (
            make_record(),  # played with configs/cartpole.toml: the pole angle times 10
            EnvConfig(max_episode_steps=10, observation_scale=[1, 1, 1, 1]),
            VECTORS,
            "played with env.observation_scale = [1.0, 1.0, 10.0, 1.0], this run has "
            "[1.0, 1.0, 1.0, 1.0]: a game of other env settings",
        ),
        (
            pixel_game(frame_skip=2),
            MARIO,
            FRAMES,
            "played with env.frame_skip = 2, this run has 4: a game of other env settings",
        ),
        (
            pixel_game(actions="right_only"),
            MARIO,
            FRAMES,
            'played with env.actions = "right_only", this run has "simple": a game of other env '
            "settings",
        ),
        (
            pixel_game(grayscale=False),
            EnvConfig(id="SuperMarioBros-v0", max_episode_steps=10, grayscale=False, frame_size=64),
            SimpleNamespace(observation_shape=(64, 64, 3), num_actions=7, pixels=True),
            "env.frame_size not recorded (an older game), so the default 84, this run has 64: a "
            "game of other env settings",
        ),
    ],
    ids=["observation_scale", "frame_skip", "actions", "frame_size"],
)
def test_a_game_of_other_env_settings_is_quarantined_with_the_reason(
    tmp_path, game, env, arch, reason
):
    save_game(game, tmp_path, "20260101-000000-w00-other")
    lines = []
    loader = GameLoader(tmp_path, log=lines.append, limits=run_limits(env, arch))
    assert loader.poll() == []
    assert lines == [f"[train] quarantined 20260101-000000-w00-other.npz: {reason}"]
    assert (tmp_path / "quarantine" / "20260101-000000-w00-other.npz.reason.txt").exists()


def test_games_without_recorded_settings_load_as_defaults(tmp_path):
    vectors, frames = make_record(), pixel_game()
    vectors.metadata = dataclasses.replace(vectors.metadata, env_settings=None)
    frames.metadata = dataclasses.replace(frames.metadata, env_settings=None)
    vectors_path = save_game(vectors, tmp_path, "vectors")
    frames_path = save_game(frames, tmp_path, "frames")
    assert load_game(vectors_path, run_limits(EnvConfig(max_episode_steps=10), VECTORS)).length == 3
    assert load_game(frames_path, run_limits(MARIO, FRAMES)).length == 3
    with pytest.raises(GameFileError) as error:  # CartPole's config scales the pole angle
        load_game(vectors_path, LIMITS)
    assert str(error.value) == (
        "env.observation_scale not recorded (an older game), so the default [], this run has "
        "[1.0, 1.0, 10.0, 1.0]: a game of other env settings"
    )
    with pytest.raises(GameFileError) as error:
        load_game(frames_path, run_limits(dataclasses.replace(MARIO, frame_skip=2), FRAMES))
    assert str(error.value) == (
        "env.frame_skip not recorded (an older game), so the default 4, this run has 2: a game "
        "of other env settings"
    )


def test_only_the_settings_that_change_what_a_game_stores_are_compared(tmp_path):
    unusual = {"actions": "complex", "frame_skip": 2, "frame_size": 64, "grayscale": False}
    assert run_limits(EnvConfig(**unusual), VECTORS).env_settings == {"observation_scale": []}
    assert run_limits(EnvConfig(id="ALE/Pong-v5", **unusual), FRAMES).env_settings == {
        "frame_skip": 2, "frame_size": 64, "grayscale": False
    }  # fmt: skip
    assert run_limits(EnvConfig(id="SuperMarioBros-1-1-v0", **unusual), FRAMES).env_settings == {
        "actions": "complex", "flag_bonus": 0.0, "frame_skip": 2, "frame_size": 64,
        "grayscale": False,
    }  # fmt: skip
    path = save_game(make_record(), tmp_path, "g")  # CartPole: frame settings change nothing
    cartpole = EnvConfig(max_episode_steps=10, observation_scale=[1, 1, 10, 1], **unusual)
    assert load_game(path, run_limits(cartpole, VECTORS)).length == 3
