"""A trainer and self-play workers placed on a Ray cluster (`launch.py --ray ADDRESS`).

Ray places, watches and restarts the processes; games, GIFs and checkpoints still go only through
the data folder (a store every node reaches, `s3://...`), never through Ray's object store. Each
process is a `Supervisor` actor that runs one entry script (`train.py --resume` or `selfplay.py`)
as a child process on its node, with the child's output in that node's local `logs/`. When a child
ends without being asked to (killed, out of memory, stopped by a signal from elsewhere, a store
that kept failing, a divergence), its actor dies with it and Ray starts the actor again and
retries its `run` call, so a new child carries on from the files, at most MAX_RESTARTS times. A
child that refuses its input (exit status 2: a config or checkpoint of another network or other
env settings) is not restarted: `launch.py` reports it and stops the run. A restarted actor first
waits for the child of the actor before it on the same node (its pid is kept on disk), so two
trainers never write one folder; where Ray places the new actor on another node, the old child
still gets SIGTERM from Linux when its actor died, and stops within its clean-stop time.

Ray is imported only here, so a run on one PC never needs it.
"""

import contextlib
import csv
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muzero_lite import interrupts
from muzero_lite.cli import REPO_ROOT
from muzero_lite.config import ConfigError
from muzero_lite.launcher import Command, run_commands, spawn
from muzero_lite.paths import LOCAL_FOR_STORES, DataDirs
from muzero_lite.storage import is_stored

MAX_RESTARTS = 20
"""How often Ray starts one process's actor again before `launch.py` reports it dead."""
FINAL = (2,)
"""Exit statuses that end a process for good when it was not asked to stop: refused its input."""
OLD_CHILD_WAIT_S = 90.0
"""How long a restarted actor waits for its predecessor's child to stop before killing it."""
UPLOAD_EXCLUDES = [".git", ".venv", "games", "gifs", "checkpoints", "runs", "logs", "local-runs",
                   "eval", "bench/results", "*.png"]  # fmt: skip
"""What stays behind when the code goes to a remote cluster (Ray's `working_dir`)."""


class Supervisor:
    """One entry script as a child process of a Ray actor; see the module's docstring."""

    def __init__(self, command: Command, local_dir: str):
        local = Path(local_dir).expanduser()  # on this node's disk
        self.name, self.script = command.name, command.script
        self.args = [*command.args, "--local-dir", str(local)]
        self.log_path = local / "logs" / command.log_name
        self.pid_path = self.log_path.with_suffix(".pid")
        self.metrics_path = local / "runs" / "train" / "metrics.csv"
        self.child = None
        self.stopping = False

    def run(self) -> int:
        """Run the child to its end; its exit status, where it is final (FINAL)."""
        self._wait_for_old_child()
        if self.stopping:  # a stop that a restart delivered before this retried call
            return 0
        self.child = spawn(self.name, self.script, self.args, self.log_path)
        self.pid_path.write_text(str(self.child.process.pid))
        code = self.child.process.wait()
        self.pid_path.unlink(missing_ok=True)  # reaped: nothing for a successor to wait on
        if self.stopping or code in FINAL:
            return code
        os._exit(1)  # the actor dies with its child: Ray starts it again and retries run()

    def _wait_for_old_child(self) -> None:
        """Wait for the child of this actor's predecessor on this node to end (SIGTERM reached
        it when that actor died); kill it after OLD_CHILD_WAIT_S."""
        try:
            pid = int(self.pid_path.read_text())
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + OLD_CHILD_WAIT_S
        while _runs(pid, [self.script, self.args[-1]]):  # the script, on this local folder
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)

    def stop(self, timeout: float = 60.0) -> None:
        """Ctrl-C for the child (one SIGINT, as `launcher.stop_all` sends), then SIGKILL."""
        self.stopping = True
        child = self.child
        if child is None or child.process.poll() is not None:
            return
        child.process.send_signal(signal.SIGINT)
        try:
            child.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.process.kill()

    def metrics(self) -> dict[str, str]:
        """The trainer's newest metrics row, from its node's disk ({} before the first)."""
        try:
            with open(self.metrics_path, newline="") as f:
                rows = list(csv.DictReader(f))
        except FileNotFoundError:
            return {}
        return rows[-1] if rows else {}


def _runs(pid: int, words: list[str]) -> bool:
    """Whether process `pid` is alive with every one of `words` in its command line (so not a
    pid the system gave to another process since)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            line = f.read()
    except OSError:
        return False
    return all(w.encode() in line for w in words)


@dataclass
class Placed:
    name: str
    actor: Any
    run: Any  # the ObjectRef of its run() call


class RayRun:
    """A trainer and `workers` workers on the cluster at `address` (`auto`, `local`, ray://...)."""

    def __init__(self, address: str, config: str, overrides: list[str], dirs: DataDirs,
                 workers: int, seed: int, train_device: str):  # fmt: skip
        import ray

        if address != "local" and not is_stored(dirs.root):
            raise ConfigError(
                f"--ray {address} needs a --data-dir every node reaches, such as s3://bucket/run, "
                f"not the local folder {str(dirs.root)!r} (or use --ray local)"
            )
        self.ray = ray
        self.started_here = address == "local"
        if self.started_here:  # this machine: the code is here, and so is the local folder
            runtime_env = {"env_vars": {"PYTHONPATH": str(REPO_ROOT)}}
            ray.init(include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
            local = str(dirs.local.resolve())
        else:  # the code goes to every node; each keeps its logs in its home folder
            runtime_env = {"working_dir": str(REPO_ROOT), "excludes": UPLOAD_EXCLUDES}
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
            mine = Path("~/muzero-lite") / LOCAL_FOR_STORES / dirs.local.name
            local = str(dirs.local_root or mine)
        interrupts.install()  # ray.init replaced the handlers: Ctrl-C and SIGTERM stop the run
        resources = ray.cluster_resources()
        cpus = float(resources.get("CPU", 1.0))
        share = min(1.0, cpus / (workers + 1))  # fractional requests where the cluster is small
        gpu = 1.0 if resources.get("GPU", 0) >= 1 and train_device != "cpu" else 0.0
        self.where = f"{cpus:g} CPUs, {resources.get('GPU', 0):g} GPUs; {share:.2g} CPU a process"
        actor = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=-1, max_concurrency=4)(
            Supervisor
        )
        self.placed = []
        for command in run_commands(config, overrides, dirs.root, workers, seed):
            if command.script == "train.py":
                options = actor.options(num_cpus=share, num_gpus=gpu)
            else:
                options = actor.options(num_cpus=share, scheduling_strategy="SPREAD")
            self.placed.append(self._place(options, command, local))

    def _place(self, actor: Any, command: Command, local: str) -> Placed:
        handle = actor.remote(command, local)
        return Placed(command.name, handle, handle.run.remote())

    def trainer_metrics(self) -> dict[str, str]:
        try:
            return self.ray.get(self.placed[0].actor.metrics.remote(), timeout=10)
        except Exception:  # the trainer's actor is restarting: no row this time
            return {}

    def ended(self) -> dict[str, str]:
        """Processes that ended for good, with how: an exit status or Ray's reason in a line."""
        done, _ = self.ray.wait([p.run for p in self.placed], num_returns=len(self.placed),
                                timeout=0)  # fmt: skip
        ended = {}
        for p in self.placed:
            if p.run in done:
                try:
                    ended[p.name] = f"exited with status {self.ray.get(p.run)}"
                except Exception as e:  # restarted MAX_RESTARTS times, or its node is gone
                    ended[p.name] = f"failed: {str(e).strip().splitlines()[0]}"
        return ended

    def stop(self, timeout: float = 60.0) -> dict[str, int | str]:
        """Ctrl-C for every process, then their exit statuses; every actor is killed after."""
        stops = [p.actor.stop.remote(timeout) for p in self.placed]
        with contextlib.suppress(Exception):  # an actor that is gone has nothing to stop
            self.ray.get(stops, timeout=timeout + 10)
        codes: dict[str, int | str] = {}
        deadline = time.monotonic() + 10
        for p in self.placed:
            try:
                codes[p.name] = self.ray.get(p.run, timeout=max(0.1, deadline - time.monotonic()))
            except Exception:
                codes[p.name] = "lost"
            self.ray.kill(p.actor, no_restart=True)
        if self.started_here:
            self.ray.shutdown()
        return codes
