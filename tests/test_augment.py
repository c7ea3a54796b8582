"""Random-shift augmentation: one shift per stack, edges repeated, exact values."""

import dataclasses

import numpy as np
import pytest

from muzero_lite.replay.augment import augmented, shift_stacks
from muzero_lite.replay.batch import Batch
from tests.test_losses import tiny_batch


class FixedShifts:
    """Stands in for a Generator: hands out the given (dy, dx) rows, in order."""

    def __init__(self, shifts):
        self.shifts = np.array(shifts)

    def integers(self, low, high, size):
        drawn, self.shifts = self.shifts[: size[0]], self.shifts[size[0] :]
        assert drawn.shape == size and drawn.min() >= low and drawn.max() < high
        return drawn


def ramp(stacks=1, frames=2, side=4) -> np.ndarray:
    """[stacks, frames, side, side] uint8 frames whose pixels say where they are: 100f + 10y + x."""
    _, f, y, x = np.indices((stacks, frames, side, side))
    return (100 * f + 10 * y + x).astype(np.uint8)


def test_a_shift_moves_every_frame_of_a_stack_alike_and_repeats_the_edges():
    out = shift_stacks(ramp(), pad=2, rng=FixedShifts([[1, -2]]))
    # out[y, x] = in[clip(y + 1), clip(x - 2)]: rows move up by one, columns right by two
    expected_frame = np.array(
        [
            [10, 10, 10, 11],
            [20, 20, 20, 21],
            [30, 30, 30, 31],
            [30, 30, 30, 31],
        ]
    )
    np.testing.assert_array_equal(out[0, 0], expected_frame)
    np.testing.assert_array_equal(out[0, 1], expected_frame + 100)
    assert out.dtype == np.uint8


def test_each_stack_gets_its_own_shift():
    frames = np.repeat(ramp(), 6, axis=0)  # [6, N, H, W]
    shifts = [[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1], [2, 2]]
    out = shift_stacks(frames, pad=2, rng=FixedShifts(shifts))
    for stack, (dy, dx) in zip(range(6), shifts, strict=True):
        rows = np.clip(np.arange(4) + dy, 0, 3)
        cols = np.clip(np.arange(4) + dx, 0, 3)
        np.testing.assert_array_equal(out[stack], frames[stack][:, rows][:, :, cols])


def test_colour_frames_shift_their_pixels_not_their_channels():
    frames = np.stack([ramp(), ramp() + 1, ramp() + 2], axis=-1)  # [1, N, H, W, 3]
    out = shift_stacks(frames, pad=1, rng=FixedShifts([[0, 1]]))
    np.testing.assert_array_equal(out[0, 0, 0], [[1, 2, 3], [2, 3, 4], [3, 4, 5], [3, 4, 5]])


def test_random_shifts_stay_within_pad_and_zero_pad_changes_nothing():
    frames = np.random.default_rng(0).integers(0, 256, (64, 4, 12, 12), dtype=np.uint8)
    out = shift_stacks(frames, pad=3, rng=np.random.default_rng(1))
    # the centre 6x6 of a stack shifted by at most 3 is a window of the original frames
    assert any((out[:, :, 3:9, 3:9] != frames[:, :, 3:9, 3:9]).reshape(64, -1).any(1))
    assert np.array_equal(shift_stacks(frames, 0, np.random.default_rng(1)), frames)


def pixel_batch() -> Batch:
    """tiny_batch with frame stacks [B=3, N=2, 4, 4], next states [B, K=2, N, 4, 4] and the
    stacks a fresh value target bootstraps from [B, K+1, N, 4, 4]."""
    batch = tiny_batch()
    return dataclasses.replace(
        batch,
        observations=np.repeat(ramp(), 3, axis=0),
        next_observations=np.broadcast_to(ramp(), (3, 2, 2, 4, 4)).copy(),
        bootstrap_observations=np.broadcast_to(ramp(), (3, 3, 2, 4, 4)).copy(),
    )


def test_a_batch_shifts_its_inputs_and_each_next_state_but_not_what_it_bootstraps_from():
    batch = pixel_batch()
    shifts = [[1, 0], [0, 1], [-1, -1], [1, 1], [2, 0], [0, 2], [-2, 0], [0, -2], [1, -1]]
    out = augmented(batch, 2, FixedShifts(shifts))
    inputs = shift_stacks(batch.observations, 2, FixedShifts(shifts[:3]))
    following = shift_stacks(ramp().repeat(6, axis=0), 2, FixedShifts(shifts[3:]))
    np.testing.assert_array_equal(out.observations, inputs)
    np.testing.assert_array_equal(out.next_observations, following.reshape(3, 2, 2, 4, 4))
    assert out.bootstrap_observations is batch.bootstrap_observations
    assert out.actions is batch.actions


def test_zero_pad_returns_the_batch_and_draws_nothing():
    batch = pixel_batch()
    rng = np.random.default_rng(0)
    assert augmented(batch, 0, rng) is batch
    assert rng.integers(100) == np.random.default_rng(0).integers(100)
    with pytest.raises(ValueError, match="expected stacks"):
        shift_stacks(np.zeros((2, 4), np.uint8), 1, rng)
