"""The worker's log line for each game it writes."""

from muzero_lite.game_metadata import GameMetadata


def progress_line(worker_id: int, games: int, meta: GameMetadata, steps_per_s: float) -> str:
    """`[worker 0] game 12 | stage 1-1 | return 512.0 | length 301 | x_pos 640 | 140.2 steps/s |
    ckpt 400`: steps/s is the worker's, all its game slots together, while this game was played;
    ckpt the checkpoint step of the game's first move (`->` its last, where they differ)."""
    parts = [f"[worker {worker_id}] game {games}"]
    if meta.stage is not None:
        parts.append(f"stage {meta.stage}")
    parts += [f"return {meta.return_:.1f}", f"length {meta.length}"]
    if meta.x_pos_max is not None:
        parts.append(f"x_pos {meta.x_pos_max}" + (" FLAG" if meta.flag_get else ""))
    steps = meta.checkpoint_step
    if meta.last_checkpoint_step not in (None, steps):
        steps = f"{steps}->{meta.last_checkpoint_step}"
    parts += [f"{steps_per_s:.1f} steps/s", f"ckpt {steps}"]
    return " | ".join(parts)
