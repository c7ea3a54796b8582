"""Publishes one object of SIZE bytes at URL on a store, as a worker publishes a game
(test_storage).

    python tests/children/object_writer.py URL SIZE

Prints "start" once the bytes are made and the upload begins, "done" once it is complete.
"""

import sys

from muzero_lite.storage import location, publish


def main() -> None:
    path, size = location(sys.argv[1]), int(sys.argv[2])
    data = bytes(range(256)) * (size // 256)
    path.parent.exists()  # the client's session is made: what follows is the upload itself
    sys.stdout.write("start\n")
    sys.stdout.flush()
    publish(path, lambda f: f.write(data))
    sys.stdout.write("done\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
