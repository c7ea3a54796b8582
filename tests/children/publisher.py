"""Publishes g000.npz ... g299.npz into FOLDER once FOLDER/go exists (test_faults).

    python tests/children/publisher.py FOLDER NAME

Each file holds NAME x 5000; a name another process published first is skipped. Prints the
numbers of the files it won, space-separated, on one line.
"""

import sys
import time
from pathlib import Path

from muzero_lite.games import publish


def main() -> None:
    folder, me = Path(sys.argv[1]), sys.argv[2]
    while not (folder / "go").exists():
        time.sleep(0.001)
    won = []
    for i in range(300):
        try:
            publish(folder / f"g{i:03d}.npz", lambda f: f.write((me * 5000).encode()))
            won.append(i)
        except FileExistsError:
            pass
    print(" ".join(map(str, won)))


if __name__ == "__main__":
    main()
