"""A fork server of "trainers" that checkpoint after every step, until killed (test_faults).

    python tests/children/checkpoint_writer.py FOLDER SAVED   (run from the repository root)

It imports torch once, then forks one trainer per "start" line on stdin and prints its pid. Each
trainer resumes like train.py --resume (weights, optimizer and step from the newest checkpoint in
FOLDER), then takes optimizer steps on configs/cartpole.toml's network, saving after each one and
keeping the newest 3; it appends each step to the file SAVED once its save returned. "reap <pid>"
answers with that trainer's exit status.
"""

import os
import sys
from pathlib import Path

import torch

from muzero_lite.checkpoints import build_model, prune_checkpoints, read_latest, save_checkpoint
from muzero_lite.config import load_config
from muzero_lite.envs import Environment


def main() -> None:
    torch.set_num_threads(1)
    folder, saved = Path(sys.argv[1]), sys.argv[2]
    config = load_config("configs/cartpole.toml")
    model = build_model(config, Environment(config.env))
    optimizer = torch.optim.AdamW(model.parameters())
    for line in sys.stdin:
        if line.startswith("reap"):
            status = os.waitpid(int(line.split()[1]), 0)[1]
            print(os.waitstatus_to_exitcode(status), flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            state, step = read_latest(folder, model.arch), 0
            if state is not None:
                model.load_state_dict(state["acting_weights"])
                optimizer.load_state_dict(state["optimizer"])
                step = state["step"]
            out = os.open(saved, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            while True:
                optimizer.zero_grad()
                sum((p * p).sum() for p in model.parameters()).backward()
                optimizer.step()
                step += 1
                save_checkpoint(folder, step, model, optimizer=optimizer.state_dict())
                prune_checkpoints(folder, 3)
                os.write(out, f"{step}\n".encode())
        print(pid, flush=True)


if __name__ == "__main__":
    main()
