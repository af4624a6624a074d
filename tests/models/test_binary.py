"""Binary neurons: forward values, sampling statistics, both gradient estimators, slope state."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

from pipeline.models import BinaryNeuron, anneal_slope


def test_dbn_forward_is_h_positive_at_any_slope() -> None:
    h = torch.cat([torch.randn(1000) * 3, torch.tensor([0.0, -0.0, 1e-3, -1e-3])])
    for slope in (1.0, 0.3, 2.5):
        neuron = BinaryNeuron("dbn")
        neuron.slope.fill_(slope)
        assert torch.equal(neuron(h), (h > 0).float())


def test_dbn_rounds_half_to_even() -> None:
    """h = 0 gives p = 0.5, which TF's round (half to even) maps to 0, not 1."""
    assert BinaryNeuron("dbn")(torch.zeros(3)).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("slope", [1.0, 2.0])
def test_sbn_mean_matches_p_within_5_sigma(slope: float) -> None:
    torch.manual_seed(0)
    neuron = BinaryNeuron("sbn")
    neuron.slope.fill_(slope)
    h = torch.tensor([-3.0, -0.7, 0.0, 0.4, 2.0])
    draws = 20_000
    out = neuron(h.expand(draws, -1))  # a fresh u for every element
    p = torch.sigmoid(slope * h)
    sigma = torch.sqrt(p * (1 - p) / draws)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert torch.all((out.mean(0) - p).abs() < 5 * sigma), (out.mean(0), p)


def test_sbn_is_stochastic_in_eval_mode_too() -> None:
    neuron = BinaryNeuron("sbn").eval()
    h = torch.zeros(10_000)
    assert not torch.equal(neuron(h), neuron(h))


@pytest.mark.parametrize("kind", ["dbn", "sbn"])
def test_sigmoid_adjusted_gradient_is_slope_p_one_minus_p(kind: str) -> None:
    neuron = BinaryNeuron(kind, "sigmoid_adjusted")  # type: ignore[arg-type]
    neuron.slope.fill_(1.7)
    h = torch.randn(500, dtype=torch.float32, requires_grad=True)
    weights = torch.randn(500)
    (neuron(h) * weights).sum().backward()
    p = torch.sigmoid(1.7 * h.detach())
    torch.testing.assert_close(h.grad, weights * 1.7 * p * (1 - p))


@pytest.mark.parametrize("kind", ["dbn", "sbn"])
def test_straight_through_gradient_is_one(kind: str) -> None:
    neuron = BinaryNeuron(kind, "straight_through")  # type: ignore[arg-type]
    neuron.slope.fill_(1.7)
    h = torch.randn(500, requires_grad=True)
    weights = torch.randn(500)
    out = neuron(h)
    (out * weights).sum().backward()
    assert set(out.detach().unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(h.grad, weights)


def test_forward_is_exactly_binary_for_large_inputs() -> None:
    h = torch.tensor([1e8, -1e8, 123.456, -0.3], requires_grad=True)
    for estimator in ("sigmoid_adjusted", "straight_through"):
        out = BinaryNeuron("dbn", estimator)(h)  # type: ignore[arg-type]
        assert out.tolist() == [1.0, 0.0, 1.0, 0.0]


def test_slope_is_a_buffer_that_survives_a_state_dict_round_trip() -> None:
    neuron = BinaryNeuron("sbn")
    assert neuron.slope.dtype == torch.float32 and neuron.slope.item() == 1.0
    assert "slope" in dict(neuron.named_buffers()) and not list(neuron.parameters())
    anneal_slope(neuron, 1.1)
    buffer = io.BytesIO()
    torch.save(neuron.state_dict(), buffer)
    buffer.seek(0)
    restored = BinaryNeuron("sbn")
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.slope.item() == pytest.approx(1.1)


def test_anneal_slope_multiplies_every_neuron_inside_a_module() -> None:
    model = nn.Sequential(BinaryNeuron("dbn"), nn.Sequential(nn.ReLU(), BinaryNeuron("sbn")))
    for _ in range(3):
        anneal_slope(model, 1.1)
    slopes = [m.slope.item() for m in model.modules() if isinstance(m, BinaryNeuron)]
    assert slopes == pytest.approx([1.1**3, 1.1**3])
    assert math.isclose(slopes[0], 1.331, rel_tol=1e-6)


def test_rejects_unknown_kind_and_estimator() -> None:
    with pytest.raises(ValueError, match="kind"):
        BinaryNeuron("ternary")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="estimator"):
        BinaryNeuron("dbn", "reinforce")  # type: ignore[arg-type]


def test_cpu_noise_is_the_same_draw_as_device_noise_on_the_cpu() -> None:
    """``noise_on_cpu`` draws from the CPU generator; on a CPU run that is the same draw."""
    from pipeline.models.binary import use_cpu_noise

    model = nn.Sequential(BinaryNeuron("sbn"))
    h = torch.randn(4, 96, 84)
    torch.manual_seed(3)
    device_noise = model(h)
    use_cpu_noise(model)
    assert model[0].noise_on_cpu and "noise_on_cpu" not in str(model[0].state_dict())
    torch.manual_seed(3)
    cpu_noise = model(h)
    assert torch.equal(device_noise, cpu_noise)
    assert 0 < float(cpu_noise.mean()) < 1  # stochastic, not constant
    torch.manual_seed(4)
    assert not torch.equal(model(h), cpu_noise)  # the seed, not a constant, sets the draw


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_noise_on_cuda_equals_the_cpu_run() -> None:
    neuron = BinaryNeuron("sbn")
    h = torch.randn(4, 96, 84)
    torch.manual_seed(3)
    on_cpu = neuron(h)
    neuron.noise_on_cpu = True
    torch.manual_seed(3)
    assert torch.equal(neuron.cuda()(h.cuda()).cpu(), on_cpu)
