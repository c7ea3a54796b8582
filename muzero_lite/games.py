"""Game files: one compressed `.npz` per finished game, written atomically, read as data only.

A game of T moves holds T + 1 states. Arrays:
  observations [T+1, *obs_shape]  uint8 frames or float32 vectors, one per state
  actions      [T]                int64
  rewards      [T]                float32, reward of the step after state t
  policies     [T, A]             float32, search policy at state t (sums to 1)
  root_values  [T+1]              float32, search value at state t; [T] is the value of the final
                                  state (0 when terminated, the network's estimate when truncated)
  terminated, truncated           bool scalars (exactly one is true)
  metadata                        a JSON string, the `GameMetadata` record (game_metadata.py)

Writers publish a file whole (`storage.publish`: locally a hidden temporary name linked to its final
one, on a store one conditional PUT), so a reader never sees half a file and two writers never
replace each other's game. Readers open regular files
only, check every member's declared size against `GameLimits` from the zip and `.npy` headers before
reading it, never unpickle (object arrays are refused), read no more than each member declares, and
validate every array; anything wrong is a `GameFileError`.
"""

import json
import secrets
import time
from dataclasses import dataclass, field, replace

import numpy as np

from muzero_lite.game_limits import GameLimits, settings_mismatch
from muzero_lite.game_metadata import GameMetadata
from muzero_lite.npz import NpzError, NpzTooLarge, read_npz
from muzero_lite.storage import (
    TEMP_PREFIX,
    FileTooLarge,
    Location,
    NotRegularFile,
    open_file,
    publish,
)

FORMAT_VERSION = 1
ARRAYS = (
    "observations",
    "actions",
    "rewards",
    "policies",
    "root_values",
    "terminated",
    "truncated",
)
MEMBERS = (*ARRAYS, "metadata")
__all__ = ["TEMP_PREFIX", "publish"]  # re-exported: the writers of game-adjacent files use them


class GameFileError(Exception):
    """A game file that cannot be used; the message says why in one line."""


@dataclass
class GameRecord:
    observations: np.ndarray  # [T+1, *obs_shape]
    actions: np.ndarray  # [T]
    rewards: np.ndarray  # [T]
    policies: np.ndarray  # [T, A]
    root_values: np.ndarray  # [T+1]
    terminated: bool
    truncated: bool
    metadata: GameMetadata = field(default_factory=GameMetadata)

    @property
    def length(self) -> int:
        return len(self.actions)


def new_game_id(worker_id: int) -> str:
    """Sortable by time, and unique across workers, machines and restarts (random suffix)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{stamp}-w{worker_id:02d}-{secrets.token_hex(4)}"


def save_game(record: GameRecord, directory: Location, game_id: str) -> Location:
    """Write `directory/<game_id>.npz` atomically; never replaces an existing file."""
    validate(record)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = file_arrays(record)
    return publish(directory / f"{game_id}.npz", lambda f: np.savez_compressed(f, **arrays))


def file_arrays(record: GameRecord) -> dict[str, np.ndarray]:
    """The arrays a game file holds, by member name, in the dtypes it stores."""
    metadata = replace(record.metadata, format_version=FORMAT_VERSION).to_json()
    return {
        "observations": record.observations,
        "actions": record.actions.astype(np.int64),
        "rewards": record.rewards.astype(np.float32),
        "policies": record.policies.astype(np.float32),
        "root_values": record.root_values.astype(np.float32),
        "terminated": np.array(record.terminated),
        "truncated": np.array(record.truncated),
        "metadata": np.array(json.dumps(metadata)),
    }


def load_game(path: Location, limits: GameLimits | None = None) -> GameRecord:
    """Read and validate a game file; raises GameFileError with a one-line reason.

    With `limits` (the trainer's), a file that declares more than the largest legal game, a game
    of other env settings, or one whose observations or actions do not fit the run's network, is
    refused; without, sizes are bounded only by what the file
    declares (tools reading their own games).
    """
    arrays = _read_arrays(path, limits)
    metadata = _read_metadata(str(arrays.pop("metadata")))
    if limits is not None and (problem := settings_mismatch(metadata, limits.env_settings)):
        raise GameFileError(problem)
    record = GameRecord(
        observations=arrays["observations"],
        actions=arrays["actions"],
        rewards=arrays["rewards"],
        policies=arrays["policies"],
        root_values=arrays["root_values"],
        terminated=_flag(arrays["terminated"]),
        truncated=_flag(arrays["truncated"]),
        metadata=metadata,
    )
    validate(record)
    if limits is None:
        return record
    if record.length > limits.max_moves:
        raise GameFileError(
            f"{record.length} moves, more than env.max_episode_steps = {limits.max_moves}"
        )
    if problem := limits.misfit(record.observations, record.policies.shape[1]):
        raise GameFileError(problem)
    return record


def _read_metadata(text: str) -> GameMetadata:
    """A file's metadata record, if it is JSON of this version's format."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as e:
        raise GameFileError(f"metadata is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise GameFileError("metadata is not a JSON object")
    version = data.get("format_version")  # first: another format may hold other keys and types
    if version != FORMAT_VERSION:
        raise GameFileError(f"format_version {version!r}, this version reads {FORMAT_VERSION}")
    try:
        return GameMetadata.from_json(data)
    except ValueError as e:
        raise GameFileError(str(e)) from None


def _read_arrays(path: Location, limits: GameLimits | None) -> dict[str, np.ndarray]:
    """Every array of a game file, each size checked against `limits` before it is read."""
    try:
        with open_file(path, None if limits is None else limits.max_file_bytes) as f:
            return read_npz(f, MEMBERS, None if limits is None else limits.member_bytes)
    except FileTooLarge as e:
        raise GameFileError(
            f"{e.size:,} bytes on disk, more than the {limits.max_file_bytes:,} of the "
            f"largest game of {limits.max_moves} moves (env.max_episode_steps)"
        ) from None
    except NpzTooLarge as e:
        raise GameFileError(
            f"{e} in a game of at most {limits.max_moves} moves (env.max_episode_steps)"
        ) from None
    except (NpzError, NotRegularFile) as e:
        raise GameFileError(str(e)) from None
    except OSError as e:
        raise GameFileError(f"not a readable .npz file: {e}") from None


def validate(record: GameRecord) -> None:
    """Shapes, dtypes and values that every consumer relies on."""
    r = record
    t = len(r.actions) if r.actions.ndim == 1 else -1
    checks = [  # each check runs only once those before it hold
        (lambda: r.actions.ndim == 1 and t >= 1, "actions must be a non-empty 1-D array"),
        (lambda: r.actions.dtype.kind in "iu", f"actions must be integers, not {r.actions.dtype}"),
        (
            lambda: r.observations.dtype in (np.uint8, np.float32),
            "observations must be uint8/float32",
        ),
        (
            lambda: r.observations.ndim >= 2 and len(r.observations) == t + 1,
            "need T+1 observations",
        ),
        (lambda: r.rewards.shape == (t,), f"rewards must have shape ({t},)"),
        (lambda: r.root_values.shape == (t + 1,), f"root_values must have shape ({t + 1},)"),
        (
            lambda: r.policies.ndim == 2 and len(r.policies) == t,
            f"policies must have shape ({t}, A)",
        ),
        (lambda: r.policies.shape[1] >= 1, "policies need at least one action"),
        (
            lambda: all(a.dtype.kind == "f" for a in (r.rewards, r.policies, r.root_values)),
            "rewards, policies and root_values must be floating point",
        ),
        (lambda: isinstance(r.terminated, bool), "terminated must be a boolean scalar"),
        (lambda: isinstance(r.truncated, bool), "truncated must be a boolean scalar"),
    ]
    for ok, message in checks:
        if not ok():
            raise GameFileError(message)
    for name in ("rewards", "policies", "root_values", "observations"):
        values = getattr(record, name)
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise GameFileError(f"{name} contain NaN or infinite values")
    if record.terminated == record.truncated:
        raise GameFileError("exactly one of terminated and truncated must be true")
    num_actions = record.policies.shape[1]
    if record.actions.min() < 0 or record.actions.max() >= num_actions:
        raise GameFileError(f"actions must lie in 0..{num_actions - 1}")
    if record.policies.min() < 0 or not np.allclose(record.policies.sum(1), 1.0, atol=1e-3):
        raise GameFileError("policies must be non-negative and sum to 1")


def _flag(array: np.ndarray) -> bool | None:
    """A stored boolean scalar, or None (rejected by validate) for anything else."""
    return bool(array) if array.shape == () and array.dtype == np.bool_ else None


def remove_stale_temps(directory: Location, max_age_s: float = 3600.0) -> int:
    """Delete temporary files left by writers that were killed mid-write (older than max_age_s)."""
    removed = 0
    now = time.time()
    for path in directory.glob(f"{TEMP_PREFIX}*"):
        try:
            if now - path.stat().st_mtime > max_age_s:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another process removed it first
            pass
    return removed
