"""A finished game on disk: its file in `games/`, its GIF in `gifs/`, and retention of both.

A failed write (no space, say) or a game that fails validation (NaN values, say) leaves no file
and is one log line; the worker plays on. After each write, the oldest files beyond the retention
limits (SelfPlayConfig.keep_*, max_*_mb) are deleted.
"""

import time
from dataclasses import replace
from pathlib import Path

from muzero_lite.config import Config
from muzero_lite.games import GameFileError, new_game_id, save_game
from muzero_lite.gifs import gif_name, update_best, write_gif
from muzero_lite.paths import DataDirs
from muzero_lite.retention import prune_oldest
from muzero_lite.selfplay.episodes import PlayedGame


def write_played(
    played: PlayedGame, dirs: DataDirs, config: Config, *, worker_id: int, seed: int, log=print
) -> str | None:
    """Name a finished game, add who played it, write its file and (if recorded) its GIF.

    Returns the game id, or None when the game file could not be written.
    """
    sp, who = config.selfplay, f"[worker {worker_id}]"
    game_id = new_game_id(worker_id)
    record = played.record
    record.metadata = replace(
        record.metadata, game_id=game_id, worker_id=worker_id, seed=seed, timestamp=time.time()
    )
    try:
        save_game(record, dirs.games, game_id)
    except OSError as e:
        log(f"{who} could not write game {game_id}: {_why(e)}")
        return None
    except GameFileError as e:
        log(f"{who} dropped game {game_id}: {e}")
        return None
    _retain(dirs.games, "*.npz", sp.keep_games, sp.max_games_mb, log, who)
    if played.frames:
        gif = dirs.gifs / gif_name(game_id, record.metadata)
        try:
            write_gif(played.frames, gif, sp.gif_fps)
            update_best(dirs.gifs / "best", gif, record.metadata)
        except OSError as e:
            log(f"{who} could not write GIF {gif.name}: {_why(e)}")
        _retain(dirs.gifs, "*.gif", sp.keep_gifs, sp.max_gifs_mb, log, who)
    return game_id


def _retain(folder: Path, pattern: str, keep: int, max_mb: float, log, who: str) -> None:
    """Apply retention to one folder; a file that cannot be deleted is one log line, not a crash."""
    try:
        prune_oldest(folder, pattern, keep=keep, max_mb=max_mb)
    except OSError as e:
        log(f"{who} retention could not clean {folder.name}/: {_why(e)}")


def _why(error: OSError) -> str:
    """`No space left on device`, or the whole message when the error has no errno."""
    return error.strerror or str(error)
