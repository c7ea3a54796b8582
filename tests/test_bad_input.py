"""Bad input: corrupt or hostile game files, checkpoints of another network, and command-line
mistakes. Each is one clear line (a quarantine reason, or an error with exit status 2); nothing
already written is lost, and no data file ever runs code."""

import errno
import io
import json
import os
import subprocess
import sys

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

import muzero_lite.cli
from muzero_lite.checkpoints import build_model, save_checkpoint
from muzero_lite.cli import check_writable
from muzero_lite.config import ConfigError, load_config
from muzero_lite.envs import Environment
from muzero_lite.games import load_game, save_game

pytestmark = pytest.mark.e2e
SCRIPTS = {  # each entry point with arguments that would make it run briefly
    "selfplay.py": ["--games", "1"],
    "train.py": ["--steps", "1"],
    "evaluate.py": ["--episodes", "1"],
    "launch.py": ["--minutes", "0.01", "--workers", "1"],
}


def entry(script: str, data_dir, *args: str):
    command = entry_command(script, data_dir, *args)
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


class Payload:
    """Unpickling this runs `touch <marker>`: proof, if the marker appears, that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def npz_bytes(**changes) -> bytes:
    """A CartPole game's arrays, with `changes` (None removes an array), as .npz bytes."""
    game = make_record(length=20)
    arrays = {
        "observations": game.observations,
        "actions": game.actions,
        "rewards": game.rewards,
        "policies": game.policies,
        "root_values": game.root_values,
        "terminated": np.array(True),
        "truncated": np.array(False),
        "metadata": np.array(json.dumps({**game.metadata.to_json(), "format_version": 1})),
    }
    arrays = {k: v for k, v in {**arrays, **changes}.items() if v is not None}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def bad_games(marker) -> dict[str, tuple[bytes, str]]:
    """Kind of damage -> (file contents, words its quarantine reason must hold)."""
    whole = npz_bytes()
    other = make_record(length=20, num_actions=4)
    return {
        "truncated": (whole[: len(whole) // 2], "not a readable .npz file"),
        "empty": (b"", "not a readable .npz file"),
        "random": (np.random.default_rng(0).bytes(4096), "not a readable .npz file"),
        "wrong-shape": (
            npz_bytes(rewards=np.ones(19, np.float32)),
            "rewards must have shape (20,)",
        ),
        "wrong-dtype": (npz_bytes(actions=np.zeros(20)), "actions must be integers, not float64"),
        "nan-reward": (
            npz_bytes(rewards=np.full(20, np.nan, np.float32)),
            "rewards contain NaN or infinite values",
        ),
        "future-format": (
            npz_bytes(metadata=np.array(json.dumps({"format_version": 99}))),
            "format_version 99, this version reads 1",
        ),
        "pickled-object": (
            npz_bytes(rewards=np.array([Payload(marker)] * 20, dtype=object)),
            "Object arrays cannot be loaded when allow_pickle=False",
        ),
        "missing-array": (npz_bytes(policies=None), "missing arrays: policies"),
        "other-settings": (  # played without configs/cartpole.toml's observation_scale
            npz_bytes(metadata=np.array(json.dumps({"format_version": 1, "env_settings": {}}))),
            "env.observation_scale not recorded (an older game), so the default [], this run has",
        ),
        "other-env": (  # a valid file from another game: 8 numbers per state, 4 actions
            npz_bytes(
                observations=np.zeros((21, 8), np.float32),
                policies=other.policies,
                actions=other.actions,
            ),
            "do not fit this network's (4,) float32: a game of another environment",
        ),
    }


def test_the_trainer_quarantines_every_kind_of_bad_file_and_trains_on(tmp_path):
    games, marker = tmp_path / "games", tmp_path / "code-ran"
    bad = bad_games(marker)
    good = []
    for i, (kind, (content, _)) in enumerate(bad.items()):  # bad files among good games
        good.append(save_game(make_record(length=20), games, f"20260101-0000{2 * i:02d}-w00-ok"))
        (games / f"20260101-0000{2 * i + 1:02d}-w05-{kind}.npz").write_bytes(content)
    result = entry("train.py", tmp_path, "--steps", "10", *FAST_TRAINER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    log = result.stdout.splitlines()
    quarantine = games / "quarantine"
    for i, (kind, (_, reason)) in enumerate(bad.items()):
        name = f"20260101-0000{2 * i + 1:02d}-w05-{kind}.npz"
        assert (quarantine / name).exists() and not (games / name).exists()
        lines = (quarantine / f"{name}.reason.txt").read_text().splitlines()
        assert len(lines) == 1 and reason in lines[0], (kind, lines)
        said = [line for line in log if line.startswith(f"[train] quarantined {name}: ")]
        assert said == [f"[train] quarantined {name}: {lines[0]}"], (kind, said)
    assert sorted(games.glob("*.npz")) == good  # every good game stays where it was
    assert len(list(quarantine.iterdir())) == 2 * len(bad)
    assert [int(r["step"]) for r in train_metrics(tmp_path)] == [5, 10]  # trained on to step 10
    assert (tmp_path / "checkpoints" / "step-00000010.pt").exists()
    assert not marker.exists()  # the pickled payload was never unpickled


def test_a_game_from_another_environment_that_sorts_first_is_quarantined(tmp_path):
    content, _ = bad_games(tmp_path / "code-ran")["other-env"]
    games = tmp_path / "games"
    games.mkdir()
    (games / "20260101-000000-w05-other-env.npz").write_bytes(content)
    for i in range(1, 4):
        save_game(make_record(length=20), games, f"20260101-00000{i}-w00-ok")
    result = entry("train.py", tmp_path, "--steps", "5", *FAST_TRAINER)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (games / "quarantine").glob("*.npz")) == [
        "20260101-000000-w05-other-env.npz"
    ]


def test_a_checkpoint_of_another_network_is_one_error_for_workers_and_resume(tmp_path):
    config = load_config(REPO / "configs" / "cartpole.toml", ["network.hidden_size=32"])
    save_checkpoint(tmp_path / "checkpoints", 5, build_model(config, Environment(config.env)))
    expected = (
        "error: step-00000005.pt was made for another network: hidden_size=32 (this config: 64); "
        "use the config it was trained with, or another --data-dir"
    )
    for args in (["selfplay.py", "--games", "1"], ["train.py", "--resume", "--steps", "10"]):
        result = entry(args[0], tmp_path, *args[1:])
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.splitlines() == [expected], result.stderr
    assert not list((tmp_path / "games").glob("*.npz"))
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-00000005.pt"]


def write_nan_checkpoint(directory, step: int, model) -> None:
    """A checkpoint as an older version could have written it: one weight is NaN."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["value_net.0.weight"][0, 0] = float("nan")
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"step": step, "architecture": model.arch.to_dict(), "model": state},
        directory / f"step-{step:08d}.pt",
    )


def test_a_non_finite_newest_checkpoint_is_skipped_by_workers_resume_and_evaluation(tmp_path):
    config = load_config(REPO / "configs" / "cartpole.toml")
    model = build_model(config, Environment(config.env))
    save_checkpoint(tmp_path / "checkpoints", 5, model)
    write_nan_checkpoint(tmp_path / "checkpoints", 10, model)
    skipped = (
        "warning: skipping checkpoint step-00000010.pt unusable: its weights hold NaN or "
        "infinite values (acting_weights: value_net.0.weight)"
    )
    worker = entry("selfplay.py", tmp_path, "--games", "2")
    assert worker.returncode == 0, worker.stderr
    assert worker.stdout.splitlines().count(skipped) == 1, worker.stdout  # once, not per poll
    games = sorted((tmp_path / "games").glob("*.npz"))
    assert [load_game(g).metadata.checkpoint_step for g in games] == [5, 5]

    latest = entry("evaluate.py", tmp_path, "--episodes", "1")
    assert latest.returncode == 0, latest.stderr
    (summary,) = (tmp_path / "eval").glob("*.json")  # its summary, by default in eval/
    assert json.loads(summary.read_text())["checkpoint_step"] == 5
    nan_path = tmp_path / "checkpoints" / "step-00000010.pt"
    explicit = entry("evaluate.py", tmp_path, "--episodes", "1", "--checkpoint", str(nan_path))
    assert explicit.returncode == 2
    assert explicit.stderr.splitlines() == [
        "error: step-00000010.pt unusable: its weights hold NaN or infinite values "
        "(acting_weights: value_net.0.weight)"
    ]
    status, out = resume_with_new_games(  # one step, so that the resume leaves a checkpoint
        entry_command("train.py", tmp_path, "--resume", "--steps", "6", *FAST_TRAINER), tmp_path
    )
    assert status == 0, out
    assert skipped in out.splitlines()
    resumed = torch.load(tmp_path / "checkpoints" / "step-00000006.pt", weights_only=True)
    # one step after step 5, whose checkpoint holds no optimizer: resumed from step 5
    assert resumed["step"] == 6 and resumed["optimizer"]["state"][0]["step"].item() == 1


# Runs entry points in one interpreter, the way `python <script> <args>` would, so a matrix of
# mistakes costs one torch import instead of one each.
IN_PROCESS = CHILDREN / "entry_points_in_process.py"


def run_in_process(cases: list[list[str]]) -> list[tuple[int, str]]:
    result = subprocess.run(
        [sys.executable, str(IN_PROCESS)],
        input=json.dumps(cases),
        cwd=REPO,
        env=CHILD_ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return [tuple(r) for r in json.loads(result.stdout.splitlines()[-1])]


def mistakes(tmp_path) -> list[tuple[list[str], str]]:
    """(command line, what its one stderr line must say) for each mistake and entry point."""
    data_file, nested = tmp_path / "data-file", tmp_path / "nested"
    data_file.write_text("not a folder")
    nested.mkdir()
    (nested / "games").write_text("not a folder")
    (tmp_path / "bad-type.toml").write_text('[train]\nbatch_size = "big"\n')
    cases = []
    for script in SCRIPTS:
        data = ["--data-dir", str(tmp_path / f"data-{script}")]
        config = ["--config", "configs/cartpole.toml"]
        cases += [
            (script, [*config, *data, "--set", "search.widht=4"], "unknown key search.widht"),
            (script, [*config, *data, "--set", "train.batch_size=x"], "must be int, got 'x'"),
            (
                script,
                ["--config", str(tmp_path / "bad-type.toml"), *data],
                "bad-type.toml: train.batch_size must be int, got 'big'",
            ),
            (script, ["--config", "configs/nope.toml", *data], "config file 'configs/nope.toml'"),
            (
                script,
                [*config, *data, "--set", "search.truncated.depth=0"],
                "search.truncated.depth must be >= 1",
            ),
            (
                script,
                [*config, *data, "--set", "search.truncated.width=1"],
                "search.truncated.width must be >= 2 for the truncated search",
            ),
            (script, [*config, "--data-dir", str(data_file)], str(data_file)),
        ]
        if script != "evaluate.py":  # evaluate only reads the data folder (and writes eval/)
            nested_games = f"{str(nested / 'games')!r} is a file, not a folder"
            cases.append((script, [*config, "--data-dir", str(nested)], nested_games))
        if script != "launch.py":  # the launcher leaves the environment to its children
            unknown = "unknown environment id 'NoSuchEnv-v0'"
            cases.append((script, [*config, *data, "--set", "env.id=NoSuchEnv-v0"], unknown))
    return [([script, *args, *SCRIPTS[script]], words) for script, args, words in cases]


def test_command_line_mistakes_are_one_line_and_exit_status_2_for_every_entry_point(tmp_path):
    cases = mistakes(tmp_path)
    results = run_in_process([argv for argv, _ in cases])
    for (argv, words), (status, stderr) in zip(cases, results, strict=True):
        lines = stderr.strip().splitlines()
        assert (status, len(lines)) == (2, 1), (argv, status, stderr)
        assert lines[0].startswith("error: ") and words in lines[0], (argv, stderr)
    assert not (tmp_path / "data-launch.py" / "logs").exists()  # no process was started
    assert len(cases) == 34


@pytest.mark.parametrize("script", ["selfplay.py", "launch.py"])
def test_a_data_dir_that_is_a_file_stops_the_real_process_with_status_2(tmp_path, script):
    (tmp_path / "data").write_text("not a folder")
    result = entry(script, tmp_path / "data", *SCRIPTS[script])
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {str(tmp_path / 'data')!r} is a file, not a folder: move it, or pass another "
        "--data-dir"
    ]


def test_a_data_dir_without_write_permission_is_refused(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes through file permissions; see the data-dir-is-a-file tests")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cases = [[s, "--config", "configs/cartpole.toml", "--data-dir", str(locked), *a]
             for s, a in SCRIPTS.items() if s != "evaluate.py"]  # fmt: skip
    for argv, (status, stderr) in zip(cases, run_in_process(cases), strict=True):
        assert status == 2 and stderr.strip().splitlines() == [
            f"error: data folder {str(locked)!r} is not writable: Permission denied"
        ], (argv, stderr)


def test_a_folder_that_refuses_a_probe_file_is_refused_even_for_root(tmp_path, monkeypatch):
    def read_only(**kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(muzero_lite.cli.tempfile, "NamedTemporaryFile", read_only)
    with pytest.raises(ConfigError) as error:
        check_writable(tmp_path)
    assert str(error.value) == (
        f"data folder {str(tmp_path)!r} is not writable: Read-only file system"
    )


def test_launch_with_an_unknown_environment_is_one_line_and_status_2(tmp_path):
    result = entry(
        "launch.py", tmp_path, "--minutes", "0.5", "--workers", "1",
        "--set", "env.id=NoSuchEnv-v0", "--set", "launch.status_seconds=0.5",
    )  # fmt: skip
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 1
    assert lines[0].startswith("error: unknown environment id 'NoSuchEnv-v0'")
