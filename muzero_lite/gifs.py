"""Animated GIFs of games, written atomically beside the game files.

Names start with the game id (sortable by time, so the newest sorts last) and end with the
game's score, e.g. `20261121-204512-w00-1a2b3c4d_1-1_x1234_r567.gif`.
"""

import io
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np

from muzero_lite.games import publish


def gif_name(game_id: str, metadata: dict[str, Any]) -> str:
    parts = [game_id]
    if "stage" in metadata:
        parts.append(str(metadata["stage"]))
    if "x_pos_max" in metadata:
        parts.append(f"x{int(metadata['x_pos_max'])}")
    parts.append(f"r{metadata['return']:.0f}")
    return "_".join(parts) + ".gif"


def write_gif(frames: list[np.ndarray], path: Path, fps: int) -> Path:
    """Frames [H, W, 3] uint8 -> a looping GIF at `path`, never visible half-written."""
    buffer = io.BytesIO()
    iio.imwrite(buffer, np.stack(frames), extension=".gif", duration=1000 / fps, loop=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    return publish(path, lambda f: f.write(buffer.getvalue()))
