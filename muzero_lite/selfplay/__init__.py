"""Self-play: games played with the search, written to disk for the trainer.

- `episodes`: the episode loop. Games in progress, each move of all of them searched in one
  batched call (`advance`); `play_game` and `play_games` for evaluation and tests.
- `worker`: the worker process. N game slots (`selfplay.envs`), each starting its next game as
  soon as its last one ends; checkpoints picked up between moves; pacing against the trainer.
- `output`: a finished game's file and GIF, and retention of both folders.
- `progress`: the worker's one log line per game.
"""
