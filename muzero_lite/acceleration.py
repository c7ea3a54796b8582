"""How the trainer and the workers run their networks fast: precision, memory format, compilation.

- precision (`train.precision`): the network passes of a training step run under autocast in
  bfloat16 or float16 while the weights, the optimizer and the losses stay in float32 (mixed
  precision); float16 adds a gradient scaler. "auto" takes bfloat16 on a CUDA GPU that has it
  (else float16) and, on a CPU, bfloat16 only where this CPU has bf16 instructions and a short
  measurement of the representation network says it is faster there than float32.
- memory format (`train.channels_last`): the pixel networks keep their activations [B, H, W, C]
  in memory, the layout the convolution kernels of CPUs and GPUs prefer.
- compilation (`train.compile`): torch.compile fuses the representation network's operations.

Self-play (`selfplay.precision`, `for_selfplay`): a worker's network calls, inference only, run
under autocast too where they are large enough to gain: "auto" takes bfloat16 for a pixel
network with at least SELFPLAY_MIN_SLOTS game slots on a device that has it, float32 otherwise
(one stack per call measured slower in bfloat16 than in float32; `bench/inference_precision.py`,
BENCHMARKS.md).
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
from networks import Architecture, MuZeroNet, NetworkOutput

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
AUTO_MIN_SPEEDUP = 1.15
"""On a CPU, auto takes bfloat16 only when its measured pass is this many times faster..."""
AUTO_MIN_SECONDS = 0.005
"""...and only for networks whose float32 pass takes this long: shorter passes gain nothing
from autocast (its casts cost more), and their timings are too noisy to choose by."""
SELFPLAY_MIN_SLOTS = 8
"""A worker's auto takes a lower precision from this many game slots, for pixel networks: one
stack per call measured slower in bfloat16 than in float32, 8 or more faster
(`bench/inference_precision.py --roots N`; the figures are in BENCHMARKS.md). A rule, not a
measurement at start: short timings on a shared machine flip from one start to the next, and a
worker's play should not depend on them."""
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
    name: str,
    device: torch.device,
    time_pass: Callable[[torch.dtype], float],
    setting: str = "train.precision",
) -> tuple[torch.dtype, str]:
    """(dtype, why) for the precision `name` (of `setting`) on `device`; time_pass(dtype) ->
    seconds is called only for "auto" on a CPU with bf16 instructions."""
    cuda = device.type == "cuda"
    if name == "float32":
        return torch.float32, f"{setting} = float32"
    if name == "float16":
        if cuda:
            scaler = ", with a gradient scaler" if setting.startswith("train") else ""
            return torch.float16, f"{setting} = float16{scaler}"
        return torch.float32, "float16 asked for, but only a CUDA GPU runs it: float32"
    bf16 = torch.cuda.is_bf16_supported() if cuda else cpu_has_bf16()
    where = "this GPU" if cuda else "this CPU"
    if name == "bfloat16":
        if bf16:
            return torch.bfloat16, f"{setting} = bfloat16"
        return torch.float32, f"bfloat16 asked for, but {where} has no bf16 instructions: float32"
    if cuda:
        if bf16:
            return torch.bfloat16, "auto: bfloat16 on a GPU that has it"
        scaler = " with a gradient scaler" if setting.startswith("train") else ""
        return torch.float16, f"auto: float16{scaler}, on a GPU without bfloat16"
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
    observations, prev_actions = random_inputs(model.arch, batch_size, device)
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


def random_inputs(
    arch: Architecture, batch_size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random observations [B, N, *obs] and previous actions (all 0) for a timed pass,
    drawn without touching the global random stream."""
    shape = (batch_size, arch.stack, *arch.observation_shape)
    rng = torch.Generator(device).manual_seed(0)
    observations = (
        torch.randint(0, 256, shape, dtype=torch.uint8, device=device, generator=rng)
        if arch.pixels
        else torch.randn(shape, device=device, generator=rng)
    )
    return observations, torch.zeros(batch_size, arch.stack, dtype=torch.long, device=device)


@dataclass(frozen=True)
class Inference:
    """How a worker runs its network calls: the model its search calls (the network, or the
    network under autocast), the precision and why; `line()` is what its log says."""

    search_model: "MuZeroNet | AutocastModel"
    dtype: torch.dtype  # torch.float32: no autocast
    why: str

    def line(self) -> str:
        precision = next(name for name, dtype in PRECISIONS.items() if dtype == self.dtype)
        return f"inference {precision} ({self.why})"


class AutocastModel:
    """A search model whose network calls run under autocast to `dtype`. What the search reads
    (values, rewards, policy logits) comes back in float32; the hidden state stays in `dtype` for
    the next call. Weights loaded into `model` are used at once (it is held, not copied)."""

    def __init__(self, model: MuZeroNet, dtype: torch.dtype):
        self.model, self.dtype = model, dtype
        self.device = next(model.parameters()).device

    def initial_inference(
        self, observations: torch.Tensor, prev_actions: torch.Tensor
    ) -> NetworkOutput:
        with autocast(self.device, self.dtype):
            return _float32(self.model.initial_inference(observations, prev_actions))

    def recurrent_inference(self, hidden: torch.Tensor, action: torch.Tensor) -> NetworkOutput:
        with autocast(self.device, self.dtype):
            return _float32(self.model.recurrent_inference(hidden, action))


def _float32(out: NetworkOutput) -> NetworkOutput:
    return NetworkOutput(
        out.hidden, out.value.float(), out.reward.float(), out.policy_logits.float()
    )


def for_selfplay(model: MuZeroNet, precision: str, device: torch.device, slots: int) -> Inference:
    """How a worker with `slots` game slots runs `model` for `selfplay.precision`."""
    dtype, why = selfplay_precision(precision, device, pixels=model.arch.pixels, slots=slots)
    return Inference(model if dtype == torch.float32 else AutocastModel(model, dtype), dtype, why)


def selfplay_precision(
    name: str, device: torch.device, *, pixels: bool, slots: int
) -> tuple[torch.dtype, str]:
    """(dtype, why) for selfplay.precision `name`. "auto" takes a lower precision only for a
    pixel network with at least SELFPLAY_MIN_SLOTS slots: bfloat16 where the device has it, else
    float16 on a GPU and float32 on a CPU. A precision by name is taken as the trainer's is."""
    if name != "auto":
        return choose_precision(name, device, lambda dtype: 0.0, setting="selfplay.precision")
    if not pixels:
        return torch.float32, "auto: a vector network's calls are too small to gain"
    if slots < SELFPLAY_MIN_SLOTS:
        return torch.float32, (
            f"auto: {slots} game slot{'s' if slots > 1 else ''}, too small a call to gain; "
            f"a lower precision from {SELFPLAY_MIN_SLOTS}"
        )
    cuda = device.type == "cuda"
    if torch.cuda.is_bf16_supported() if cuda else cpu_has_bf16():
        return torch.bfloat16, f"auto: bfloat16 for {slots} game slots, which this device has"
    if cuda:
        return torch.float16, f"auto: float16 for {slots} game slots, on a GPU without bfloat16"
    return torch.float32, "auto: this CPU has no bf16 instructions"
