"""Settings: one dataclass per part, loaded from a TOML file and overridable with `--set`.

A config file has one table per section (`[env]`, `[network]`, `[search]`, `[selfplay]`,
`[train]`, `[launch]`); every key is a field of that section's dataclass. `[search]` holds what
every search kind shares and a table per kind (`[search.truncated]`, `[search.mcts]`,
`[search.gumbel]`), set on the command line as `--set search.mcts.simulations=8`. Unknown sections
or keys, and values of the wrong type, are errors that name the valid choices, so a typo never
silently falls back to a default; a key of an earlier version still works, with a warning that
names its new key (RENAMED_KEYS).
"""

import copy
import dataclasses
import sys
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """A bad setting, file or environment: reported as one line, exit status 2."""


@dataclass
class EnvConfig:
    id: str = "CartPole-v1"
    """Gymnasium environment id (Mario: `SuperMarioBros-v0` with `stages`, or one stage's id)."""
    stages: list[str] = field(default_factory=list)
    """Mario only: stages such as "1-1" to sample one from per episode; empty plays `id` as is."""
    actions: str = "simple"
    """Mario only: button combinations, one of right_only, simple, complex."""
    max_episode_steps: int = 500
    """Agent steps per episode; reaching it truncates the episode (bootstrapped, not terminal)."""
    frame_skip: int = 4
    """Pixels only: emulator frames per agent step, max-pooled over the last two."""
    frame_size: int = 84
    """Pixels only: frames are resized to frame_size x frame_size."""
    grayscale: bool = True
    """Pixels only: convert frames to one grayscale channel."""
    stack: int = 4
    """Observations stacked as the network's input, each with the action that led to it."""
    observation_scale: list[float] = field(default_factory=list)
    """Vectors only: each feature is multiplied by its entry before games store it and the
    network sees it, to bring features of very different ranges to similar ones (empty: as
    the environment gives them)."""
    flag_bonus: float = 0.0
    """Mario only: reward added to the step that reaches the flag (`flag_get`), on top of the
    game's own reward; games record it, and a trainer refuses games of another bonus."""
    no_progress_steps: int = 0
    """Mario only: a game is truncated (not terminated: its value is bootstrapped) after this many
    agent steps without a new largest x_pos (0: never). Greedy evaluation plays without it
    unless asked (`evaluate.py --no-progress-steps`)."""


@dataclass
class NetworkConfig:
    channels: int = 32
    """Pixels: channels of the convolutional hidden state."""
    blocks: int = 1
    """Pixels: residual blocks in the representation and dynamics networks."""
    hidden_size: int = 64
    """Vectors: size of the hidden state."""
    head_size: int = 64
    """Hidden units of the value, reward, policy and exploration heads."""
    support_size: int = 20
    """Value and reward are categorical over the integers -support_size..support_size of h(x)."""
    projection_size: int = 0
    """The consistency loss (train.consistency_weight) compares hidden states through a projector
    (hidden state -> this many features, both sides) and a predictor (dynamics side only), the
    observed side a detached target, as in EfficientZero; 0: the hidden states themselves."""


@dataclass
class TruncatedSearchConfig:
    """`[search.truncated]`: the policy-ranked look-ahead (`search/truncated.py`)."""

    width: int = 3
    """Number of top-ranked actions that are looked ahead."""
    depth: int = 3
    """Steps unrolled per candidate (depth + 1 network calls per move)."""
    beta_start: float = 3.0
    """Acting temperature at train step 0: actions are sampled with p ~ exp(beta * normalised Q)."""
    beta_end: float = 15.0
    """Acting temperature once the trainer reaches beta_steps."""
    beta_steps: int = 20_000
    """Train steps over which beta rises linearly from beta_start to beta_end."""


@dataclass
class MctsConfig:
    """`[search.mcts]`: MuZero's PUCT tree search (`search/mcts.py`)."""

    simulations: int = 50
    """Simulations per move, each expanding one leaf with one dynamics step."""
    parallel_simulations: int = 4
    """Simulations whose leaves share one batched network call, kept apart by virtual loss."""
    c1: float = 1.25
    """PUCT exploration weight c1 (MuZero's 1.25)."""
    c2: float = 19652.0
    """PUCT constant c2; the weight grows by log((N + c2 + 1) / c2) (MuZero's 19652)."""
    dirichlet_alpha: float = 0.25
    """Concentration of the Dirichlet noise mixed into the root prior in self-play."""
    noise_fraction: float = 0.25
    """Root prior = (1 - fraction) prior + fraction noise in self-play (none when greedy)."""
    temperatures: list[float] = field(default_factory=lambda: [1.0, 0.5, 0.25])
    """Self-play acts with p(a) ~ N(a)^(1/T), T stepping through these (0: most visits)."""
    temperature_steps: list[int] = field(default_factory=lambda: [10_000, 15_000])
    """Train steps at which T moves to the next of `temperatures` (one fewer entry)."""


@dataclass
class GumbelConfig:
    """`[search.gumbel]`: Gumbel MuZero's sequential halving at the root (`search/gumbel.py`)."""

    simulations: int = 50
    """Simulations per move, each expanding one leaf with one dynamics step."""
    actions: int = 16
    """m, the root actions sampled without replacement and then sequentially halved."""
    c_visit: float = 50.0
    """c_visit in sigma(q) = (c_visit + max_b N(b)) * c_scale * q."""
    c_scale: float = 0.1
    """c_scale in sigma(q) = (c_visit + max_b N(b)) * c_scale * q."""


@dataclass
class SearchConfig:
    """`[search]`: which search acts, the discount, and each kind's own table."""

    kind: str = "truncated"
    """Search algorithm: "truncated" (policy-ranked look-ahead), "mcts" (MuZero) or "gumbel"."""
    discount: float = 0.997
    """Per-step discount of returns, used by the search and by the trainer's value targets."""
    truncated: TruncatedSearchConfig = field(default_factory=TruncatedSearchConfig)
    """Settings of the truncated search (search.kind = "truncated")."""
    mcts: MctsConfig = field(default_factory=MctsConfig)
    """Settings of MCTS (search.kind = "mcts")."""
    gumbel: GumbelConfig = field(default_factory=GumbelConfig)
    """Settings of the Gumbel search (search.kind = "gumbel")."""


@dataclass
class SelfPlayConfig:
    envs: int = 1
    """Game slots per worker: games played side by side, every move of all of them searched in
    one batched network call per search step; a slot starts its next game as soon as one ends."""
    gif_every: int = 1
    """Write a GIF of every n-th game (1: every game, 0: never)."""
    gif_fps: int = 15
    """Frames per second of the GIFs (Mario at frame skip 4 plays in real time at 15)."""
    threads: int = 1
    """PyTorch threads per worker, so that several workers and a trainer share the cores."""
    device: str = "cpu"
    """Device for the worker's network: cpu or cuda."""
    precision: str = "auto"
    """Of the worker's network calls (inference only): float32, bfloat16 or float16 (CUDA only),
    under autocast, or auto: bfloat16 for a pixel network with 8 or more game slots on a CPU with
    bf16 instructions (or a GPU with bfloat16; float16 on one without), else float32 (one stack
    per call measured slower in bfloat16). Evaluation plays in float32."""
    max_env_steps_per_train_step: float = 0.0
    """Pace: start no new game while this worker's env steps exceed pace_free_steps plus this
    many per trainer step since it started; games in progress play on (0: never hold back)."""
    pace_free_steps: int = 0
    """Pace: env steps a worker may play before the trainer's progress counts (e.g. its warm-up)."""
    keep_games: int = 0
    """Retention: newest game files kept in games/; older ones go after each write (0: keep all)."""
    max_games_mb: float = 0.0
    """Retention: games/ is kept under this many MB (10^6 bytes), oldest first (0: no limit)."""
    keep_gifs: int = 0
    """Retention: newest GIFs kept in gifs/ (0: keep all); subfolders (best/, eval/) are kept."""
    max_gifs_mb: float = 0.0
    """Retention: gifs/ is kept under this many MB (10^6 bytes), oldest first (0: no limit)."""


@dataclass
class TrainConfig:
    batch_size: int = 128
    """Positions per training step."""
    unroll_steps: int = 5
    """K: steps the dynamics network is unrolled from each sampled position."""
    td_steps: int = 10
    """n: rewards summed before the value target bootstraps (see `bootstrap`)."""
    bootstrap: str = "stored"
    """What an n-step value target bootstraps from: "stored", the search's root value saved with
    the game; or "fresh", the value a target network (a copy of the trainer's network, refreshed
    every `target_update_every` steps) gives that state now, at one more forward pass per sample."""
    target_update_every: int = 100
    """With bootstrap = "fresh": training steps between copies of the network into the target."""
    learning_rate: float = 1e-3
    """AdamW learning rate."""
    ema_decay: float = 0.0
    """Acting weights: checkpoints give the workers and evaluation an exponential moving average
    of the trained weights, ema = decay * ema + (1 - decay) * weights after every step, which
    smooths out the step-to-step noise of the greedy policy (0: the trained weights as they are)."""
    weight_decay: float = 0.1
    """AdamW decoupled weight decay: each step multiplies the weights by (1 - learning_rate x
    weight_decay), 1 - 1e-4 at the defaults (BENCHMARKS.md: 0.1 against 0.01 on CartPole)."""
    decay_biases_and_norms: bool = True
    """Weight decay on biases and normalisation parameters too (false: only on the weights of
    linear and convolutional layers; measured worse on CartPole)."""
    max_grad_norm: float = 10.0
    """Gradients are clipped to this global norm (0: no clipping)."""
    max_skipped_steps: int = 100
    """A step whose loss or gradient is not finite is skipped (nothing changes); after this many
    skipped steps in a row the trainer stops with one line."""
    exploration_fraction: float = 0.1
    """The policy loss is reduced by this fraction of the exploration network's loss."""
    consistency_weight: float = 0.0
    """Weight of the consistency loss: the hidden state the dynamics reach against the
    representation of the state really observed (0: off, as in MuZero)."""
    consistency_steps: int = 0
    """Unroll steps per position the consistency loss compares, drawn at random without
    replacement (0: all K). Each costs one more representation pass per position (its cost on
    Mario is in BENCHMARKS.md)."""
    augment_shift: int = 0
    """Pixels only: each sampled observation stack is shifted by up to this many pixels in each
    direction (one random shift for all frames of a stack; edges repeated), as the trainer sees
    it (0: off). Self-play and evaluation always see the frames as they are."""
    replay_capacity: int = 100_000
    """Transitions kept in replay; the oldest games leave first."""
    priority_alpha: float = 0.6
    """Priorities are (|value target - predicted value| + eps) ** alpha (0: uniform sampling)."""
    priority_beta_start: float = 0.4
    """Importance-weight exponent at step 0, annealed linearly to 1."""
    priority_beta_steps: int = 10_000
    """Train steps over which the importance-weight exponent reaches 1."""
    warmup_transitions: int = 1_000
    """Transitions in replay before the first training step."""
    replay_ratio: float = 0.25
    """At most this many training steps per transition loaded, so training waits for new games."""
    checkpoint_every: int = 100
    """Write a checkpoint every this many training steps (and at the end)."""
    keep_checkpoints: int = 5
    """Newest checkpoints kept; older ones are deleted."""
    poll_seconds: float = 2.0
    """How often games/ is scanned for new games."""
    log_every: int = 10
    """Training steps between metric rows and progress lines."""
    device: str = "auto"
    """cpu, cuda, or auto (cuda when available)."""
    threads: int = 1
    """PyTorch threads for the trainer."""
    precision: str = "auto"
    """Of the network passes in training: float32, bfloat16 or float16 (mixed precision: weights,
    optimizer and losses stay float32; float16 only on a CUDA GPU, with a gradient scaler), or
    auto: bfloat16 on a GPU that has it, else float16; on a CPU, bfloat16 where the CPU has bf16
    instructions and a short measurement at start finds it faster, else float32. float32 turns
    mixed precision off."""
    channels_last: bool = True
    """Pixel networks keep activations [B, H, W, C] in memory, which convolutions run faster."""
    compile: bool = False
    """torch.compile the representation network (needs a C++ compiler on a CPU, Triton on a GPU;
    without one, or if compiling fails, it runs as it is; the first step takes some seconds
    longer). configs/mario.toml turns it on: BENCHMARKS.md has what it paid there."""


@dataclass
class LaunchConfig:
    workers: int = 0
    """Self-play workers started beside the trainer (0: one per CPU core beyond the first)."""
    status_seconds: float = 10.0
    """Seconds between the launcher's combined progress lines."""


@dataclass
class Config:
    env: EnvConfig = field(default_factory=EnvConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    selfplay: SelfPlayConfig = field(default_factory=SelfPlayConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    launch: LaunchConfig = field(default_factory=LaunchConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Every setting as plain data, a dict per table (search's kinds nested in search's)."""
        return dataclasses.asdict(self)


RENAMED_KEYS: dict[str, tuple[str, ...]] = {
    "search.width": ("search.truncated.width",),
    "search.depth": ("search.truncated.depth",),
    "search.beta_start": ("search.truncated.beta_start",),
    "search.beta_end": ("search.truncated.beta_end",),
    "search.beta_steps": ("search.truncated.beta_steps",),
    "search.simulations": ("search.mcts.simulations", "search.gumbel.simulations"),
    "search.parallel_simulations": ("search.mcts.parallel_simulations",),
    "search.c1": ("search.mcts.c1",),
    "search.c2": ("search.mcts.c2",),
    "search.dirichlet_alpha": ("search.mcts.dirichlet_alpha",),
    "search.root_exploration_fraction": ("search.mcts.noise_fraction",),
    "search.temperatures": ("search.mcts.temperatures",),
    "search.temperature_steps": ("search.mcts.temperature_steps",),
    "search.gumbel_actions": ("search.gumbel.actions",),
    "search.gumbel_c_visit": ("search.gumbel.c_visit",),
    "search.gumbel_c_scale": ("search.gumbel.c_scale",),
}
"""Keys of earlier versions and the keys each now sets (the one flat `[search]` table became a
table per search kind): they still load, with one warning line each."""


def load_config(path: str | Path | None, overrides: list[str] = ()) -> Config:
    """Config from a TOML file (defaults where None), then `section.key=value` overrides.

    A key of an earlier version (RENAMED_KEYS) still sets its new key, with one warning line on
    stderr per key and call."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} not found (see configs/ for examples)")
        try:
            raw = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"config file {str(path)!r} is not valid TOML: {e}") from None
    source = str(path) if path is not None else "defaults"
    config = Config()
    warned: set[str] = set()
    for section, table in raw.items():
        _assign(config, section, table, source, warned)
    for item in overrides:
        section, table = _parse_override(item)
        _assign(config, section, table, "--set", warned)
    validate(config)
    return config


def upgrade_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Saved settings (a `Config.to_dict()`, such as a checkpoint's) under today's keys: those of
    an earlier version (RENAMED_KEYS) move to their new keys, without a warning; the rest stay."""
    upgraded = copy.deepcopy(settings)
    for old, new_names in RENAMED_KEYS.items():
        section, key = old.split(".")
        table = upgraded.get(section)
        if not isinstance(table, dict) or key not in table:
            continue
        value = table.pop(key)
        for new in new_names:
            *tables, name = new.split(".")
            part = upgraded
            for t in tables:
                part = part.setdefault(t, {})
            part[name] = copy.deepcopy(value)
    return upgraded


def _parse_override(item: str) -> tuple[str, Any]:
    """`section.key=value` -> (section, {key: value}), `search.mcts.c1=2` -> ("search",
    {"mcts": {"c1": 2}}), as TOML would give it; the value is read as TOML, else a string."""
    name, sep, text = item.partition("=")
    section, *keys = [part.strip() for part in name.split(".")]
    if not sep or not section or not keys or not all(keys):
        raise ConfigError(
            f"--set {item!r}: expected section.key=value, e.g. search.truncated.width=4"
        )
    value = _parse_value(text)
    for key in reversed(keys):
        value = {key: value}
    return section, value


def _parse_value(text: str) -> Any:
    """A command-line value read as TOML (4, 0.5, true, [1, 2]), else as the plain string."""
    try:
        return tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def _assign(config: Config, name: str, value: Any, source: str, warned: set[str]) -> None:
    """Set the setting `name` (dotted, "search.mcts.c1"; the tables above it exist) to `value`,
    or, where `name` is a table and `value` a dict, each of its keys."""
    if name in RENAMED_KEYS:
        _warn_renamed(name, warned)
        for new in RENAMED_KEYS[name]:
            _assign(config, new, value, source, warned)
        return
    *tables, key = name.split(".")
    part = config
    for table in tables:
        part = getattr(part, table)
    hints = typing.get_type_hints(type(part))
    if key not in hints:
        raise ConfigError(f"{source}: {_unknown(tables, key, hints)}")
    kind = hints[key]
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise ConfigError(
                f"{source}: {name} is a table [{name}], not a value ({value!r}); its keys: "
                f"{_names(typing.get_type_hints(kind))}"
            )
        # a table's old keys first, so that its new keys win wherever the file puts them
        for sub, item in sorted(
            value.items(), key=lambda kv: f"{name}.{kv[0]}" not in RENAMED_KEYS
        ):
            _assign(config, f"{name}.{sub}", item, source, warned)
    elif isinstance(value, dict):
        raise ConfigError(f"{source}: {name} is a value of type {_type_name(kind)}, not a table")
    else:
        setattr(part, key, _coerce(value, kind, name, source))


def _unknown(tables: list[str], key: str, hints: dict[str, Any]) -> str:
    """`unknown key search.widht; valid keys: discount, kind; tables: search.gumbel, ...`."""
    if not tables:
        return f"unknown section [{key}]; sections: {_names(hints)}"
    prefix = ".".join(tables)
    values = [k for k, kind in hints.items() if not dataclasses.is_dataclass(kind)]
    message = f"unknown key {prefix}.{key}; valid keys: {_names(values)}"
    if subtables := [f"{prefix}.{k}" for k in hints if k not in values]:
        message += f"; tables: {_names(subtables)}"
    return message


def _warn_renamed(name: str, warned: set[str]) -> None:
    """One stderr line the first time an earlier version's key is met."""
    if name not in warned:
        warned.add(name)
        new = " and ".join(RENAMED_KEYS[name])
        print(
            f"warning: {name} is now {new} (old keys will stop working in a later version)",
            file=sys.stderr,
            flush=True,
        )


def _type_name(kind: Any) -> str:
    return str(kind) if typing.get_origin(kind) else kind.__name__


def _coerce(value: Any, kind: Any, name: str, source: str) -> Any:
    """Check `value` against the field's type; ints widen to floats, "a,b" splits into a list."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typing.get_origin(kind) is list:
        if isinstance(value, str):
            value = [_parse_value(v) for v in value.split(",") if v.strip()]
        (item,) = typing.get_args(kind)
        if isinstance(value, list):
            try:
                return [_coerce(v, item, name, source) for v in value]
            except ConfigError:
                pass
        raise ConfigError(f"{source}: {name} must be a list of {item.__name__}, got {value!r}")
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{source}: {name} must be {kind.__name__}, got {value!r}")


def validate(config: Config) -> None:
    """Range checks that no type can express."""
    checks = [
        (config.env.max_episode_steps >= 1, "env.max_episode_steps must be >= 1"),
        (config.env.frame_skip >= 1, "env.frame_skip must be >= 1"),
        (config.env.frame_size >= 16, "env.frame_size must be >= 16"),
        (config.env.stack >= 1, "env.stack must be >= 1"),
        (all(v > 0 for v in config.env.observation_scale), "env.observation_scale must be > 0"),
        (config.env.flag_bonus >= 0, "env.flag_bonus must be >= 0"),
        (config.env.no_progress_steps >= 0, "env.no_progress_steps must be >= 0 (0: never)"),
        (config.network.support_size >= 1, "network.support_size must be >= 1"),
        (
            config.search.kind in ("truncated", "mcts", "gumbel"),
            "search.kind must be one of: truncated, mcts, gumbel",
        ),
        (0.0 < config.search.discount <= 1.0, "search.discount must be in (0, 1]"),
        *_search_checks(config.search),
        (config.selfplay.envs >= 1, "selfplay.envs must be >= 1"),
        (config.selfplay.gif_every >= 0, "selfplay.gif_every must be >= 0"),
        (1 <= config.selfplay.gif_fps <= 50, "selfplay.gif_fps must be between 1 and 50"),
        (config.selfplay.threads >= 1, "selfplay.threads must be >= 1"),
        (config.selfplay.device in ("cpu", "cuda"), "selfplay.device must be cpu or cuda"),
        (config.selfplay.max_env_steps_per_train_step >= 0, "selfplay pace must be >= 0"),
        (config.selfplay.pace_free_steps >= 0, "selfplay.pace_free_steps must be >= 0"),
        (config.selfplay.keep_games >= 0, "selfplay.keep_games must be >= 0 (0: keep all)"),
        (config.selfplay.max_games_mb >= 0, "selfplay.max_games_mb must be >= 0 (0: no limit)"),
        (config.selfplay.keep_gifs >= 0, "selfplay.keep_gifs must be >= 0 (0: keep all)"),
        (config.selfplay.max_gifs_mb >= 0, "selfplay.max_gifs_mb must be >= 0 (0: no limit)"),
        (config.train.batch_size >= 1, "train.batch_size must be >= 1"),
        (config.train.unroll_steps >= 1, "train.unroll_steps must be >= 1"),
        (config.train.td_steps >= 1, "train.td_steps must be >= 1"),
        (config.train.bootstrap in ("stored", "fresh"), "train.bootstrap must be stored or fresh"),
        (config.train.target_update_every >= 1, "train.target_update_every must be >= 1"),
        (config.train.learning_rate > 0, "train.learning_rate must be > 0"),
        (0 <= config.train.ema_decay < 1, "train.ema_decay must be in [0, 1)"),
        (config.train.consistency_weight >= 0, "train.consistency_weight must be >= 0"),
        (
            0 <= config.train.consistency_steps <= config.train.unroll_steps,
            "train.consistency_steps must be in 0..train.unroll_steps (0: all)",
        ),
        (config.network.projection_size >= 0, "network.projection_size must be >= 0 (0: none)"),
        (config.train.augment_shift >= 0, "train.augment_shift must be >= 0 (0: off)"),
        (
            config.train.augment_shift < config.env.frame_size,
            "train.augment_shift must be below env.frame_size (DrQ shifts 84-pixel frames by 4)",
        ),
        (
            config.network.projection_size == 0 or config.train.consistency_weight > 0,
            "network.projection_size serves the consistency loss alone: set "
            "train.consistency_weight > 0, or projection_size = 0",
        ),
        (config.train.weight_decay >= 0, "train.weight_decay must be >= 0"),
        (config.train.max_skipped_steps >= 1, "train.max_skipped_steps must be >= 1"),
        (config.train.replay_capacity >= 1, "train.replay_capacity must be >= 1"),
        (config.train.priority_alpha >= 0, "train.priority_alpha must be >= 0"),
        (0 <= config.train.priority_beta_start <= 1, "train.priority_beta_start must be in [0, 1]"),
        (config.train.replay_ratio > 0, "train.replay_ratio must be > 0"),
        (config.train.checkpoint_every >= 1, "train.checkpoint_every must be >= 1"),
        (config.train.keep_checkpoints >= 1, "train.keep_checkpoints must be >= 1"),
        (config.train.log_every >= 1, "train.log_every must be >= 1"),
        (config.train.threads >= 1, "train.threads must be >= 1"),
        (config.train.device in ("auto", "cpu", "cuda"), "train.device must be auto, cpu or cuda"),
        (
            config.train.precision in ("auto", "float32", "bfloat16", "float16"),
            "train.precision must be auto, float32, bfloat16 or float16",
        ),
        (
            config.selfplay.precision in ("auto", "float32", "bfloat16", "float16"),
            "selfplay.precision must be auto, float32, bfloat16 or float16",
        ),
        (config.launch.workers >= 0, "launch.workers must be >= 0 (0: fitted to the cores)"),
        (config.launch.status_seconds > 0, "launch.status_seconds must be > 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    _check_pacing(config)


def _search_checks(search: SearchConfig) -> list[tuple[bool, str]]:
    """Range checks of each search kind's table."""
    t, m, g = search.truncated, search.mcts, search.gumbel
    return [
        (t.width >= 1, "search.truncated.width must be >= 1"),
        (
            search.kind != "truncated" or t.width >= 2,
            "search.truncated.width must be >= 2 for the truncated search: with one candidate "
            "every action gets its Q, and the policy it learns and acts on is uniform",
        ),
        (t.depth >= 1, "search.truncated.depth must be >= 1"),
        (m.simulations >= 1, "search.mcts.simulations must be >= 1"),
        (m.parallel_simulations >= 1, "search.mcts.parallel_simulations must be >= 1"),
        (m.c1 >= 0, "search.mcts.c1 must be >= 0"),
        (m.c2 > 0, "search.mcts.c2 must be > 0"),
        (m.dirichlet_alpha > 0, "search.mcts.dirichlet_alpha must be > 0"),
        (0 <= m.noise_fraction <= 1, "search.mcts.noise_fraction must be in [0, 1]"),
        (
            len(m.temperatures) == len(m.temperature_steps) + 1,
            "search.mcts.temperatures must have one more entry than search.mcts.temperature_steps",
        ),
        (min(m.temperatures, default=0) >= 0, "search.mcts.temperatures must be >= 0"),
        (
            m.temperature_steps == sorted(set(m.temperature_steps)),
            "search.mcts.temperature_steps must be increasing",
        ),
        (g.simulations >= 1, "search.gumbel.simulations must be >= 1"),
        (g.actions >= 1, "search.gumbel.actions must be >= 1"),
        (g.c_visit >= 0, "search.gumbel.c_visit must be >= 0"),
        (g.c_scale > 0, "search.gumbel.c_scale must be > 0"),
    ]


def _check_pacing(config: Config) -> None:
    """A paced worker and the trainer must not end up waiting on each other.

    A worker waits while its env steps exceed pace_free_steps + pace x train steps; the trainer
    waits while its steps exceed replay_ratio x env steps loaded. With one worker both stop for
    good if pace x replay_ratio < 1 (at replay_ratio x pace_free_steps / (1 - pace x replay_ratio)
    train steps), or if the free steps never fill the trainer's warm-up.
    """
    sp, tc = config.selfplay, config.train
    pace = sp.max_env_steps_per_train_step
    if pace <= 0:
        return
    if pace * tc.replay_ratio < 1:
        raise ConfigError(
            f"selfplay.max_env_steps_per_train_step x train.replay_ratio is {pace:g} x "
            f"{tc.replay_ratio:g} = {pace * tc.replay_ratio:g}: a paced worker and the trainer "
            "would wait on each other; raise either so that the product is at least 1"
        )
    if sp.pace_free_steps < tc.warmup_transitions:
        raise ConfigError(
            f"selfplay.pace_free_steps ({sp.pace_free_steps}) is below "
            f"train.warmup_transitions ({tc.warmup_transitions}): a paced worker would wait for "
            "a trainer that waits for its warm-up"
        )


def _names(keys: Any) -> str:
    return ", ".join(sorted(keys))
