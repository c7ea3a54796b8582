"""Checkpoints: the network for a config, atomic saves named by step, weights-only loads.

`checkpoints/step-00000040.pt` holds {"step", "architecture", "acting_weights"} for the workers
and, for the trainer's resume, whatever else the trainer adds (optimizer state, settings, and
"trained_weights" when they differ from the acting ones). Every value is a tensor or plain data,
so `torch.load(weights_only=True)` reads it without running any code. `read_checkpoint` is the
one reader; it gives a checkpoint written under earlier names in today's (`upgrade_checkpoint`).
No checkpoint with a NaN or infinite weight is ever written, and one that holds such weights (from
an older version, say) is refused on reading: the newest finite checkpoint is used instead.
"""

import dataclasses
import re
from typing import Any

import torch

from muzero_lite.config import Config, EnvConfig, upgrade_settings
from muzero_lite.envs import Environment, is_mario
from muzero_lite.finite import nonfinite_tensors
from muzero_lite.game_limits import compared_settings, env_settings
from muzero_lite.storage import Location, publish, readable
from networks import Architecture, MuZeroNet

NAME = re.compile(r"^step-(\d{8,})\.pt$")


class CheckpointError(Exception):
    """A checkpoint that cannot be read; the message says why in one line."""


class ArchitectureMismatch(CheckpointError):
    """A checkpoint made for another network; the message names the settings that differ."""


class SettingsMismatch(CheckpointError):
    """A checkpoint trained on games of other env settings than the reader's config."""


class NonFiniteWeights(CheckpointError):
    """Weights with a NaN or an infinity: never written, and refused on reading."""


WEIGHTS = ("acting_weights", "trained_weights")  # the entries of a checkpoint that hold weights
RENAMED_ENTRIES = {"model": "acting_weights", "trained_model": "trained_weights"}
RENAMED_NETWORKS = {"representation.": "representation_net.", "dynamics_net.": "transition_net."}
"""Names that checkpoints written before these renames have: of their entries, and of the
networks that begin the names of their weights."""
ARCHITECTURE_DEFAULTS = {  # what a checkpoint written before a field existed had
    f.name: f.default
    for f in dataclasses.fields(Architecture)
    if f.default is not dataclasses.MISSING
}


def architecture_for(config: Config, env: Environment) -> Architecture:
    n = config.network
    return Architecture(
        observation_shape=tuple(env.observation_shape),
        num_actions=env.num_actions,
        stack=config.env.stack,
        pixels=env.pixels,
        channels=n.channels,
        blocks=n.blocks,
        hidden_size=n.hidden_size,
        head_size=n.head_size,
        support_size=n.support_size,
        projection_size=n.projection_size,
    )


def checkpoint_path(directory: Location, step: int) -> Location:
    return directory / f"step-{step:08d}.pt"


def list_checkpoints(directory: Location) -> list[tuple[int, Location]]:
    """(step, path) of every complete checkpoint, oldest first (one listing)."""
    try:
        found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := NAME.match(p.name))]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(found)


def save_checkpoint(directory: Location, step: int, model: MuZeroNet, **extra: Any) -> Location:
    """Atomic save of weights (plus `extra` for resuming) as `step-<step>.pt`."""
    state = {
        "step": step,
        "architecture": model.arch.to_dict(),
        "acting_weights": model.state_dict(),
        **extra,
    }
    _check_finite(state, checkpoint_path(directory, step).name, "not written")
    directory.mkdir(parents=True, exist_ok=True)
    # A re-save of the same step replaces the old file in one atomic step.
    return publish(checkpoint_path(directory, step), lambda f: torch.save(state, f), replace=True)


def read_checkpoint(path: Location, arch: Architecture) -> dict[str, Any]:
    """A checkpoint's contents (weights only: no code runs), checked against `arch`."""
    try:  # a store that keeps failing is a StorageError, not a bad file: it is not caught here
        source = readable(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path.name} was deleted before it was read") from None
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"{path.name} cannot be read: {e}".splitlines()[0]) from None
    state = upgrade_checkpoint(state) if isinstance(state, dict) else None
    if state is None or not {"step", "architecture", "acting_weights"} <= state.keys():
        raise CheckpointError(f"{path.name} is not a MuZero-Lite checkpoint")
    saved = ARCHITECTURE_DEFAULTS | state["architecture"]  # fields added since: their defaults
    mismatch = [
        f"{key}={saved.get(key)!r} (this config: {value!r})"
        for key, value in arch.to_dict().items()
        if saved.get(key) != value
    ]
    if mismatch:
        raise ArchitectureMismatch(
            f"{path.name} was made for another network: {', '.join(mismatch)}; "
            "use the config it was trained with, or another --data-dir"
        )
    _check_finite(state, path.name, "unusable")
    return state


def upgrade_checkpoint(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's contents under today's names: an older one (it has a "model" entry) comes
    back with its entries and weights renamed (RENAMED_ENTRIES, RENAMED_NETWORKS), the same
    tensors in the same order; any other comes back as it is."""
    if "model" not in state:
        return state
    upgraded = {RENAMED_ENTRIES.get(key, key): value for key, value in state.items()}
    for key in WEIGHTS:
        if isinstance(upgraded.get(key), dict):
            upgraded[key] = {_renamed_weight(name): w for name, w in upgraded[key].items()}
    return upgraded


def _renamed_weight(name: str) -> str:
    """A weight's name under today's network names: `representation.0.weight` ->
    `representation_net.0.weight`."""
    for old, new in RENAMED_NETWORKS.items():
        if name.startswith(old):
            return new + name.removeprefix(old)
    return name


def _check_finite(state: dict[str, Any], name: str, verdict: str) -> None:
    """Raise NonFiniteWeights when any weight entry of a checkpoint holds a NaN or infinity."""
    for key in WEIGHTS:
        bad = nonfinite_tensors(state[key]) if isinstance(state.get(key), dict) else []
        if bad:
            more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
            raise NonFiniteWeights(
                f"{name} {verdict}: its weights hold NaN or infinite values ({key}: {bad[0]}{more})"
            )


def read_latest(
    directory: Location, arch: Architecture, newer_than: int = -1
) -> dict[str, Any] | None:
    """The newest readable checkpoint with a step above `newer_than`; None when there is none.

    A newest file that cannot be read (say, a disk error) or holds non-finite weights falls back
    to the one before it, with one warning line per file and process (a worker polls often); an
    architecture mismatch is an error, since every older checkpoint would mismatch too.
    """
    for step, path in reversed(list_checkpoints(directory)):
        if step <= newer_than:
            return None
        try:
            key = (str(path), path.stat().st_mtime_ns)
        except FileNotFoundError:  # pruned since the listing
            continue
        if key in _SKIPPED:
            continue
        try:
            return read_checkpoint(path, arch)
        except ArchitectureMismatch:
            raise
        except CheckpointError as e:
            if isinstance(e, NonFiniteWeights):  # a file that will never become usable
                _SKIPPED.add(key)
            print(f"warning: skipping checkpoint {e}", flush=True)
    return None


# Checkpoints this process found unusable, by (path, mtime): skipped without another read or
# warning until the file is replaced (a re-save of the same step gets a new mtime).
_SKIPPED: set[tuple[str, int]] = set()


def load_weights(path: Location, model: MuZeroNet) -> int:
    """Load a checkpoint's weights into `model`; returns its step."""
    state = read_checkpoint(path, model.arch)
    model.load_state_dict(state["acting_weights"])
    return int(state["step"])


def load_latest(
    directory: Location, model: MuZeroNet, newer_than: int = -1, env: EnvConfig | None = None
) -> int | None:
    """Load the newest checkpoint above `newer_than` into `model`; its step, or None.

    With `env` (a worker's), a checkpoint whose run records other env settings of those its
    games store is refused (SettingsMismatch): a worker started with another config, on another
    machine say, would only write games the trainer quarantines.
    """
    state = read_latest(directory, model.arch, newer_than)
    if state is None:
        return None
    if env is not None and (problem := env_conflict(state, env, pixels=model.arch.pixels)):
        raise SettingsMismatch(
            f"{checkpoint_path(directory, int(state['step'])).name} is of a run with {problem}; "
            "start this process with the run's config"
        )
    model.load_state_dict(state["acting_weights"])
    return int(state["step"])


def env_conflict(state: dict[str, Any], env: EnvConfig, *, pixels: bool) -> str | None:
    """The first env setting that games store (`game_limits.compared_settings`) on which the
    checkpoint's run and `env` differ, as `env.X = saved (this config: ours)`; None if none does
    or the checkpoint records no settings (one from before they were saved)."""
    saved = upgrade_settings(state.get("config", {})).get("env")
    if not isinstance(saved, dict):
        return None
    ours = env_settings(env)
    for name in compared_settings(pixels=pixels, mario=is_mario(env.id)):
        if name in saved and saved[name] != ours[name]:
            return f"env.{name} = {saved[name]!r} (this config: {ours[name]!r})"
    return None


def prune_checkpoints(directory: Location, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints."""
    for _, path in list_checkpoints(directory)[:-keep]:
        path.unlink(missing_ok=True)


def build_model(config: Config, env: Environment) -> MuZeroNet:
    return MuZeroNet(architecture_for(config, env))


def changed_settings(saved: dict[str, Any], now: dict[str, Any]) -> str:
    """`train.weight_decay 0.0001 -> 0.1, ...` for settings a checkpoint's config holds
    otherwise (settings it does not know are left out; those saved under an earlier key are
    compared under today's, `upgrade_settings`); empty when none changed."""
    return ", ".join(_changes(upgrade_settings(saved), now, ""))


def _changes(saved: dict[str, Any], now: dict[str, Any], prefix: str) -> list[str]:
    """The changed settings of one table and the tables inside it, by their dotted names."""
    changes = []
    for key, value in now.items():
        if key not in saved:
            continue
        if isinstance(value, dict) and isinstance(saved[key], dict):
            changes += _changes(saved[key], value, f"{prefix}{key}.")
        elif saved[key] != value:
            changes.append(f"{prefix}{key} {saved[key]!r} -> {value!r}")
    return changes
