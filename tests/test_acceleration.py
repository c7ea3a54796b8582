"""Mixed precision, channels_last and how the trainer and the workers choose them.

The tolerances of mixed precision were set before the test was first run, from bfloat16's 8
significant bits (a relative rounding of 2^-9, about 0.2%, per operation): the loss within 1% of
float32, each loss term within 2% (or 0.01 absolute, for terms near zero), and the gradient, as
one vector over all weights, within 5% relative L2 distance of float32's. A silently disabled
autocast would pass those, so the test also requires the encoder's output to be bfloat16.

Self-play inference in bfloat16, set the same way before its test was first run: the values and
policy logits a search reads within 0.05 absolute of float32's plus 5% of their size (8 bits of
mantissa through a few layers), and every kind of search on them gives valid results.
"""

import copy

import numpy as np
import pytest
import torch
from conftest import REPO, SMALL_TRAINER, make_record
from torch._dynamo.utils import counters

from muzero_lite import acceleration
from muzero_lite.acceleration import (
    AutocastModel,
    accelerate,
    choose_precision,
    compile_problem,
    for_selfplay,
    selfplay_precision,
)
from muzero_lite.config import (
    GumbelConfig,
    MctsConfig,
    SearchConfig,
    TrainConfig,
    TruncatedSearchConfig,
    load_config,
)
from muzero_lite.games import GameRecord
from muzero_lite.losses import muzero_loss
from muzero_lite.optimizer import make_optimizer, restore_optimizer
from muzero_lite.paths import DataDirs
from muzero_lite.replay import Batch
from muzero_lite.search import search_batch
from muzero_lite.trainer import Trainer
from networks import Architecture, MuZeroNet

LOSS_RTOL, TERM_RTOL, TERM_ATOL, GRADIENT_RTOL = 1e-2, 2e-2, 1e-2, 5e-2
PIXELS = Architecture((36, 36), 5, 2, True, 16, 1, 0, 32, 10)  # a small Mario-like network


def pixel_batch(arch: Architecture, size: int = 16, unroll: int = 3) -> Batch:
    """A fixed batch of random frames and targets (seeded)."""
    rng = np.random.default_rng(0)
    policies = rng.random((size, unroll + 1, arch.num_actions)).astype(np.float32)
    return Batch(
        observations=rng.integers(0, 256, (size, arch.stack, *arch.observation_shape), np.uint8),
        prev_actions=rng.integers(-1, arch.num_actions, (size, arch.stack)),
        actions=rng.integers(0, arch.num_actions, (size, unroll)),
        target_values=rng.normal(0, 3, (size, unroll + 1)).astype(np.float32),
        target_rewards=rng.normal(0, 1, (size, unroll + 1)).astype(np.float32),
        target_policies=policies / policies.sum(-1, keepdims=True),
        policy_mask=np.ones((size, unroll + 1), np.float32),
        value_mask=np.ones((size, unroll + 1), np.float32),
        weights=rng.uniform(0.5, 1, size).astype(np.float32),
        leaf_indices=np.arange(size),
    )


def trained_for_a_while(arch: Architecture) -> MuZeroNet:
    """A network with non-zero value and reward heads (new ones predict exactly 0)."""
    torch.manual_seed(0)
    model = MuZeroNet(arch).train()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def loss_and_gradient(model: MuZeroNet, batch: Batch, precision: torch.dtype):
    model = copy.deepcopy(model)  # the BatchNorm statistics of one pass do not reach the next
    loss = muzero_loss(model, batch, exploration_fraction=0.1, precision=precision)
    loss.total.backward()
    gradient = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return loss, gradient


@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_bfloat16_loss_and_gradient_stay_within_the_stated_tolerance_of_float32(channels_last):
    model = trained_for_a_while(PIXELS)
    if channels_last:
        model.use_channels_last()
    batch = pixel_batch(PIXELS)
    reference, reference_gradient = loss_and_gradient(model, batch, torch.float32)
    mixed, gradient = loss_and_gradient(model, batch, torch.bfloat16)

    expected_total = float(reference.total.detach())
    assert float(mixed.total.detach()) == pytest.approx(expected_total, rel=LOSS_RTOL)
    for term in ("value", "reward", "policy", "exploration"):
        expected = getattr(reference, term)
        assert getattr(mixed, term) == pytest.approx(expected, rel=TERM_RTOL, abs=TERM_ATOL)
    distance = float((gradient - reference_gradient).norm() / reference_gradient.norm())
    assert distance < GRADIENT_RTOL
    assert distance > 0  # the two really differ: bfloat16 did run
    assert mixed.total.dtype == torch.float32  # the losses themselves are float32


def test_the_encoder_really_runs_in_bfloat16_under_mixed_precision():
    model = trained_for_a_while(PIXELS).use_channels_last()
    seen = []
    model.representation_net.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    model.transition_net.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    muzero_loss(model, pixel_batch(PIXELS), exploration_fraction=0.1, precision=torch.bfloat16)
    assert seen and set(seen) == {torch.bfloat16}
    seen.clear()
    muzero_loss(model, pixel_batch(PIXELS), exploration_fraction=0.1)
    assert set(seen) == {torch.float32}


def test_channels_last_computes_the_same_numbers_in_another_memory_layout():
    model = trained_for_a_while(PIXELS)
    batch = pixel_batch(PIXELS)
    reference, reference_gradient = loss_and_gradient(model, batch, torch.float32)
    laid_out = copy.deepcopy(model).use_channels_last()
    weight = laid_out.representation_net.net[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    loss, gradient = loss_and_gradient(laid_out, batch, torch.float32)
    assert float(loss.total.detach()) == pytest.approx(float(reference.total.detach()), rel=1e-5)
    torch.testing.assert_close(gradient, reference_gradient, rtol=1e-4, atol=1e-5)


def test_vector_networks_ignore_channels_last():
    arch = Architecture((4,), 2, 1, False, 0, 0, 8, 8, 5)
    model = MuZeroNet(arch).use_channels_last()
    assert not model.channels_last


def timings(float32_s: float, bfloat16_s: float):
    calls = []

    def time_pass(dtype: torch.dtype) -> float:
        calls.append(dtype)
        return float32_s if dtype == torch.float32 else bfloat16_s

    return time_pass, calls


CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize(
    "name, device, has_bf16, float32_s, bfloat16_s, expected",
    [
        ("float32", CPU, True, 0.1, 0.01, torch.float32),
        ("auto", CPU, False, 0.1, 0.01, torch.float32),  # no bf16 instructions: never measured
        ("auto", CPU, True, 0.1, 0.05, torch.bfloat16),  # measured 2x
        ("auto", CPU, True, 0.1, 0.095, torch.float32),  # measured 1.05x: not worth it
        ("auto", CPU, True, 0.002, 0.0001, torch.float32),  # too short a pass to choose by
        ("bfloat16", CPU, True, 0.1, 0.2, torch.bfloat16),  # asked for, even if slower
        ("bfloat16", CPU, False, 0.1, 0.01, torch.float32),  # falls back
        ("float16", CPU, True, 0.1, 0.01, torch.float32),  # CUDA only
        ("auto", CUDA, True, 0.1, 0.2, torch.bfloat16),
        ("auto", CUDA, False, 0.1, 0.2, torch.float16),
        ("float16", CUDA, True, 0.1, 0.2, torch.float16),
    ],
)
def test_precision_choice(monkeypatch, name, device, has_bf16, float32_s, bfloat16_s, expected):
    monkeypatch.setattr(acceleration, "cpu_has_bf16", lambda: has_bf16)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: has_bf16)
    time_pass, calls = timings(float32_s, bfloat16_s)
    dtype, why = choose_precision(name, device, time_pass)
    assert dtype == expected and why
    measured = name == "auto" and device.type == "cpu" and has_bf16
    assert bool(calls) == measured


def cartpole_trainer(tmp_path, settings=(), log=lambda line: None) -> Trainer:
    config = load_config(REPO / "configs/cartpole.toml", [*SMALL_TRAINER, *settings])
    trainer = Trainer(config, DataDirs(tmp_path), resume=False, log=log)
    trainer.replay.add_game(make_record(6))
    return trainer


def test_the_trainer_says_first_which_precision_memory_format_and_compilation_it_uses(tmp_path):
    lines = []
    trainer = cartpole_trainer(tmp_path, log=lines.append)
    assert lines[:2] == trainer.accel.lines()
    assert trainer.accel.dtype == torch.float32  # a vector network's pass is far too short
    assert not trainer.accel.channels_last and not trainer.accel.compiled


def test_measuring_the_precision_changes_nothing_in_the_network(tmp_path):
    model = trained_for_a_while(PIXELS)
    before = copy.deepcopy(model.state_dict())
    acceleration.time_representation(model, torch.bfloat16, 4, CPU, repeats=1)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert all(p.grad is None for p in model.parameters())


def test_a_float16_overflow_is_undone_and_not_counted_as_a_non_finite_step(tmp_path, monkeypatch):
    trainer = cartpole_trainer(tmp_path)
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)  # as float16 would have
    weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    priorities = trainer.replay.priorities(np.arange(6))

    original = torch.Tensor.backward

    def overflowing_backward(self, *args, **kwargs):  # scaled gradients that overflow
        original(self * float("inf"), *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "backward", overflowing_backward)
    assert trainer.train_step() is None
    monkeypatch.undo()
    assert (trainer.counters.overflows, trainer.counters.skips.total, trainer.step) == (1, 0, 0)
    assert trainer.scaler.get_scale() == 2.0**15  # halved
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, weights[name]), name
    np.testing.assert_array_equal(trainer.replay.priorities(np.arange(6)), priorities)
    assert trainer.train_step() is not None and trainer.step == 1


def test_the_gpu_config_trains_a_step_on_the_cpu_with_only_device_and_batch_overridden(tmp_path):
    config = load_config(
        REPO / "configs/mario-gpu.toml", ["train.device=cpu", "train.batch_size=4"]
    )
    trainer = Trainer(config, DataDirs(tmp_path), resume=False, log=lambda line: None)
    arch = trainer.model.arch
    rng = np.random.default_rng(0)
    length = 12
    policies = np.full((length, arch.num_actions), 1 / arch.num_actions, np.float32)
    trainer.replay.add_game(
        GameRecord(
            observations=rng.integers(0, 256, (length + 1, *arch.observation_shape), np.uint8),
            actions=rng.integers(0, arch.num_actions, length),
            rewards=np.ones(length, np.float32),
            policies=policies,
            root_values=np.zeros(length + 1, np.float32),
            terminated=True,
            truncated=False,
        )
    )
    loss = trainer.train_step()
    assert loss is not None and trainer.step == 1 and np.isfinite(float(loss.total.detach()))


def test_adam_moments_of_a_contiguous_checkpoint_take_a_channels_last_parameters_layout():

    model = trained_for_a_while(PIXELS)
    optimizer = make_optimizer(model, TrainConfig())
    muzero_loss(model, pixel_batch(PIXELS), exploration_fraction=0.1).total.backward()
    optimizer.step()
    saved = copy.deepcopy(optimizer.state_dict())

    def one_more_step(net, opt):
        opt.zero_grad()
        muzero_loss(net, pixel_batch(PIXELS), exploration_fraction=0.1).total.backward()
        opt.step()
        return {k: v.clone() for k, v in net.state_dict().items()}

    laid_out = copy.deepcopy(model).use_channels_last()
    resumed = make_optimizer(laid_out, TrainConfig())
    restore_optimizer(resumed, laid_out, saved, saved_decay_all=True)
    for p, state in resumed.state.items():
        for key in ("exp_avg", "exp_avg_sq"):
            assert state[key].stride() == p.stride(), key
    expected = one_more_step(model, optimizer)
    for name, value in one_more_step(laid_out, resumed).items():
        torch.testing.assert_close(value, expected[name], rtol=1e-4, atol=1e-5)


def test_a_non_finite_gradient_below_scale_one_is_a_skip_and_the_next_step_runs(tmp_path):
    trainer = cartpole_trainer(tmp_path)
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=0.5)  # fp16 after many overflows
    with torch.no_grad():
        trainer.model.value_net[0].weight[0, 0] = float("inf")  # every gradient now non-finite
    assert trainer.train_step() is None
    assert (trainer.counters.overflows, trainer.counters.skips.total) == (0, 1)
    with torch.no_grad():
        trainer.model.value_net[0].weight[0, 0] = 0.0
    assert trainer.train_step() is not None and trainer.step == 1  # unscale_ may run again


def test_fresh_value_targets_under_bfloat16_stay_close_to_float32(tmp_path, monkeypatch):
    """The categorical transform of the target network's values runs in float32 even under
    autocast: the values within 2% (or 0.05) of float32's, as the loss terms above."""
    monkeypatch.setattr(acceleration, "cpu_has_bf16", lambda: True)
    settings = ["train.bootstrap=fresh", "train.td_steps=2", "network.support_size=20"]
    exact = cartpole_trainer(tmp_path / "a", [*settings, "train.precision=float32"])
    mixed = cartpole_trainer(tmp_path / "b", [*settings, "train.precision=bfloat16"])
    assert mixed.accel.dtype == torch.bfloat16
    with torch.no_grad():  # values far from 0, where a bfloat16 transform would be way off
        for trainer in (exact, mixed):
            for p in trainer.nets.target_model.value_net.parameters():
                p.copy_(torch.linspace(-0.4, 0.6, p.numel()).reshape(p.shape))
    batch = exact.replay.sample(8, np.random.default_rng(0), 1.0, bootstrap_inputs=True)
    expected = exact._fresh_value_targets(batch).target_values
    assert np.abs(expected).max() > 5
    np.testing.assert_allclose(
        mixed._fresh_value_targets(batch).target_values, expected, rtol=2e-2, atol=5e-2
    )


def test_a_compiled_representation_computes_what_the_eager_one_does_under_the_same_names():

    if compile_problem(CPU) is not None:
        pytest.skip(compile_problem(CPU))
    eager = trained_for_a_while(PIXELS).use_channels_last()
    compiled = copy.deepcopy(eager)
    accel = accelerate(compiled, device=CPU, precision="float32", compile=True, batch_size=4)
    assert accel.compiled and accel.channels_last
    assert compiled.state_dict().keys() == eager.state_dict().keys()
    batch = pixel_batch(PIXELS, size=4)
    counters.clear()
    results = []
    for model in (eager, compiled):  # not copied: a copy would drop the compiled call
        loss = muzero_loss(model, batch, exploration_fraction=0.1)
        loss.total.backward()
        gradient = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        results.append((float(loss.total.detach()), gradient))
    assert counters["stats"]["unique_graphs"] >= 1  # dynamo really compiled a graph
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-5)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-3, atol=1e-4)


INFERENCE_ATOL, INFERENCE_RTOL = 5e-2, 5e-2


@pytest.mark.parametrize(
    "name, device, has_bf16, pixels, slots, expected",
    [
        ("auto", CPU, True, True, 16, torch.bfloat16),
        ("auto", CPU, True, True, 8, torch.bfloat16),
        ("auto", CPU, True, True, 7, torch.float32),  # one slot's calls measured slower
        ("auto", CPU, True, False, 16, torch.float32),  # vector networks: calls too small
        ("auto", CPU, False, True, 16, torch.float32),  # no bf16 instructions
        ("auto", CUDA, True, True, 16, torch.bfloat16),
        ("auto", CUDA, False, True, 16, torch.float16),
        ("float32", CPU, True, True, 16, torch.float32),
        ("bfloat16", CPU, True, False, 1, torch.bfloat16),  # asked for, whatever the batch
        ("bfloat16", CPU, False, True, 16, torch.float32),  # falls back
        ("float16", CPU, True, True, 16, torch.float32),  # CUDA only
    ],
)
def test_selfplay_precision_choice(monkeypatch, name, device, has_bf16, pixels, slots, expected):
    monkeypatch.setattr(acceleration, "cpu_has_bf16", lambda: has_bf16)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: has_bf16)
    dtype, why = selfplay_precision(name, device, pixels=pixels, slots=slots)
    assert dtype == expected
    assert why.startswith("auto" if name == "auto" else f"selfplay.precision = {name}") or (
        "float32" in why  # a fallback says so
    )


def test_a_worker_searches_its_own_network_under_autocast(monkeypatch):
    monkeypatch.setattr(acceleration, "cpu_has_bf16", lambda: True)
    model = trained_for_a_while(PIXELS).eval()
    inference = for_selfplay(model, "auto", CPU, slots=16)
    assert isinstance(inference.search_model, AutocastModel)
    assert inference.search_model.model is model  # weights loaded into it are used at once
    assert inference.line().startswith("inference bfloat16 (auto")
    alone = for_selfplay(model, "auto", CPU, slots=1)
    assert alone.search_model is model and alone.dtype == torch.float32


def test_selfplay_inference_runs_in_bfloat16_close_to_float32():
    model = trained_for_a_while(PIXELS).eval()
    batch = pixel_batch(PIXELS, size=6)
    observations = torch.as_tensor(batch.observations)
    prev_actions = torch.as_tensor(batch.prev_actions)
    actions = torch.as_tensor(batch.actions[:, 0])
    exact = model.initial_inference(observations, prev_actions)
    exact_next = model.recurrent_inference(exact.hidden, actions)
    mixed_model = AutocastModel(model, torch.bfloat16)
    mixed = mixed_model.initial_inference(observations, prev_actions)
    mixed_next = mixed_model.recurrent_inference(mixed.hidden, actions)
    assert mixed.hidden.dtype == torch.bfloat16 == mixed_next.hidden.dtype  # autocast did run
    for got, want in [(mixed, exact), (mixed_next, exact_next)]:
        for field in ("value", "reward", "policy_logits"):
            value, reference = getattr(got, field), getattr(want, field)
            assert value.dtype == torch.float32, field  # what the search reads is float32
            torch.testing.assert_close(
                value, reference, atol=INFERENCE_ATOL, rtol=INFERENCE_RTOL, msg=field
            )
    assert float((exact_next.value - exact.value).abs().max()) > 0  # the heads are not all zero


@pytest.mark.parametrize("kind", ["truncated", "mcts", "gumbel"])
def test_every_search_kind_runs_on_bfloat16_inference(kind):
    """The search kinds on a bfloat16 worker's model: valid results root by root, each root's
    prior logits within the inference tolerance of float32's, the same roots' values close."""
    model = trained_for_a_while(PIXELS).eval()
    config = SearchConfig(
        kind=kind,
        truncated=TruncatedSearchConfig(width=3, depth=2),
        mcts=MctsConfig(simulations=8, parallel_simulations=4),
        gumbel=GumbelConfig(simulations=8, actions=4),
    )
    batch = pixel_batch(PIXELS, size=3)
    results = {}
    for name, search_model in [
        ("float32", model),
        ("bfloat16", AutocastModel(model, torch.bfloat16)),
    ]:
        rngs = [np.random.default_rng(i) for i in range(3)]
        results[name] = search_batch(
            search_model, batch.observations, batch.prev_actions, config, rng=rngs
        )
    for exact, mixed in zip(results["float32"], results["bfloat16"], strict=True):
        assert mixed.policy.shape == (PIXELS.num_actions,) and np.all(mixed.policy >= 0)
        assert mixed.policy.sum() == pytest.approx(1.0)
        assert 0 <= mixed.action < PIXELS.num_actions
        assert np.all(np.isfinite(mixed.q_values)) and np.isfinite(mixed.root_value)
        np.testing.assert_allclose(
            mixed.prior_logits, exact.prior_logits, atol=INFERENCE_ATOL, rtol=INFERENCE_RTOL
        )
        assert mixed.root_value == pytest.approx(exact.root_value, abs=0.2, rel=0.1)
