"""Two benchmark commands in alternating rounds, and the ratio of one figure of theirs.

    python bench/alternate.py --rounds 4 \
        --a "cd /tmp/before && python bench/train_speed.py --json {json}" --key-a samples_per_s \
        --b "python bench/train_speed.py --variant new:... --json {json}" \
        --key-b variants.new.samples_per_s [--json PATH]

For comparing two commits (or two processes) where one process cannot hold both: each round runs
A then B (B then A every other round, so that a drifting machine favours neither), each command
writes its JSON to the path put in place of {json}, and the figure at the dotted key is read
from it. Prints each round and the median of B / A over the rounds.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_json


def figure(path: Path, key: str) -> float:
    value = json.loads(path.read_text())
    for part in key.split("."):
        value = value[part]
    return float(value)


def run(command: str, json_path: Path) -> None:
    print(f"$ {command.format(json=json_path)}", flush=True)
    subprocess.run(command.format(json=json_path), shell=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--a", required=True, help="command A; {json} is where it writes")
    parser.add_argument("--b", required=True, help="command B; {json} is where it writes")
    parser.add_argument("--key-a", required=True, help="dotted key of A's figure in its JSON")
    parser.add_argument("--key-b", required=True, help="dotted key of B's figure in its JSON")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if "{json}" not in args.a or "{json}" not in args.b:
        raise SystemExit("both commands must write their JSON to {json}")

    a_figures, b_figures = [], []
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            a_path, b_path = Path(folder) / f"a{round_}.json", Path(folder) / f"b{round_}.json"
            pairs = [(args.a, a_path), (args.b, b_path)]
            for command, path in pairs if round_ % 2 == 0 else reversed(pairs):
                run(command, path)
            a_figures.append(figure(a_path, args.key_a))
            b_figures.append(figure(b_path, args.key_b))
            print(
                f"round {round_ + 1}/{args.rounds}: A {a_figures[-1]:.1f}  B {b_figures[-1]:.1f}"
                f"  B/A {b_figures[-1] / a_figures[-1]:.3f}",
                flush=True,
            )
    ratios = [b / a for a, b in zip(a_figures, b_figures, strict=True)]
    result = {
        "a": args.a,
        "b": args.b,
        "key_a": args.key_a,
        "key_b": args.key_b,
        "a_rounds": a_figures,
        "b_rounds": b_figures,
        "a_median": statistics.median(a_figures),
        "b_median": statistics.median(b_figures),
        "ratio_rounds": ratios,
        "ratio_median": statistics.median(ratios),
    }
    print(
        f"\nA median {result['a_median']:.1f}  B median {result['b_median']:.1f}  "
        f"B/A median of rounds {result['ratio_median']:.3f}"
    )
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
