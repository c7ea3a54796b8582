"""Settings files, --set overrides, and one clear line with exit status 2 for each mistake."""

import subprocess
import sys

import pytest
from conftest import REPO

from muzero_lite.config import ConfigError, load_config, upgrade_settings


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
            "search.truncated.width=4",
            "search.discount=1",
            "env.grayscale=false",
            "env.stages=1-1,4-1",
            "env.id=X",
        ],
    )
    assert config.search.truncated.width == 4
    assert config.search.discount == 1.0 and isinstance(config.search.discount, float)
    assert config.env.grayscale is False
    assert config.env.stages == ["1-1", "4-1"]
    assert config.env.id == "X"


def test_list_overrides_take_commas_or_toml_and_widen_ints():
    config = load_config(
        None, ["search.mcts.temperatures=1,0.5,0", "search.mcts.temperature_steps=[10, 20]"]
    )
    assert config.search.mcts.temperatures == [1.0, 0.5, 0.0]
    assert all(isinstance(t, float) for t in config.search.mcts.temperatures)
    assert config.search.mcts.temperature_steps == [10, 20]
    with pytest.raises(ConfigError, match="must be a list of int"):
        load_config(None, ["search.mcts.temperature_steps=1,x"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["search.truncated.widht=4"],
            "unknown key search.truncated.widht; valid keys: beta_end, beta_start",
        ),
        (
            ["serch.width=4"],
            "unknown section [serch]; sections: env, launch, network, search, selfplay, train",
        ),
        (["search.truncated.width=four"], "search.truncated.width must be int, got 'four'"),
        (["search.truncated.width=2.5"], "search.truncated.width must be int, got 2.5"),
        (["env.grayscale=1"], "env.grayscale must be bool, got 1"),
        (["search.truncated.width"], "expected section.key=value"),
        (["search.truncated.depth=0"], "search.truncated.depth must be >= 1"),
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
        (
            ["--set", "search.truncated.width=x"],
            "error: --set: search.truncated.width must be int, got 'x'",
        ),
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
    with pytest.raises(
        ConfigError, match=r"search\.truncated\.width must be >= 2 for the truncated search"
    ):
        load_config(None, ["search.kind=truncated", "search.truncated.width=1"])
    for kind in ("mcts", "gumbel"):  # they do not read the width
        overrides = [f"search.kind={kind}", "search.truncated.width=1"]
        assert load_config(None, overrides).search.truncated.width == 1


LATER = "(old keys will stop working in a later version)"


def test_each_search_kind_has_its_own_table(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        '[search]\nkind = "mcts"\ndiscount = 0.9\n\n'
        "[search.mcts]\nsimulations = 8\nc1 = 2\n\n[search.gumbel]\nactions = 4\n"
    )
    config = load_config(path)
    assert config.search.kind == "mcts" and config.search.discount == 0.9
    assert config.search.mcts.simulations == 8 and config.search.mcts.c1 == 2.0
    assert config.search.gumbel.actions == 4 and config.search.gumbel.simulations == 50
    assert config.to_dict()["search"]["mcts"]["simulations"] == 8


def test_a_dotted_sub_key_sets_one_kind_without_a_warning(capsys):
    config = load_config(None, ["search.mcts.simulations=8", "search.gumbel.c_scale=0.5"])
    assert (config.search.mcts.simulations, config.search.gumbel.simulations) == (8, 50)
    assert config.search.gumbel.c_scale == 0.5
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("file_text", "overrides"),
    [
        ("[search]\nwidth = 4\n", []),
        ("", ["search.width=4"]),
        ("[search]\nwidth = 2\n", ["search.width=4"]),  # met twice: still one line
    ],
)
def test_an_old_flat_key_sets_its_new_key_with_one_warning_line(
    tmp_path, capsys, file_text, overrides
):
    path = tmp_path / "old.toml"
    path.write_text(file_text)
    assert load_config(path, overrides).search.truncated.width == 4
    assert capsys.readouterr().err.splitlines() == [
        f"warning: search.width is now search.truncated.width {LATER}"
    ]


def test_the_old_simulations_key_sets_both_kinds_and_names_both_new_keys(capsys):
    config = load_config(None, ["search.simulations=8"])
    assert (config.search.mcts.simulations, config.search.gumbel.simulations) == (8, 8)
    assert capsys.readouterr().err.splitlines() == [
        "warning: search.simulations is now search.mcts.simulations and "
        f"search.gumbel.simulations {LATER}"
    ]


@pytest.mark.parametrize("gumbel_first", [True, False])
def test_a_new_key_wins_over_the_old_one_in_the_same_file_wherever_it_stands(
    tmp_path, gumbel_first
):
    old, new = "[search]\nsimulations = 8\n", "[search.gumbel]\nsimulations = 20\n"
    path = tmp_path / "both.toml"
    path.write_text(new + old if gumbel_first else old + new)
    config = load_config(path)
    assert (config.search.mcts.simulations, config.search.gumbel.simulations) == (8, 20)


def test_the_old_root_exploration_fraction_is_the_mcts_noise_fraction(capsys):
    config = load_config(None, ["search.root_exploration_fraction=0.4"])
    assert config.search.mcts.noise_fraction == 0.4
    assert capsys.readouterr().err.splitlines() == [
        f"warning: search.root_exploration_fraction is now search.mcts.noise_fraction {LATER}"
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["search.mcts.simulation=8"],
            "--set: unknown key search.mcts.simulation; valid keys: c1, c2, dirichlet_alpha, "
            "noise_fraction, parallel_simulations, simulations, temperature_steps, temperatures",
        ),
        (
            ["search.widht=4"],
            "--set: unknown key search.widht; valid keys: discount, kind; "
            "tables: search.gumbel, search.mcts, search.truncated",
        ),
        (
            ["search.mcts=8"],
            "--set: search.mcts is a table [search.mcts], not a value (8); its keys: c1, c2,",
        ),
        (
            ["search.truncated.width.x=4"],
            "--set: search.truncated.width is a value of type int, not a table",
        ),
    ],
)
def test_unknown_sub_keys_and_tables_in_place_of_values_name_the_valid_keys(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, overrides)
    assert str(error.value).startswith(message)


def test_a_table_in_a_file_where_a_value_belongs_is_refused(tmp_path):
    path = tmp_path / "mixed.toml"
    path.write_text("[search.truncated.width]\nx = 4\n")
    with pytest.raises(
        ConfigError, match=r"mixed.toml: search.truncated.width is a value of type int"
    ):
        load_config(path)
    path.write_text("search = 3\n")
    with pytest.raises(ConfigError, match=r"mixed.toml: search is a table \[search\], not a value"):
        load_config(path)


def test_saved_settings_under_the_old_flat_keys_move_to_their_tables():
    saved = {
        "search": {"kind": "mcts", "width": 2, "simulations": 8, "gumbel_c_scale": 0.5},
        "train": {"batch_size": 16},
    }
    assert upgrade_settings(saved) == {
        "search": {
            "kind": "mcts",
            "truncated": {"width": 2},
            "mcts": {"simulations": 8},
            "gumbel": {"simulations": 8, "c_scale": 0.5},
        },
        "train": {"batch_size": 16},
    }
    assert saved["search"]["width"] == 2  # the saved dict is left as it was
