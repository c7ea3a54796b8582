"""A game's metadata record: where, how and by whom it was played, and how it went.

A game file holds it as a JSON object (the `metadata` member, see `games`), read by
`GameMetadata.from_json` and written by `GameMetadata.to_json`: one key per field, named as the
field (`return_` is "return"), in field order. Every key may be missing from a file (one written
before the key existed, or a field only Mario games have); the field is then None.
"""

import json
from dataclasses import dataclass, field, fields
from typing import Any, get_args, get_origin, get_type_hints


@dataclass(frozen=True)
class GameMetadata:
    """Figures of one game, None where not recorded. A worker records the fields up to
    `timestamp` (the Mario ones for Mario games only); the file's writer stamps `format_version`."""

    env_id: str | None = None
    """The environment played: a Gymnasium id (`CartPole-v1`, `SuperMarioBros-1-1-v0`)."""
    checkpoint_step: int | None = None
    """The trainer step of the weights that played its first move (0: the worker's initial
    network)."""
    last_checkpoint_step: int | None = None
    """... and of the weights that played its last move: a worker takes up a newer checkpoint
    between moves, in the middle of its games."""
    search: str | None = None
    """The search that chose the moves (`search.kind`: truncated, mcts or gumbel)."""
    return_: float | None = None
    """The sum of the game's rewards ("return" in the JSON)."""
    length: int | None = None
    """Moves played."""
    env_settings: dict[str, Any] | None = None
    """The env settings that change what a game stores (`game_limits.env_settings`), by name;
    a game without them counts as played with EnvConfig's defaults."""
    world: int | None = None
    """Mario: the world of the stage played."""
    stage: str | None = None
    """Mario: the stage played, `<world>-<stage>` (`1-1`)."""
    x_pos_max: int | None = None
    """Mario: the furthest x position reached."""
    flag_get: bool | None = None
    """Mario: whether the flag was reached."""
    game_id: str | None = None
    """The file's name without `.npz` (`games.new_game_id`), set when the game is written."""
    worker_id: int | None = None
    """The `--worker-id` of the worker that played it."""
    seed: int | None = None
    """The `--seed` of that worker."""
    timestamp: float | None = None
    """When it was written, in seconds since the epoch."""
    format_version: int | None = None
    """The game file format (`games.FORMAT_VERSION`), stamped by the file's writer."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys this version does not know, as read; written back after the known ones."""

    @classmethod
    def from_json(cls, data: Any) -> "GameMetadata":
        """The record of a JSON object: a key it lacks, or null, is None; an unknown key goes to
        `extra`; a ValueError names a key of the wrong type."""
        if not isinstance(data, dict):
            raise ValueError("metadata is not a JSON object")
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            name = _FIELDS.get(key)
            if name is None:
                extra[key] = value
            elif value is not None:
                values[name] = _checked(key, value, _TYPES[name])
        return cls(**values, extra=extra)

    def to_json(self) -> dict[str, Any]:
        """The JSON object a file holds: every field that is not None, in field order, then the
        unknown keys as read."""
        known = {key: getattr(self, name) for key, name in _FIELDS.items()}
        return {key: value for key, value in known.items() if value is not None} | self.extra

    def score(self) -> tuple[float, float]:
        """How good the game was, to keep the best: its x_pos_max (0 without), then its return
        (a TypeError without one)."""
        return (float(self.x_pos_max or 0), float(self.return_))


def _value_type(annotation: Any) -> type:
    """The type of a field's values: `str` for `str | None`, `dict` for `dict[str, Any] | None`."""
    (kind,) = (t for t in get_args(annotation) if t is not type(None))
    return get_origin(kind) or kind


# JSON key -> field name, in field order; and the type of each field's values.
_FIELDS = {f.name.removesuffix("_"): f.name for f in fields(GameMetadata) if f.name != "extra"}
_HINTS = get_type_hints(GameMetadata)
_TYPES = {name: _value_type(_HINTS[name]) for name in _FIELDS.values()}
_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _checked(key: str, value: Any, kind: type) -> Any:
    """`value`, if it is of its field's type (an integer is a number too, true or false is not)."""
    accepted = (float, int) if kind is float else kind
    if isinstance(value, accepted) and isinstance(value, bool) == (kind is bool):
        return value
    text = json.dumps(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    raise ValueError(f"metadata {key} = {text} is not {_NAMES.get(kind, 'a JSON object')}")
