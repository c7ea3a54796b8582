"""Saves small random games into FOLDER as fast as it can, until killed (test_faults).

    python tests/children/game_writer.py FOLDER SEED

Prints "ready", then "start <id>" before each write and "done <id>" once the file is linked into
place, each line with one write so that a kill never splits it.
"""

import sys
from pathlib import Path

import numpy as np

from muzero_lite.game_metadata import GameMetadata
from muzero_lite.games import GameRecord, new_game_id, save_game


def main() -> None:
    folder, rng = Path(sys.argv[1]), np.random.default_rng(int(sys.argv[2]))
    print("ready", flush=True)
    while True:
        n = int(rng.integers(1, 30))
        record = GameRecord(
            observations=rng.random((n + 1, 4), dtype=np.float32),
            actions=rng.integers(0, 2, n),
            rewards=np.ones(n, np.float32),
            policies=np.full((n, 2), 0.5, np.float32),
            root_values=np.zeros(n + 1, np.float32),
            terminated=True,
            truncated=False,
            metadata=GameMetadata(return_=float(n)),
        )
        game_id = new_game_id(7)
        sys.stdout.write(f"start {game_id}\n")  # one write: a kill never splits the line
        sys.stdout.flush()
        save_game(record, folder, game_id)
        sys.stdout.write(f"done {game_id}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
