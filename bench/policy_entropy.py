"""How the acting policy's entropy moved over a run: read from the games a kept run folder holds.

    python bench/policy_entropy.py DATA_DIR [--bucket 50000] [--json PATH]

Each game stores the search policy of every move; its entropy (nats) is averaged over the moves of
the games whose first env step falls in each bucket of `--bucket` env steps, games taken in the
order they were written. With `runs/train/metrics.csv` from a trainer that logs it, the policy
head's own entropy (`charts/policy_entropy`, at the sampled positions) is averaged per bucket too.
`bench/learn_mario.py --data-dir` keeps a run folder for this. Env steps are counted over the games
still in `games/`: where retention deleted or the trainer quarantined some, the game rows start
earlier than the trainer's own count (`charts/env_steps`), which the policy head's column uses.
"""

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import write_json

from muzero_lite.games import GameFileError, load_game
from muzero_lite.paths import DataDirs


def entropy(policies: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of probabilities [T, A] -> [T] (0 log 0 = 0)."""
    p = np.asarray(policies, dtype=np.float64)
    logs = np.log(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(-1)


def game_entropies(games: Path) -> list[tuple[int, int, float]]:
    """(env steps before the game, its moves, the summed entropy of its search policies), one
    tuple per readable game in the order written (file names start with the time)."""
    rows, steps = [], 0
    for path in sorted(games.glob("*.npz")):
        try:
            record = load_game(path)
        except GameFileError:
            continue
        rows.append((steps, record.length, float(entropy(record.policies).sum())))
        steps += record.length
    return rows


def trainer_entropy(metrics: Path) -> list[tuple[int, float]]:
    """(env steps, policy head entropy) of each trainer report that logged one."""
    if not metrics.exists():
        return []
    with open(metrics, newline="") as f:
        return [
            (int(float(row["charts/env_steps"])), float(row["charts/policy_entropy"]))
            for row in csv.DictReader(f)
            if row.get("charts/policy_entropy") and row.get("charts/env_steps")
        ]


def buckets(
    games: list[tuple[int, int, float]], trainer: list[tuple[int, float]], size: int
) -> list[dict]:
    """Per bucket of env steps: games, moves, mean search-policy entropy per move, and the mean
    of the trainer's policy-head entropy reports in it (None without any)."""
    count = max([g[0] // size for g in games] + [t[0] // size for t in trainer] + [-1]) + 1
    out = []
    for b in range(count):
        inside = [g for g in games if g[0] // size == b]
        moves = sum(g[1] for g in inside)
        head = [e for steps, e in trainer if steps // size == b]
        out.append(
            {
                "env_steps_from": b * size,
                "games": len(inside),
                "moves": moves,
                "search_entropy": sum(g[2] for g in inside) / moves if moves else None,
                "policy_head_entropy": float(np.mean(head)) if head else None,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--bucket", type=int, default=50_000, help="env steps per row")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.bucket < 1:
        parser.error("--bucket must be at least 1")
    dirs = DataDirs(args.data_dir)
    if not dirs.games.is_dir():
        parser.error(f"{dirs.games} is not a folder: pass a run's data dir")
    rows = buckets(
        game_entropies(dirs.games),
        trainer_entropy(dirs.runs / "train" / "metrics.csv"),
        args.bucket,
    )
    print(f"{'env steps from':>14} {'games':>6} {'moves':>8} {'search H':>9} {'head H':>7}")
    for row in rows:
        search = "-" if row["search_entropy"] is None else f"{row['search_entropy']:.3f}"
        head = "-" if row["policy_head_entropy"] is None else f"{row['policy_head_entropy']:.3f}"
        print(
            f"{row['env_steps_from']:>14} {row['games']:>6} {row['moves']:>8} {search:>9} {head:>7}"
        )
    if rows:
        print(f"(uniform over the actions: {math.log(_actions(dirs.games)):.3f} nats)")
    if args.json:
        write_json(args.json, {"data_dir": str(args.data_dir), "bucket": args.bucket, "rows": rows})


def _actions(games: Path) -> int:
    for path in sorted(games.glob("*.npz")):
        try:
            return load_game(path).policies.shape[1]
        except GameFileError:
            continue
    return 1


if __name__ == "__main__":
    main()
