"""How the trainer runs its networks fast: precision, memory format and compilation.

- precision (`train.precision`): the network passes of a training step run under autocast in
  bfloat16 or float16 while the weights, the optimizer and the losses stay in float32 (mixed
  precision); float16 adds a gradient scaler. "auto" takes bfloat16 on a CUDA GPU that has it
  (else float16) and, on a CPU, bfloat16 only where this CPU has bf16 instructions and a short
  measurement of the representation network says it is faster there than float32.
- memory format (`train.channels_last`): the pixel networks keep their activations [B, H, W, C]
  in memory, the layout the convolution kernels of CPUs and GPUs prefer.
- compilation (`train.compile`): torch.compile fuses the representation network's operations.

Self-play inference stays in float32: at a worker's batch sizes bfloat16 measured slower here
(`bench/inference_precision.py`, BENCHMARKS.md).
"""

import contextlib
import importlib.util
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from muzero_lite.finite import restore_buffers
from networks import MuZeroNet

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
AUTO_MIN_SPEEDUP = 1.15
"""On a CPU, auto takes bfloat16 only when its measured pass is this many times faster..."""
AUTO_MIN_SECONDS = 0.005
"""...and only for networks whose float32 pass takes this long: shorter passes gain nothing
from autocast (its casts cost more), and their timings are too noisy to choose by."""
COMPILED_PARTS = ("representation_net",)
"""What train.compile compiles: the representation network, where fusing BatchNorm and ReLU over
large activations pays; the dynamics and the heads, on 6x6 states, measured slower compiled."""


@dataclass(frozen=True)
class Acceleration:
    """What the trainer chose, and why; `lines()` is what its first log lines say."""

    device: torch.device
    dtype: torch.dtype  # of the network passes; torch.float32: no autocast
    why: str  # how the precision was chosen
    channels_last: bool  # pixel networks hold activations [B, H, W, C]
    compiled: bool  # torch.compile on the parts COMPILED_PARTS names

    @property
    def precision(self) -> str:
        return next(name for name, dtype in PRECISIONS.items() if dtype == self.dtype)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context the network passes run in (a no-op in float32)."""
        return autocast(self.device, self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A loss scaler, active for float16 only (bfloat16 has float32's range)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)

    def lines(self) -> list[str]:
        memory = "channels_last" if self.channels_last else "contiguous"
        compiled = "torch.compile (compiles at the first step)" if self.compiled else "eager"
        return [
            f"[train] device {self.device}; precision {self.precision} ({self.why})",
            f"[train] memory format {memory}; {compiled}",
        ]


def accelerate(
    model: MuZeroNet, *, device: torch.device, precision: str, compile: bool, batch_size: int
) -> Acceleration:
    """Choose the precision and compile `model` in place, as configured; its memory format was
    set when it was made (`MuZeroNet.use_channels_last`). Compiling changes no weight names, so
    checkpoints load either way."""
    dtype, why = choose_precision(
        precision, device, lambda dtype: time_representation(model, dtype, batch_size, device)
    )
    compiled = False
    if compile and (problem := compile_problem(device)) is None:
        torch._dynamo.config.suppress_errors = True  # a graph that fails to compile runs eager
        for name in COMPILED_PARTS:
            getattr(model, name).compile()
        compiled = True
    elif compile:
        why += f"; not compiled: {problem}"
    return Acceleration(device, dtype, why, model.channels_last, compiled)


def compile_problem(device: torch.device) -> str | None:
    """Why torch.compile cannot run on `device` here, or None."""
    if device.type == "cuda":
        if importlib.util.find_spec("triton") is None:
            return "Triton is not installed"
        return None
    if not any(shutil.which(name) for name in ("c++", "g++", "clang++", "cl")):
        return "no C++ compiler on the PATH"
    return None


def autocast(device: torch.device | str, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Autocast to `dtype` on the device's type; a no-op for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def choose_precision(
    name: str, device: torch.device, time_pass: Callable[[torch.dtype], float]
) -> tuple[torch.dtype, str]:
    """(dtype, why) for train.precision `name` on `device`; time_pass(dtype) -> seconds is
    called only for "auto" on a CPU with bf16 instructions."""
    cuda = device.type == "cuda"
    if name == "float32":
        return torch.float32, "train.precision = float32"
    if name == "float16":
        if cuda:
            return torch.float16, "train.precision = float16, with a gradient scaler"
        return torch.float32, "float16 asked for, but only a CUDA GPU runs it: float32"
    bf16 = torch.cuda.is_bf16_supported() if cuda else cpu_has_bf16()
    where = "this GPU" if cuda else "this CPU"
    if name == "bfloat16":
        if bf16:
            return torch.bfloat16, "train.precision = bfloat16"
        return torch.float32, f"bfloat16 asked for, but {where} has no bf16 instructions: float32"
    if cuda:
        if bf16:
            return torch.bfloat16, "auto: bfloat16 on a GPU that has it"
        return torch.float16, "auto: float16 with a gradient scaler, on a GPU without bfloat16"
    if not bf16:
        return torch.float32, "auto: this CPU has no bf16 instructions"
    float32_s = time_pass(torch.float32)
    if float32_s < AUTO_MIN_SECONDS:
        return torch.float32, f"auto: a pass takes {1000 * float32_s:.1f} ms, too short to gain"
    speedup = float32_s / time_pass(torch.bfloat16)
    if speedup >= AUTO_MIN_SPEEDUP:
        return torch.bfloat16, f"auto: bfloat16 measured {speedup:.2f}x float32 on this CPU"
    return torch.float32, f"auto: bfloat16 measured only {speedup:.2f}x float32 on this CPU"


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 arithmetic (AVX512-BF16 or AMX on x86, BF16 on Arm)."""
    cpuinfo = Path("/proc/cpuinfo")
    if platform.system() == "Linux" and cpuinfo.is_file():
        flags = set(cpuinfo.read_text(errors="replace").split())
        return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def time_representation(
    model: MuZeroNet, dtype: torch.dtype, batch_size: int, device: torch.device, repeats: int = 3
) -> float:
    """Seconds of the representation network's forward and backward pass on a random batch under
    autocast to `dtype` (float32: none), the fastest of `repeats` after one warm-up.

    Nothing of the model changes: its BatchNorm statistics are put back, its gradients cleared.
    """
    arch = model.arch
    shape = (batch_size, arch.stack, *arch.observation_shape)
    rng = torch.Generator(device).manual_seed(0)  # random inputs, the global stream untouched
    observations = (
        torch.randint(0, 256, shape, dtype=torch.uint8, device=device, generator=rng)
        if arch.pixels
        else torch.randn(shape, device=device, generator=rng)
    )
    prev_actions = torch.zeros(batch_size, arch.stack, dtype=torch.long, device=device)
    buffers = [b.clone() for b in model.buffers()]
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        with autocast(device, dtype):
            hidden = model.represent(observations, prev_actions)
        hidden.float().sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    restore_buffers(model, buffers)
    model.zero_grad(set_to_none=True)
    return min(times[1:])
