"""Trainer: not yet; it lands with the trainer issue (replay from games/, checkpoints)."""

import sys

if __name__ == "__main__":
    print("train.py: not yet implemented; self-play works on its own (see README)", file=sys.stderr)
    sys.exit(1)
