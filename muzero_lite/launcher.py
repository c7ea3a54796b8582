"""Start a trainer and self-play workers as child processes, watch them, stop them cleanly.

Children run in their own sessions, so a Ctrl-C in the terminal reaches only the launcher, which
then sends each child exactly one SIGINT (a second could interrupt the trainer's final checkpoint).
On Linux each child also gets SIGTERM if the launcher itself dies, so no process is left behind.
"""

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from muzero_lite.cli import REPO_ROOT
from muzero_lite.paths import DataDirs
from muzero_lite.storage import Location

PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path


def default_workers() -> int:
    """One worker per core beyond the trainer's, at least one."""
    return max(1, (os.cpu_count() or 2) - 1)


def spawn(name: str, script: str, args: list[str], log_path: Path) -> Child:
    """Run `python <repo>/<script> <args>` with its output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log:
        process = subprocess.Popen(
            [sys.executable, "-u", str(REPO_ROOT / script), *args],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    return Child(name, process, log_path)


class LocalRun:
    """A trainer and workers as child processes of this launcher (see `start_run`)."""

    def __init__(self, config: str, overrides: list[str], dirs: DataDirs, workers: int, seed: int):
        self.children = start_run(config, overrides, dirs, workers, seed)
        self.where = f"logs in {dirs.local / 'logs'}"

    def ended(self) -> dict[str, str]:
        """Children that exited, with their status and log."""
        return {
            c.name: f"exited with status {c.process.returncode}: see {c.log_path}"
            for c in self.children
            if c.process.poll() is not None
        }

    def stop(self) -> dict[str, int]:
        return stop_all(self.children)


@dataclass(frozen=True)
class Command:
    """One process of a run: its name, entry script, arguments and log file's name."""

    name: str
    script: str
    args: list[str]
    log_name: str


def run_commands(
    config: str, overrides: list[str], data_root: Location, workers: int, seed: int
) -> list[Command]:
    """A trainer (resuming from any checkpoint in the data folder) and `workers` self-play
    workers on one data folder; each place that runs them adds its own `--local-dir`."""
    common = ["--config", config, "--data-dir", str(data_root)]
    for item in overrides:
        common += ["--set", item]
    commands = [Command("trainer", "train.py", [*common, "--resume", "--seed", str(seed)],
                        "train.log")]  # fmt: skip
    for i in range(workers):
        args = [*common, "--worker-id", str(i), "--seed", str(seed)]
        commands.append(Command(f"worker {i}", "selfplay.py", args, f"worker-{i}.log"))
    return commands


def start_run(
    config: str, overrides: list[str], dirs: DataDirs, workers: int, seed: int
) -> list[Child]:
    """The processes of `run_commands` as children of this one, on the same local folder, with
    their logs in its logs/."""
    local = ["--local-dir", str(dirs.local)]
    return [
        spawn(c.name, c.script, [*c.args, *local], dirs.local / "logs" / c.log_name)
        for c in run_commands(config, overrides, dirs.root, workers, seed)
    ]


def stop_all(children: list[Child], timeout: float = 60.0) -> dict[str, int]:
    """SIGINT every child still running, wait up to `timeout`, then SIGKILL; their exit codes."""
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
    return {child.name: child.process.returncode for child in children}


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux for SIGTERM when the launcher dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
