"""Loads each folder of game files with the trainer's loader and reports peak memory (test_loader).

    python tests/children/peak_rss.py FOLDER...

Limits are a Mario trainer's of 2000 moves. Prints the peak resident memory in MB (ru_maxrss)
after the imports, then one JSON line per folder: games loaded, the loader's log lines, peak MB.
"""

import json
import resource
import sys
from pathlib import Path
from types import SimpleNamespace

from muzero_lite.config import EnvConfig
from muzero_lite.loader import GameLoader, run_limits


def main() -> None:
    frames = SimpleNamespace(observation_shape=(84, 84), num_actions=7, pixels=True)
    limits = run_limits(EnvConfig(id="SuperMarioBros-v0", max_episode_steps=2000), frames)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, flush=True)
    for folder in sys.argv[1:]:
        lines = []
        games = GameLoader(Path(folder), log=lines.append, limits=limits).poll()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"loaded": len(games), "log": lines, "peak_mb": peak}), flush=True)
        del games


if __name__ == "__main__":
    main()
