"""Shared test helpers: small game records and paths to the repository's entry points."""

from pathlib import Path

import numpy as np
import pytest

from muzero_lite.games import GameRecord

REPO = Path(__file__).resolve().parent.parent


def make_record(length: int = 3, num_actions: int = 2, terminated: bool = True) -> GameRecord:
    """A small valid game of vector observations whose values are easy to check."""
    return GameRecord(
        observations=np.arange((length + 1) * 4, dtype=np.float32).reshape(length + 1, 4),
        actions=np.arange(length, dtype=np.int64) % num_actions,
        rewards=np.arange(1, length + 1, dtype=np.float32),
        policies=np.full((length, num_actions), 1.0 / num_actions, dtype=np.float32),
        root_values=np.linspace(10, 10 * (length + 1), length + 1).astype(np.float32),
        terminated=terminated,
        truncated=not terminated,
        metadata={"env_id": "CartPole-v1", "return": float(length * (length + 1) / 2)},
    )


@pytest.fixture
def record() -> GameRecord:
    return make_record()
