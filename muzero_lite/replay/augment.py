"""Random-shift augmentation of sampled frame stacks, as the trainer sees them (DrQ, EfficientZero).

Each stack is moved by (dy, dx), both drawn from -pad..pad, with the same shift for all its frames
(a stack shows one moment's motion, which a shift must not change); the rows and columns it uncovers
repeat the edge, as padding with the border and cropping back would. Self-play and evaluation see
the frames as they are.
"""

import dataclasses

import numpy as np

from muzero_lite.replay.batch import Batch


def shift_stacks(stacks: np.ndarray, pad: int, rng: np.random.Generator) -> np.ndarray:
    """A shifted copy of M frame stacks [M, N, H, W] (grey) or [M, N, H, W, C]: one (dy, dx)
    per stack, drawn from rng in order."""
    if stacks.ndim not in (4, 5):
        raise ValueError(f"expected stacks [M, N, H, W(, C)], got shape {stacks.shape}")
    shifts = rng.integers(-pad, pad + 1, size=(len(stacks), 2))
    out = np.empty_like(stacks)
    for stack, target, (dy, dx) in zip(stacks, out, shifts, strict=True):
        _shift_into(stack, target, int(dy), int(dx))
    return out


def _shift_into(stack: np.ndarray, out: np.ndarray, dy: int, dx: int) -> None:
    """out[:, y, x] = stack[:, clip(y + dy), clip(x + dx)] for one stack [N, H, W(, C)]."""
    h, w = stack.shape[1:3]
    out[:, _to(dy, h), _to(dx, w)] = stack[:, _from(dy, h), _from(dx, w)]
    if dy > 0:  # the bottom rows uncovered: repeat the last row copied
        out[:, h - dy :] = out[:, h - dy - 1 : h - dy]
    elif dy < 0:
        out[:, :-dy] = out[:, -dy : -dy + 1]
    if dx > 0:
        out[:, :, w - dx :] = out[:, :, w - dx - 1 : w - dx]
    elif dx < 0:
        out[:, :, :-dx] = out[:, :, -dx : -dx + 1]


def _from(d: int, size: int) -> slice:
    """The source rows (or columns) that a shift by d keeps."""
    return slice(max(d, 0), size + min(d, 0))


def _to(d: int, size: int) -> slice:
    """Where those rows land."""
    return slice(max(-d, 0), size + min(-d, 0))


def augmented(batch: Batch, pad: int, rng: np.random.Generator) -> Batch:
    """The batch with its observation stacks shifted, and those of the states the unroll reaches
    (the consistency loss's targets) each shifted on their own; the stacks a fresh value target
    bootstraps from stay as they are. pad = 0 returns the batch unchanged, drawing nothing."""
    if pad == 0:
        return batch
    shifted = {"observations": shift_stacks(batch.observations, pad, rng)}
    if (following := batch.next_observations) is not None:  # [B, J, N, ...]: B*J stacks
        stacks = following.reshape(-1, *batch.observations.shape[1:])
        shifted["next_observations"] = shift_stacks(stacks, pad, rng).reshape(following.shape)
    return dataclasses.replace(batch, **shifted)
