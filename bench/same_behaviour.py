"""Does a change keep behaviour? Self-play and training of an earlier commit against this tree.

    python bench/same_behaviour.py [--before HEAD] [--games 3] [--steps 20] [--keep DIR]

For a change meant to move or rename code only. Both sides run the same command lines through
the entry points (`selfplay.py`, `train.py`), so they need no shared Python API (but for this
tree's `upgrade_checkpoint`, which reads both sides' checkpoints under today's names):
1. Self-play, for each search kind (truncated, MCTS, Gumbel): a CartPole worker with a fixed seed
   plays `--games` games from the fixed checkpoint tests/data/format-1/cartpole-step-00000010.pt.
   The game files of the two sides must hold the same arrays (decompressed, compared array by
   array, dtype included) and the same metadata but for the game id and the time.
2. Training: a trainer with a fixed seed trains `--steps` steps from the same games (the before
   side's truncated games and tests/data/format-1/cartpole-game.npz) and writes a checkpoint.
   Its tensors (acting and trained weights, optimizer state) must be bit-identical.
The earlier commit is checked out with `git worktree` into a temporary folder (removed at the
end). Exit status 0 when everything matched, 1 otherwise. Both sides run on this machine, one
after the other: floating-point results may differ across CPUs, not across these runs.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from muzero_lite.checkpoints import upgrade_checkpoint  # noqa: E402

DATA = REPO / "tests" / "data" / "format-1"
KINDS = ("truncated", "mcts", "gumbel")
SMALL = ["network.hidden_size=8", "network.head_size=8", "network.support_size=5"]
SELFPLAY = [*SMALL, "selfplay.max_env_steps_per_train_step=0", "selfplay.gif_every=0"]
TRAIN = [
    *SMALL, "train.warmup_transitions=10", "train.replay_ratio=100", "train.batch_size=16",
    "train.log_every=5", "train.poll_seconds=0.2",
]  # fmt: skip
VOLATILE = {"game_id", "timestamp"}  # metadata that differs between any two runs
# The entries of a checkpoint compared, by their names in this tree (upgrade_checkpoint gives an
# earlier commit's checkpoint these names, and its weights today's).
CHECKPOINT_ENTRIES = {
    "acting weights": "acting_weights",
    "trained weights": "trained_weights",
    "optimizer": "optimizer",
}


def sets(overrides: list[str]) -> list[str]:
    return [arg for item in overrides for arg in ("--set", item)]


def run(tree: Path, script: str, data_dir: Path, *args: str) -> None:
    command = [sys.executable, script, "--config", "configs/cartpole.toml"]
    command += ["--data-dir", str(data_dir), *args]
    result = subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        sys.exit(f"{script} failed in {tree} ({result.returncode}):\n{result.stderr[-2000:]}")


def play(tree: Path, folder: Path, kind: str, games: int) -> list[Path]:
    """`games` games of `kind` from the fixed checkpoint; their files, in the order played."""
    (folder / "checkpoints").mkdir(parents=True)
    shutil.copy(DATA / "cartpole-step-00000010.pt", folder / "checkpoints" / "step-00000010.pt")
    overrides = sets([*SELFPLAY, f"search.kind={kind}"])
    run(tree, "selfplay.py", folder, "--games", str(games), "--seed", "7", *overrides)
    files = list((folder / "games").glob("*.npz"))
    return sorted(files, key=lambda p: read_game(p)[1]["timestamp"])


def train(tree: Path, folder: Path, games: list[Path], steps: int) -> Path:
    (folder / "games").mkdir(parents=True)
    for path in [DATA / "cartpole-game.npz", *games]:
        shutil.copy(path, folder / "games" / path.name)
    overrides = sets([*TRAIN, f"train.checkpoint_every={steps}"])
    run(tree, "train.py", folder, "--steps", str(steps), "--seed", "3", *overrides)
    return folder / "checkpoints" / f"step-{steps:08d}.pt"


def read_game(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """A game file's arrays (decompressed) and its metadata, read with numpy alone."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    metadata = json.loads(str(arrays.pop("metadata")))
    return arrays, metadata


def game_differences(before: Path, after: Path) -> list[str]:
    (a, meta_a), (b, meta_b) = read_game(before), read_game(after)
    found = []
    if a.keys() != b.keys():
        found.append(f"arrays {sorted(a)} against {sorted(b)}")
    for name in sorted(a.keys() & b.keys()):
        if a[name].dtype != b[name].dtype or not np.array_equal(a[name], b[name]):
            found.append(f"array {name} differs")
    for key in sorted((meta_a.keys() | meta_b.keys()) - VOLATILE):
        if meta_a.get(key) != meta_b.get(key):
            found.append(f"metadata {key}: {meta_a.get(key)!r} against {meta_b.get(key)!r}")
    return found


def tensors(value, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in a nested state (dicts and lists), by its path."""
    if torch.is_tensor(value):
        return {prefix: value}
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return {}
    found = {}
    for key, item in items:
        found |= tensors(item, f"{prefix}/{key}")
    return found


def checkpoint_differences(before: Path, after: Path) -> list[str]:
    a = upgrade_checkpoint(torch.load(before, map_location="cpu", weights_only=True))
    b = upgrade_checkpoint(torch.load(after, map_location="cpu", weights_only=True))
    found = []
    if a["step"] != b["step"]:
        found.append(f"step {a['step']} against {b['step']}")
    for what, name in CHECKPOINT_ENTRIES.items():
        ta, tb = tensors(a.get(name)), tensors(b.get(name))
        if not ta or ta.keys() != tb.keys():
            found.append(f"{what}: entries differ ({len(ta)} against {len(tb)} tensors)")
            continue
        changed = [k for k in ta if ta[k].dtype != tb[k].dtype or not torch.equal(ta[k], tb[k])]
        if changed:
            found.append(f"{what}: {len(changed)} of {len(ta)} tensors differ, e.g. {changed[0]}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--before", default="HEAD", help="the commit to compare with")
    parser.add_argument("--games", type=int, default=3, help="games per search kind")
    parser.add_argument("--steps", type=int, default=20, help="training steps")
    parser.add_argument("--keep", type=Path, default=None, help="keep both sides' files here")
    args = parser.parse_args()
    if args.keep is not None and args.keep.exists():
        parser.error(f"--keep {args.keep} already exists: name a new folder")

    work = Path(tempfile.mkdtemp(prefix="same-behaviour-"))
    before_tree = work / "before-tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(before_tree), args.before],
        cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    problems = 0
    try:
        trees = {"before": before_tree, "after": REPO}
        played = {side: {} for side in trees}
        for kind in KINDS:
            for side, tree in trees.items():
                played[side][kind] = play(tree, work / side / f"selfplay-{kind}", kind, args.games)
            pairs = list(zip(played["before"][kind], played["after"][kind], strict=False))
            found = [] if len(pairs) == args.games else ["a side wrote fewer games"]
            for i, (a, b) in enumerate(pairs):
                found += [f"game {i}: {d}" for d in game_differences(a, b)]
            moves = sum(len(read_game(a)[0]["actions"]) for a, _ in pairs)
            report(f"self-play, {kind}: {len(pairs)} games, {moves} moves", found)
            problems += len(found)
        games = played["before"]["truncated"]
        checkpoints = {
            side: train(tree, work / side / "train", games, args.steps)
            for side, tree in trees.items()
        }
        found = checkpoint_differences(checkpoints["before"], checkpoints["after"])
        report(f"training, {args.steps} steps from {len(games) + 1} games", found)
        problems += len(found)
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(before_tree)], cwd=REPO, check=False
        )
        if args.keep is not None:
            shutil.copytree(work, args.keep)
        shutil.rmtree(work, ignore_errors=True)
    print(f"before: {args.before}; after: the working tree of {REPO}")
    print("same behaviour" if problems == 0 else f"{problems} differences")
    sys.exit(0 if problems == 0 else 1)


def report(what: str, found: list[str]) -> None:
    print(f"{what}: {'identical' if not found else 'DIFFERENT'}")
    for line in found:
        print(f"  {line}")


if __name__ == "__main__":
    main()
