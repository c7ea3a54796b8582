"""Soak: a trainer and self-play workers on CartPole, each SIGKILLed and restarted at random.

    python bench/soak.py [--minutes 10] [--kill-min 20] [--kill-max 60] [--workers 2]
        [--seed 0] [--data-dir D] [--keep] [--json PATH] [--set section.key=value ...]

Every process is killed with SIGKILL at a random moment every kill-min..kill-max seconds and
restarted at once (the trainer with --resume). At the end the workers get SIGINT, the trainer is
given time to take the last games, then gets SIGINT too. What the table counts:

- games written: game files in games/ (and games/quarantine/) at the end: every completed write,
  since nothing in a soak deletes games. Cross-check: the workers' "game N |" lines, printed just
  after a write completes (a kill between the two leaves a file without its line, never the other
  way round).
- games loaded: files that some trainer run read, validated and put into replay. Each trainer here
  runs train.py unchanged, with its GameLoader wrapped to print every file name it takes.
- games skipped: files that no trainer run loaded, because every run that met them was resuming
  and they were older than the newest `train.replay_capacity` transitions (the deliberate refill
  rule), so they were marked as seen without loading.
- games lost (must be 0): files that no trainer run took at all, plus any worker whose logged
  completed writes outnumber its files.
- loaded twice by one run (must be 0): one trainer run loading one file more than once.
- quarantined (must be 0): files the trainer moved aside as corrupt.
- crashes (must be 0): any process that exited without being killed (during the soak, or with a
  non-zero status at the final SIGINT), or whose log holds a traceback.
- unreadable checkpoints (must be 0): a kill after which the newest checkpoint did not load, and
  checkpoint files a process had to skip as unreadable.
- resume mismatches (must be 0): a trainer run that resumed at a step other than the newest
  checkpoint on disk when it started.
- checkpoints written: distinct checkpoint steps seen on disk (polled 4 times a second; only the
  newest `train.keep_checkpoints` are kept at a time).

Exit status 1 when any must-be-0 figure is not 0; the data folder is then kept for inspection.
"""

import argparse
import os
import re
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common import write_json  # noqa: E402

from muzero_lite.checkpoints import (  # noqa: E402
    CheckpointError,
    architecture_for,
    list_checkpoints,
    read_checkpoint,
)
from muzero_lite.cli import stop_on_signals  # noqa: E402
from muzero_lite.config import load_config  # noqa: E402
from muzero_lite.envs import Environment  # noqa: E402
from muzero_lite.launcher import Child, spawn  # noqa: E402
from muzero_lite.loader import QUARANTINE, GameLoader  # noqa: E402
from muzero_lite.paths import DataDirs  # noqa: E402
from muzero_lite.storage import Location, location  # noqa: E402

TRACE = "--traced-trainer"
TRACEBACK = "Traceback (most recent call last)"
RESUMED = re.compile(r"^\[train\] resumed at step (\d+);")


@dataclass
class Role:
    """One process slot (the trainer, or a worker) and every run of it."""

    name: str
    script: str
    args: list[str]
    runs: list[Child] = field(default_factory=list)
    kills: int = 0
    crashes: list[str] = field(default_factory=list)
    newest_at_start: list[int | None] = field(default_factory=list)  # trainer: disk at each start
    next_kill: float = 0.0


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == TRACE:
        traced_trainer(sys.argv[2:])
        return
    args = parse_args()
    stop_on_signals()  # Ctrl-C or SIGTERM kills the children (below), even in the background
    config = load_config(args.config, args.overrides)
    arch = architecture_for(config, Environment(config.env))
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="muzero-soak-"))
    print(f"soak: {args.minutes} min, kills every {args.kill_min}-{args.kill_max} s, data {root}")
    rng = np.random.default_rng(args.seed)
    local = DataDirs(root).local  # the logs: on this machine's disk, also for a store
    common = ["--config", args.config, "--data-dir", str(root), "--local-dir", str(local)]
    common += [item for o in args.overrides for item in ("--set", o)]
    trainer_args = [TRACE, "train.py", *common, "--resume", "--seed", str(args.seed)]
    roles = [Role("trainer", "bench/soak.py", trainer_args)]
    for i in range(args.workers):
        roles.append(Role(f"worker {i}", "selfplay.py", [*common, "--worker-id", str(i)]))
    steps_seen: set[int] = set()
    unreadable_after_kill = 0
    start = time.monotonic()
    for role in roles:
        restart(role, root, args.seed, rng, args, start)
    try:
        while time.monotonic() - start < 60 * args.minutes:
            time.sleep(0.25)
            steps_seen |= {step for step, _ in list_checkpoints(root / "checkpoints")}
            now = time.monotonic()
            for role in roles:
                child = role.runs[-1]
                if child.process.poll() is not None:  # exited by itself: a crash
                    role.crashes.append(f"{child.log_path.name}: exit {child.process.returncode}")
                    say(start, f"{role.name} exited by itself ({role.crashes[-1]}); restarted")
                    restart(role, root, args.seed, rng, args, now)
                elif now >= role.next_kill:
                    os.kill(child.process.pid, signal.SIGKILL)
                    child.process.wait()
                    role.kills += 1
                    note = ""
                    if role.name == "trainer":
                        note = f" at checkpoint step {newest_step(root)}"
                        if not newest_loads(root, arch):
                            unreadable_after_kill += 1
                            note += " (UNREADABLE)"
                    say(start, f"killed {role.name} run {len(role.runs)}{note}; restarted")
                    restart(role, root, args.seed, rng, args, now)
        finish(roles, root, args.drain_seconds)
    except BaseException:
        for role in roles:
            role.runs[-1].process.kill()
        raise
    steps_seen |= {step for step, _ in list_checkpoints(root / "checkpoints")}
    figures = count(roles, root, steps_seen, unreadable_after_kill)
    report(figures, args, root)


def say(start: float, line: str) -> None:
    print(f"[{time.monotonic() - start:7.1f} s] {line}", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", default="configs/cartpole.toml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--kill-min", type=float, default=20.0, help="seconds, at least")
    parser.add_argument("--kill-max", type=float, default=60.0, help="seconds, at most")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--drain-seconds", type=float, default=90.0, help="at the end: wait for the trainer"
    )
    parser.add_argument(
        "--data-dir",
        type=location,
        default=None,
        help="a new folder, or a URL such as s3://bucket/soak (default: a new temp folder)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp data folder")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not 0 < args.kill_min <= args.kill_max:
        parser.error("need 0 < --kill-min <= --kill-max")
    return args


def restart(role: Role, root: Location, seed: int, rng, args, now: float) -> None:
    """Start the next run of a role, with its own log; schedule its kill."""
    run = len(role.runs) + 1
    log = DataDirs(root).local / "logs" / f"{role.name.replace(' ', '')}-{run:03d}.log"
    if role.name == "trainer":
        extra = []
        role.newest_at_start.append(newest_step(root))
    else:  # a new seed per run, so a restarted worker does not replay its first games
        extra = ["--seed", str(seed * 1000 + run)]
    role.runs.append(spawn(f"{role.name} run {run}", role.script, [*role.args, *extra], log))
    role.next_kill = now + rng.uniform(args.kill_min, args.kill_max)


def newest_step(root: Location) -> int | None:
    found = list_checkpoints(root / "checkpoints")
    return found[-1][0] if found else None


def newest_loads(root: Location, arch) -> bool:
    """Whether the newest checkpoint file (if any) loads, weights only, for this network."""
    found = list_checkpoints(root / "checkpoints")
    if not found:
        return True
    try:
        read_checkpoint(found[-1][1], arch)
    except CheckpointError:
        return False
    return True


def finish(roles: list[Role], root: Location, drain_seconds: float) -> None:
    """SIGINT the workers, let the trainer take every game on disk, then SIGINT the trainer."""
    trainer, workers = roles[0], roles[1:]
    print("stopping the workers (SIGINT), then the trainer once it took every game", flush=True)
    for role in workers:
        role.runs[-1].process.send_signal(signal.SIGINT)
    for role in workers:
        stop_status(role, timeout=60)
    deadline = time.monotonic() + drain_seconds
    while time.monotonic() < deadline and trainer.runs[-1].process.poll() is None:
        taken = parse_trainer_log(trainer.runs[-1].log_path)["took"]
        if {p.name for p in (root / "games").glob("*.npz")} <= taken:
            break
        time.sleep(0.5)
    trainer.runs[-1].process.send_signal(signal.SIGINT)
    stop_status(trainer, timeout=120)


def stop_status(role: Role, timeout: float) -> None:
    """Wait for a run stopped with SIGINT; anything but exit 0 is a crash."""
    child = role.runs[-1]
    try:
        code = child.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.process.kill()
        code = child.process.wait()
    if code != 0:
        role.crashes.append(f"{child.log_path.name}: exit {code} after SIGINT")


def parse_trainer_log(path: Path) -> dict:
    took, loaded, resumed = set(), Counter(), None
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("[soak] took "):
            took.add(line.split()[-1])
        elif line.startswith("[soak] loaded "):
            loaded[line.split()[-1]] += 1
        elif m := RESUMED.match(line):
            resumed = int(m.group(1))
    return {"took": took, "loaded": loaded, "resumed": resumed}


def count(roles: list[Role], root: Location, steps_seen: set[int], unreadable_after_kill: int):
    """The table's figures, from the files on disk and every run's log."""
    trainer, workers = roles[0], roles[1:]
    games = root / "games"
    on_disk = {p.name for p in games.glob("*.npz")}
    quarantined = {p.name for p in (games / QUARANTINE).glob("*.npz")}
    written = on_disk | quarantined
    took, loaded, twice, mismatches = set(), set(), 0, 0
    for child, newest in zip(trainer.runs, trainer.newest_at_start, strict=True):
        parsed = parse_trainer_log(child.log_path)
        took |= parsed["took"]
        loaded |= set(parsed["loaded"])
        twice += sum(n > 1 for n in parsed["loaded"].values())
        if parsed["resumed"] is not None and parsed["resumed"] != newest:
            mismatches += 1
    logged_lost, logged = 0, 0
    for i, role in enumerate(workers):  # a "game N |" line follows each completed write
        lines = sum(log_text(c).count(f"[worker {i}] game ") for c in role.runs)
        files = sum(f"-w{i:02d}-" in name for name in written)
        logged += lines
        logged_lost += max(0, lines - files)
    logs = {c.log_path.name: log_text(c) for role in roles for c in role.runs}
    tracebacks = [f"traceback in {name}" for name, text in logs.items() if TRACEBACK in text]
    skipped_checkpoints = sum(text.count("warning: skipping checkpoint") for text in logs.values())
    crash_details = [c for role in roles for c in role.crashes] + tracebacks
    return {
        "games_written": len(written),
        "games_logged_by_workers": logged,
        "games_loaded": len(written & loaded),
        "games_skipped_older_than_replay": len((written & took) - loaded),
        "games_lost": len(written - took) + logged_lost,
        "games_loaded_twice_by_one_run": twice,
        "games_quarantined": len(quarantined),
        "crashes": len(crash_details),
        "unreadable_checkpoints": unreadable_after_kill + skipped_checkpoints,
        "resume_mismatches": mismatches,
        "checkpoints_written": len(steps_seen),
        "final_train_step": newest_step(root) or 0,
        "kills": {role.name: role.kills for role in roles},
        "runs": {role.name: len(role.runs) for role in roles},
        "crash_details": crash_details,
    }


MUST_BE_ZERO = (
    "games_lost",
    "games_loaded_twice_by_one_run",
    "games_quarantined",
    "crashes",
    "unreadable_checkpoints",
    "resume_mismatches",
)


def log_text(child: Child) -> str:
    return child.log_path.read_text(errors="replace") if child.log_path.exists() else ""


def report(figures: dict, args: argparse.Namespace, root: Location) -> None:
    scalars = [name for name, value in figures.items() if isinstance(value, int)]
    rows = [(name, figures[name], "0" if name in MUST_BE_ZERO else "") for name in scalars]
    rows += [(f"kills: {name}", kills, "") for name, kills in figures["kills"].items()]
    print()
    print(f"| {'figure':<34} | {'value':>8} | must be |")
    print(f"| {'-' * 34} | {'-' * 7}: | ------- |")
    for name, value, must in rows:
        print(f"| {name.replace('_', ' '):<34} | {value:>8} | {must:^7} |")
    for detail in figures["crash_details"]:
        print(f"crash: {detail}")
    failed = [name for name in MUST_BE_ZERO if figures[name]]
    if args.json:
        result = {
            "minutes": args.minutes,
            "kill_seconds": [args.kill_min, args.kill_max],
            "workers": args.workers,
            "seed": args.seed,
            "config": args.config,
            "overrides": args.overrides,
            **figures,
            "passed": not failed,
        }
        write_json(args.json, result)
    if failed:
        print(f"FAILED: {', '.join(failed)} not 0; data and logs kept in {root}")
        sys.exit(1)
    if args.data_dir is None and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"data and logs in {root}")


class _TracedSet(set):
    """GameLoader.seen, printing each file name the first time the loader takes it."""

    def add(self, name: str) -> None:
        if name not in self:
            print(f"[soak] took {name}", flush=True)
        super().add(name)


def traced_trainer(argv: list[str]) -> None:
    """Run `python <argv>` (train.py) unchanged, with its GameLoader printing what it takes."""
    init, load = GameLoader.__init__, GameLoader._load

    def traced_init(self, *a, **k) -> None:
        init(self, *a, **k)
        self.seen = _TracedSet()

    def traced_load(self, path: Path):
        game = load(self, path)
        if game is not None:
            print(f"[soak] loaded {path.name}", flush=True)
        return game

    GameLoader.__init__, GameLoader._load = traced_init, traced_load
    sys.argv = argv
    runpy.run_path(str(REPO / argv[0]), run_name="__main__")


if __name__ == "__main__":
    main()
