"""Settings files, --set overrides, and one clear line with exit status 2 for each mistake."""

import subprocess
import sys

import pytest
from conftest import REPO

from muzero_lite.config import ConfigError, load_config


@pytest.mark.parametrize("name", ["mario", "mario-gpu", "cartpole", "lunarlander"])
def test_shipped_configs_load(name):
    config = load_config(REPO / "configs" / f"{name}.toml")
    assert config.search.kind == "truncated"


def test_mario_config_samples_the_seed_overworld_stages():
    config = load_config(REPO / "configs" / "mario.toml")
    assert config.env.stages[:3] == ["1-1", "2-1", "3-1"] and len(config.env.stages) == 12


def test_overrides_parse_as_toml_and_lists_split_on_commas():
    config = load_config(
        REPO / "configs" / "mario.toml",
        [
            "search.width=4",
            "search.discount=1",
            "env.grayscale=false",
            "env.stages=1-1,4-1",
            "env.id=X",
        ],
    )
    assert config.search.width == 4
    assert config.search.discount == 1.0 and isinstance(config.search.discount, float)
    assert config.env.grayscale is False
    assert config.env.stages == ["1-1", "4-1"]
    assert config.env.id == "X"


def test_list_overrides_take_commas_or_toml_and_widen_ints():
    config = load_config(None, ["search.temperatures=1,0.5,0", "search.temperature_steps=[10, 20]"])
    assert config.search.temperatures == [1.0, 0.5, 0.0]
    assert all(isinstance(t, float) for t in config.search.temperatures)
    assert config.search.temperature_steps == [10, 20]
    with pytest.raises(ConfigError, match="must be a list of int"):
        load_config(None, ["search.temperature_steps=1,x"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["search.widht=4"], "unknown key search.widht; valid keys: beta_end, beta_start"),
        (
            ["serch.width=4"],
            "unknown section [serch]; sections: env, launch, network, search, selfplay, train",
        ),
        (["search.width=four"], "search.width must be int, got 'four'"),
        (["search.width=2.5"], "search.width must be int, got 2.5"),
        (["env.grayscale=1"], "env.grayscale must be bool, got 1"),
        (["search.width"], "expected section.key=value"),
        (["search.depth=0"], "search.depth must be >= 1"),
        (["train.bootstrap=newest"], "train.bootstrap must be stored or fresh"),
        (["train.target_update_every=0"], "train.target_update_every must be >= 1"),
        (["train.consistency_weight=-1"], "train.consistency_weight must be >= 0"),
        (["train.consistency_steps=6"], "train.consistency_steps must be in 0..train.unroll_steps"),
        (["train.augment_shift=84"], "train.augment_shift must be below env.frame_size"),
        (["network.projection_size=8"], "network.projection_size serves the consistency loss"),
        (["env.flag_bonus=-1"], "env.flag_bonus must be >= 0"),
        (["env.no_progress_steps=-1"], "env.no_progress_steps must be >= 0"),
        (["train.ema_decay=1"], "train.ema_decay must be in [0, 1)"),
        (["train.precision=half"], "train.precision must be auto, float32, bfloat16 or float16"),
        (["train.channels_last=yes"], "train.channels_last must be bool, got 'yes'"),
        (["env.observation_scale=1,0,1,1"], "env.observation_scale must be > 0"),
        (["env.observation_scale=1,x"], "env.observation_scale must be a list of float"),
        (
            ["selfplay.max_env_steps_per_train_step=0.25"],
            "is 0.25 x 2.5 = 0.625: a paced worker and the trainer would wait on each other",
        ),
        (
            ["train.warmup_transitions=501"],
            "selfplay.pace_free_steps (500) is below train.warmup_transitions (501)",
        ),
    ],
)
def test_bad_overrides_name_the_problem(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config(REPO / "configs" / "cartpole.toml", overrides)
    assert message in str(error.value)


def test_unknown_key_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[search]\nwidht = 3\n")
    with pytest.raises(ConfigError, match=r"bad.toml: unknown key search.widht"):
        load_config(path)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "broken.toml").write_text("[search\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "broken.toml")


def selfplay(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "selfplay.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "search.widht=4"], "error: --set: unknown key search.widht"),
        (["--set", "search.width=x"], "error: --set: search.width must be int, got 'x'"),
        (["--set", "env.id=NoSuchEnv-v0"], "error: unknown environment id 'NoSuchEnv-v0'"),
        (["--set", "env.id=Pendulum-v1"], "only Discrete is supported"),
        (
            ["--config", "configs/missing.toml"],
            "error: config file 'configs/missing.toml' not found",
        ),
    ],
)
def test_cli_errors_are_one_line_with_exit_status_2(tmp_path, args, message):
    base = ["--config", "configs/cartpole.toml", "--data-dir", str(tmp_path), "--games", "1"]
    result = selfplay(*base, *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_the_truncated_search_refuses_one_candidate_and_the_others_do_not_care():
    with pytest.raises(ConfigError, match=r"search\.width must be >= 2 for the truncated search"):
        load_config(None, ["search.kind=truncated", "search.width=1"])
    for kind in ("mcts", "gumbel"):  # they do not read the width
        assert load_config(None, [f"search.kind={kind}", "search.width=1"]).search.width == 1
