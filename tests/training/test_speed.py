"""The GPU-speed options and rewrites, each checked on the CPU against today's code.

``optim.compile`` (the compiled critic loss), ``optim.bf16`` on the CPU, ``optim.noise_device``,
the loop's deferred reading of the losses (no host sync per iteration), fused Adam, and the CUDA
settings (``cudnn.benchmark``, one TF32 policy). docs/gpu.md and docs/gpu_speed.md describe them.
"""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from pipeline.config import Params, as_dict, params_from_dict
from pipeline.errors import ConfigError
from pipeline.models import build_discriminator
from pipeline.training.critic_loss import (
    compiled_critic_loss,
    critic_update,
    eager_critic_loss,
    functional_critic_loss,
)
from pipeline.training.data import TrainingData, load_tensor
from pipeline.training.device import configure_device
from pipeline.training.gan import (
    LoopConfig,
    LoopState,
    autocast,
    settle,
    train_loop,
)
from pipeline.training.runner import _optimizers, _prepare
from tests.training.conftest import tiny_params

CPU = torch.device("cpu")
ROOT = Path(__file__).resolve().parents[2]


def _batch(n_tracks: int, b: int = 1, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    real = (torch.rand((b, 4, 96, 84, n_tracks), generator=g) < 0.05).float()
    fake = torch.rand((b, 4, 96, 84, n_tracks), generator=g)
    return real, fake, torch.rand((b, 1, 1, 1, 1), generator=g)


def _grads(critic: nn.Module, loss_fn, *args) -> tuple[list[torch.Tensor], torch.Tensor]:
    """D's weight gradients of one critic loss, and the loss."""
    critic.zero_grad(set_to_none=True)
    loss = loss_fn(*args)[0]
    loss.backward()
    return [p.grad.clone() for p in critic.parameters()], loss.detach()


def test_functional_critic_loss_equals_the_autograd_one() -> None:
    """``torch.func.grad`` for the penalty's input gradient: the same loss and D gradients."""
    torch.manual_seed(0)
    d = build_discriminator("proposed", n_tracks=2)
    real, fake, eps = _batch(2, b=2)
    eager, l0 = _grads(d, lambda: eager_critic_loss(d, real, fake, eps, 10.0))
    func, l1 = _grads(d, lambda: functional_critic_loss(d, real, fake, eps, 10.0))
    assert float(l0) == pytest.approx(float(l1), rel=1e-6)
    assert any(float(g.abs().max()) > 1e-3 for g in eager)  # the penalty's gradient is not 0
    for a, b in zip(eager, func, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def _joint_batch_critic_loss(d, real, fake, eps, lam):
    """The critic loss as the code had it before the speed work: real, fake and interpolated
    samples scored in one batch of 3B, so the penalty's backward ran over all 3B."""
    b = real.shape[0]
    x_int = (eps * real + (1 - eps) * fake).requires_grad_(True)
    d_real, d_fake, d_int = d(torch.cat([real, fake, x_int])).split(b)
    (grad,) = torch.autograd.grad(d_int.sum(), x_int, create_graph=True)
    gp = (torch.sqrt(1e-8 + grad.pow(2).flatten(1).sum(dim=1)) - 1).pow(2).mean()
    return -(d_real.mean() - d_fake.mean()) + lam * gp, gp


def test_scoring_the_interpolated_samples_apart_gives_the_joint_batch_loss() -> None:
    """D scores the interpolated samples in a call of their own (as the original does): the
    loss, the penalty and every D gradient equal the joint 3B batch's up to float rounding."""
    torch.manual_seed(3)
    d = build_discriminator("proposed", n_tracks=3)
    real, fake, eps = _batch(3, b=3)
    joint, l0 = _grads(d, lambda: _joint_batch_critic_loss(d, real, fake, eps, 10.0))
    apart, l1 = _grads(d, lambda: eager_critic_loss(d, real, fake, eps, 10.0))
    gp_joint = _joint_batch_critic_loss(d, real, fake, eps, 10.0)[1]
    gp_apart = eager_critic_loss(d, real, fake, eps, 10.0)[1]
    assert float(gp_apart) == pytest.approx(float(gp_joint), rel=1e-5) and float(gp_joint) > 0
    assert float(l1) == pytest.approx(float(l0), rel=1e-5)
    for a, b in zip(joint, apart, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_compiled_critic_loss_gradients_equal_eager(backend: str) -> None:
    """The whole critic loss through torch.compile (one track of the small D, batch 1): D's
    gradients within 1e-6 of the eager loss's. ``aot_eager`` traces the graphs (dynamo and
    AOTAutograd with the double backward) in seconds; inductor's code generation takes 1-7
    minutes on two shared cores, so that case is marked slow."""
    torch.manual_seed(1)
    d = build_discriminator("proposed_small", n_tracks=1)
    real, fake, eps = _batch(1)
    eager, l0 = _grads(d, lambda: eager_critic_loss(d, real, fake, eps, 10.0))
    compiled = compiled_critic_loss(d, backend=backend)
    got, l1 = _grads(d, lambda: compiled(real, fake, eps, 10.0))
    assert float(l1) == pytest.approx(float(l0), rel=1e-6)
    for a, b in zip(eager, got, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    # and it trains: one Adam step through critic_update with the compiled loss moves D
    before = [p.detach().clone() for p in d.parameters()]
    opt = torch.optim.Adam(d.parameters(), lr=0.002, betas=(0.5, 0.9))
    critic_update(d, opt, real, fake, 10.0, loss_fn=compiled)
    assert not torch.equal(before[0], next(d.parameters()))


def test_bf16_autocast_runs_on_the_cpu() -> None:
    """``optim.bf16`` autocasts D's convolutions on the CPU too, near fp32's scores. Forward only:
    backward passes of bf16 convolutions on the CPU were too slow in torch 2.13 to test here
    (docs/gpu.md)."""
    torch.manual_seed(2)
    d = build_discriminator("proposed_small", n_tracks=2)
    _, fake, _ = _batch(2, b=2)
    seen: list[torch.dtype] = []
    d.shared.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    scores = {}
    with torch.no_grad():
        for bf16 in (False, True):
            cfg = LoopConfig(None, 1, False, 8, CPU, bf16=bf16)  # type: ignore[arg-type]
            with autocast(cfg):
                scores[bf16] = d(fake).float()
    assert seen == [torch.float32, torch.bfloat16]
    assert not torch.equal(scores[True], scores[False])
    torch.testing.assert_close(scores[True], scores[False], rtol=0.05, atol=0.02)


def _run_loop(p: Params, tensor, n_iterations: int = 2, spy=None, state=None, hook=None):
    """end2end_sbn through ``train_loop`` on the CPU with the options of ``p``."""
    _, _, run, nets, opts, _ = _prepare(p, "train", "end2end_sbn", tensor, None)
    if spy is not None:
        nets.discriminator = spy(nets.discriminator)
    data = TrainingData(load_tensor(tensor, CPU), 2, p.optim.seed)
    cfg = LoopConfig(
        p.optim, n_iterations, True, run["z_dim"], CPU, noise_on_cpu=p.optim.noise_device == "cpu"
    )
    torch.manual_seed(7)
    state = state or LoopState()
    return nets, train_loop(nets, opts, data, cfg, state, lambda i: {}, lambda s: None, hook)


def test_noise_device_cpu_gives_the_same_bytes_on_a_cpu_run(params: Params, tensor) -> None:
    """``optim.noise_device: cpu`` draws the GP epsilon and SBN noise from the CPU generator:
    on a CPU run, the same losses and weights, bit for bit, as the default."""
    nets_dev, state_dev = _run_loop(tiny_params(params), tensor)
    nets_cpu, state_cpu = _run_loop(tiny_params(params, noise_device="cpu"), tensor)
    assert nets_cpu.refiner.neuron.noise_on_cpu and not nets_dev.refiner.neuron.noise_on_cpu
    assert state_dev.rows == state_cpu.rows
    for key, module in nets_dev.modules().items():
        other = nets_cpu.modules()[key].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in module.state_dict().items()), key


class _RowSpy(nn.Module):
    """A critic that records, at every forward, whether the log's earlier rows hold tensors."""

    def __init__(self, inner: nn.Module, rows: list, seen: list) -> None:
        super().__init__()
        self.inner, self.rows, self.seen = inner, rows, seen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append([any(isinstance(v, torch.Tensor) for v in r.values()) for r in self.rows])
        return self.inner(x)


def test_the_loop_reads_the_losses_only_at_monitored_iterations(params: Params, tensor) -> None:
    """No host sync per iteration: between monitored iterations the logged losses stay tensors;
    the log the loop returns holds the same floats a per-iteration read would."""
    p = tiny_params(params, monitor_every=100, snapshot_every=100)  # monitored: 0 and 3 (last)
    state, seen = LoopState(), []
    _run_loop(p, tensor, 4, spy=lambda d: _RowSpy(d, state.rows, seen), state=state)
    assert [False, True] in seen  # iteration 2: row 0 was read at the monitor, row 1 not yet
    assert [False, True, True] in seen  # iteration 3
    assert len(state.rows) == 4
    # every logged loss was read back as a float by the end (the counters are ints)
    assert not any(isinstance(v, torch.Tensor) for r in state.rows for v in r.values())
    assert all(isinstance(r["d_loss"], float) for r in state.rows)


def test_an_after_iteration_hook_adds_no_host_sync(params: Params, tensor) -> None:
    """A hook (the time budget's, a deadline) runs after every iteration without reading the
    losses: between monitored iterations they stay tensors, as with no hook."""
    p = tiny_params(params, monitor_every=100, snapshot_every=100)  # monitored: 0 and 3 (last)
    state, seen = LoopState(), []
    hook = lambda s: seen.append([isinstance(r["d_loss"], torch.Tensor) for r in s.rows])  # noqa: E731
    _run_loop(p, tensor, 4, state=state, hook=hook)
    assert seen[1:3] == [[False, True], [False, True, True]]  # iterations 1 and 2: not read
    assert all(isinstance(r["d_loss"], float) for r in state.rows)


def test_a_hook_that_stops_the_run_leaves_its_rows_read(params: Params, tensor) -> None:
    """A hook that raises (``StopTraining``) ends the loop with every row read as floats, so the
    caller writes the log of a stopped run as it writes a finished one."""
    p = tiny_params(params, monitor_every=100, snapshot_every=100)
    state = LoopState()

    def stop_after_two(s: LoopState) -> None:
        if s.iteration == 2:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        _run_loop(p, tensor, 4, state=state, hook=stop_after_two)
    assert len(state.rows) == 2
    assert all(isinstance(r["d_loss"], float) for r in state.rows)


def test_settle_turns_tensors_into_the_same_floats() -> None:
    rows = [{"a": 1.5}, {"a": torch.tensor(0.1), "b": 2}, {"a": torch.tensor(-3.25)}]
    settle(rows)
    assert rows == [{"a": 1.5}, {"a": float(torch.tensor(0.1)), "b": 2}, {"a": -3.25}]


def test_fused_adam_equals_the_default_adam_on_the_cpu(params: Params, tensor) -> None:
    """The project's optimizers (``runner._optimizers``) with the paper's Adam settings; the fused
    ones it builds for CUDA (stepped here with their CPU kernel) give the same weights as the
    default ones within float rounding after a few critic steps."""
    p = tiny_params(params)
    _, _, _, nets, _, _ = _prepare(p, "pretrain", "proposed", tensor, None)
    twin = copy.deepcopy(nets)
    plain = _optimizers(nets, p, CPU)["discriminator"]
    fused = _optimizers(twin, p, torch.device("cuda"))["discriminator"]
    o = p.optim
    for opt in (plain, fused):
        assert (opt.defaults["lr"], opt.defaults["betas"], opt.defaults["eps"]) == (
            o.lr,
            (o.beta1, o.beta2),
            o.eps,
        )
    before = copy.deepcopy(nets.discriminator.state_dict())
    real = load_tensor(tensor, CPU)[:4].float()
    for net, opt in ((nets, plain), (twin, fused)):
        for _ in range(3):
            opt.zero_grad()
            net.discriminator(real).mean().backward()
            opt.step()
    for (name, a), b in zip(
        nets.discriminator.state_dict().items(),
        twin.discriminator.state_dict().values(),
        strict=True,
    ):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)
    assert any(not torch.equal(v, before[k]) for k, v in nets.discriminator.state_dict().items())


def test_optimizers_are_fused_on_cuda_only(params: Params, tensor) -> None:
    _, _, _, nets, opts, _ = _prepare(tiny_params(params), "pretrain", "proposed", tensor, None)
    assert not opts["discriminator"].defaults["fused"]
    fused = _optimizers(nets, params, torch.device("cuda"))  # built, never stepped
    assert all(o.defaults["fused"] for o in fused.values())


def test_cuda_settings_use_one_tf32_policy() -> None:
    """On CUDA: cudnn.benchmark and the fp32-precision API only, IEEE unless ``optim.tf32``."""
    conv = torch.backends.cudnn.conv  # type: ignore[attr-defined]
    saved = (
        torch.backends.cudnn.benchmark,
        torch.backends.cuda.matmul.fp32_precision,
        conv.fp32_precision,
    )
    try:
        configure_device(CPU, tf32=True)  # nothing on the CPU
        assert (torch.backends.cudnn.benchmark, conv.fp32_precision) == saved[::2]
        configure_device(torch.device("cuda"), tf32=False)
        assert torch.backends.cudnn.benchmark
        assert torch.backends.cuda.matmul.fp32_precision == conv.fp32_precision == "ieee"
        configure_device(torch.device("cuda"), tf32=True)
        assert torch.backends.cuda.matmul.fp32_precision == conv.fp32_precision == "tf32"
    finally:
        torch.backends.cudnn.benchmark = saved[0]
        torch.backends.cuda.matmul.fp32_precision = saved[1]
        conv.fp32_precision = saved[2]


def test_noise_device_must_be_device_or_cpu(params: Params) -> None:
    data = as_dict(params)
    data["optim"]["noise_device"] = "gpu"
    with pytest.raises(ConfigError, match="optim.noise_device"):
        params_from_dict(data)
    data["optim"]["noise_device"] = "cpu"
    assert params_from_dict(data).optim.noise_device == "cpu"
    assert dataclasses.replace(params.optim).tf32 is False  # faithful IEEE fp32 by default


def test_grouped_run_follows_the_default_one(params: Params, tensor) -> None:
    """``optim.grouped`` reaches D and R (the end-to-end run's G has no private D or R inside)
    and trains to the default run's losses up to float rounding."""
    nets_loop, state_loop = _run_loop(tiny_params(params), tensor, n_iterations=1)
    nets_grouped, state_grouped = _run_loop(tiny_params(params, grouped=True), tensor, 1)
    assert nets_grouped.discriminator.grouped_tracks and nets_grouped.refiner.grouped_tracks
    assert not nets_loop.discriminator.grouped_tracks
    assert len(state_grouped.rows) == len(state_loop.rows) > 0
    for row_loop, row_grouped in zip(state_loop.rows, state_grouped.rows, strict=True):
        assert row_grouped.keys() == row_loop.keys()
        for key in ("d_loss", "g_loss", "gp", "wasserstein"):
            assert row_grouped[key] == pytest.approx(row_loop[key], rel=1e-3, abs=1e-4), key


def test_grouped_needs_the_affine_batch_norm(params: Params) -> None:
    data = as_dict(params)
    data["optim"]["grouped"] = True
    assert params_from_dict(data).optim.grouped
    data["model"]["batch_norm"] = "batch"
    with pytest.raises(ConfigError, match="optim.grouped: needs model.batch_norm: affine"):
        params_from_dict(data)


FAULTS_OF_A_REUSED_BLOCK = """
import resource, sys, torch
from pipeline.training.device import configure_device
if sys.argv[1] == "cpu":
    configure_device(torch.device("cpu"), tf32=False)
# A 200 MB block allocated and freed, again and again, as in training steps. The first few
# allocations may grow the heap instead (a small allocation can land in a freed block and split
# it; where, varies from one process to the next: up to 4 growths seen), so the steady state is
# counted after 8.
for _ in range(8):
    torch.ones(50_000_000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    torch.ones(50_000_000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_cpu_run_reuses_freed_memory_instead_of_faulting_it_in_again() -> None:
    """``device.keep_freed_memory`` (set by ``configure_device`` on the CPU): in the steady state
    a 200 MB block allocated again after being freed costs no page faults; without it, one per
    4 KiB page, at every allocation."""

    def faults(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", FAULTS_OF_A_REUSED_BLOCK, mode],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        return int(out.stdout.split()[-1])

    assert faults("none") > 4 * 40_000  # 200 MB / 4 KiB = 48,828 pages, mapped afresh each time
    assert faults("cpu") < 1_000
