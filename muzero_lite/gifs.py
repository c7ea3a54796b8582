"""Animated GIFs of games, written atomically beside the game files.

Names start with the game id (sortable by time, so the newest sorts last) and end with the
game's score, e.g. `20261121-204512-w00-1a2b3c4d_1-1_x1234_r567.gif`. `gifs/best/` keeps the best
game so far of each Mario stage (or of the environment), so progress shows at a glance. Stages and
environment ids become file names through `safe_name` (`ALE/Pong-v5` -> `ALE_Pong-v5`).
"""

import io
import json
import re

import imageio.v3 as iio
import numpy as np
from PIL import Image

from muzero_lite.game_metadata import GameMetadata
from muzero_lite.storage import Location, locked, publish


def safe_name(text: str) -> str:
    """`text` as a plain file name in its folder: every character outside [A-Za-z0-9._-] becomes
    `_`, and a name that is empty or starts with `.` (`.`, `..`, hidden, `.tmp-` temporaries)
    gets a leading `_`."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    return name if name and not name.startswith(".") else "_" + name


def gif_name(game_id: str, metadata: GameMetadata) -> str:
    parts = [game_id]
    if metadata.stage is not None:
        parts.append(safe_name(metadata.stage))
    if metadata.x_pos_max is not None:
        parts.append(f"x{int(metadata.x_pos_max)}")
    parts.append(f"r{metadata.return_:.0f}")
    return "_".join(parts) + ".gif"


def write_gif(frames: list[np.ndarray], path: Location, fps: int) -> Location:
    """Frames [H, W, 3] uint8 -> a looping GIF at `path`, never visible half-written."""
    buffer = io.BytesIO()
    stack = np.stack(frames)  # [T, H, W, 3]
    indexed = palette_indices(stack)
    if indexed is None:  # more than 256 colors: imageio quantizes frame by frame
        iio.imwrite(buffer, stack, extension=".gif", duration=1000 / fps, loop=0)
    else:
        palette, index = indexed
        colors = palette.flatten().tolist()  # [3C] r, g, b, r, ...
        images = [Image.fromarray(frame, "P") for frame in index]
        for image in images:
            image.putpalette(colors)
        images[0].save(
            buffer,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=round(1000 / fps),
            loop=0,
            optimize=False,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    return publish(path, lambda f: f.write(buffer.getvalue()))


def palette_indices(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """[T, H, W, 3] uint8 -> (palette [C, 3], indices [T, H, W] uint8) of the exact colors, or
    None for more than 256 colors or frames that are not RGB.

    Games of few colors (the NES draws from a master palette of 64) make one palette for the whole
    GIF, with every pixel an exact index into it: no quantizing, and cheaper than imageio's
    per-frame quantization (BENCHMARKS.md, "Self-play speed"). The colors of a sample of at most
    65,536 pixels come first, in order of their codes; every block of frames is then mapped
    through a table of all 2^24 codes and checked, and the colors a block shows that the sample
    missed are added (after the others) before the block is mapped again. The table (16 MB) comes
    zeroed from the system (`np.zeros`), so only the pages the colors fall on are ever written.
    """
    if stack.ndim != 4 or stack.shape[-1] != 3:
        return None
    table = np.zeros(1 << 24, dtype=np.uint8)  # code -> index
    colors = np.full(256, _NO_COLOR, dtype=np.uint32)  # index -> code; the first `count` used
    pixels = stack.reshape(-1, 3)
    step = max(1, -(-len(pixels) // _SAMPLE))
    count = _add(table, colors, 0, np.unique(_codes(pixels[::step])))
    index = np.empty(stack.shape[:3], dtype=np.uint8)
    block = max(1, _BLOCK // max(1, stack.shape[1] * stack.shape[2]))  # frames mapped at once
    for start in range(0, len(stack), block):
        if count is None:
            return None
        codes = _codes(stack[start : start + block])
        found = table[codes]
        missed = colors[found] != codes
        if missed.any():
            count = _add(table, colors, count, np.unique(codes[missed]))
            found = table[codes]
        index[start : start + block] = found
    if count is None:
        return None
    return _palette(colors[:count]), index


_NO_COLOR = 1 << 24  # not a 24-bit code: a free entry of the palette never matches a pixel
_SAMPLE = 1 << 16  # pixels sampled for the first colors
_BLOCK = 1 << 20  # pixels mapped at once


def _add(table: np.ndarray, colors: np.ndarray, count: int, new: np.ndarray) -> int | None:
    """Give the codes `new` (none of them in `colors` yet) the next indices; the new count, or
    None past 256 colors."""
    if count + len(new) > len(colors):
        return None
    colors[count : count + len(new)] = new
    table[new] = np.arange(count, count + len(new))
    return count + len(new)


def _codes(stack: np.ndarray) -> np.ndarray:
    """[..., 3] uint8 -> [...] uint32 codes r + 256 g + 65536 b, read as unaligned little-endian
    4-byte words at every third byte of a copy one byte longer (the fourth byte masked off):
    two passes over the pixels, against seven for shifts and ors of the three channels."""
    n = stack.size // 3
    padded = np.empty(3 * n + 1, dtype=np.uint8)
    padded[: 3 * n] = stack.reshape(-1)
    words = np.ndarray((n,), dtype="<u4", buffer=padded, strides=(3,))
    return (words & 0xFFFFFF).astype(np.uint32, copy=False).reshape(stack.shape[:-1])


def _palette(colors: np.ndarray) -> np.ndarray:
    """Codes r + 256 g + 65536 b [C] -> [C, 3] uint8."""
    return np.stack([colors & 255, (colors >> 8) & 255, colors >> 16], axis=1).astype(np.uint8)


def update_best(best_dir: Location, gif: Location, metadata: GameMetadata) -> bool:
    """Keep `best_dir/<stage>.gif` (or `<env id>.gif`) as the best game so far (x_pos, then return).

    The name is the stage or id through `safe_name`; a JSON record beside each GIF says what it
    holds (the id as it is); the folder's lock (`storage.locked`, which reaches across machines on
    a store) keeps several workers from replacing one another's better game. Returns whether this
    game became the best.
    """
    key = safe_name(metadata.stage or metadata.env_id)
    best_dir.mkdir(parents=True, exist_ok=True)
    with locked(best_dir):
        record = best_dir / f"{key}.json"
        if record.exists():
            try:
                best = GameMetadata.from_json(json.loads(record.read_text()))
                if best.score() >= metadata.score():
                    return False
            except (TypeError, ValueError):  # not JSON, a value of the wrong type, no return
                pass  # an unreadable record is replaced
        _replace(best_dir / f"{key}.gif", gif.read_bytes())
        text = json.dumps({**metadata.to_json(), "gif": gif.name}, indent=2) + "\n"
        _replace(record, text.encode())
        return True


def _replace(path: Location, data: bytes) -> None:
    """Atomically replace `path` (the best game is meant to be overwritten)."""
    publish(path, lambda f: f.write(data), replace=True)
