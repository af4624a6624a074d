"""Refiner and end-to-end generator: shapes, binary outputs, TF 'SAME' padding, the residual path,
the all-ones start of a fresh DBN refiner, slope state."""

from __future__ import annotations

import copy

import pytest
import torch

from pipeline.models import (
    anneal_slope,
    build_end2end_generator,
    build_generator,
    build_refiner,
    count_parameters,
    layer_table,
)
from pipeline.models.layers import to_channels_first, to_channels_last
from pipeline.models.refiner import Refiner, same_conv


@pytest.fixture(scope="module")
def refiner() -> Refiner:
    torch.manual_seed(0)
    return build_refiner("dbn")


def test_parameter_count_equals_the_spec(refiner: Refiner) -> None:
    assert count_parameters(refiner) == 76_848
    assert [count_parameters(net) for net in refiner.private] == [9_606] * 8


def test_every_layer_keeps_the_phrase_shape(refiner: Refiner) -> None:
    rows = layer_table(refiner, torch.rand(1, 4, 96, 84, 8))
    convs = [r for r in rows if r.kind.endswith("Conv3d")]
    assert len(convs) == 8 * 4
    assert {r.shape for r in convs} == {(4, 96, 84, 64), (4, 96, 84, 1)}
    assert rows[-1].name == "neuron" and rows[-1].shape == (4, 96, 84, 8)


def test_same_padding_is_tf_five_before_six_after() -> None:
    """A delta at (time 0, pitch 0) meets kernel tap (time 1, pitch 5) at output (0, 0).

    TF 'SAME' pads an even kernel of 12 with 5 before and 6 after; the other split would put
    tap (1, 6) there."""
    layer = same_conv(1, 1)
    conv = layer[1]
    with torch.no_grad():
        conv.weight.copy_(torch.arange(36.0).view(1, 1, 1, 3, 12))
        conv.bias.zero_()
    x = torch.zeros(1, 1, 1, 96, 84)
    x[0, 0, 0, 0, 0] = 1
    out = layer(x)
    assert out.shape == x.shape
    assert out[0, 0, 0, 0, 0] == 1 * 12 + 5  # tap (1, 5); a 6/5 split would give tap (1, 6)
    assert out[0, 0, 0, 0, 5] == 1 * 12 + 0  # output pitch p sees inputs p - 5 .. p + 6
    assert out[0, 0, 0, 0, 6] == 0
    assert out[0, 0, 0, 1, 0] == 5  # one step later: time tap 0


def test_residual_units_add_onto_the_input(refiner: Refiner) -> None:
    """With the last conv of both units zeroed, h2 is exactly G's sigmoid output."""
    fresh = build_refiner("dbn")
    for net in fresh.private:
        for unit in net.units:
            torch.nn.init.zeros_(unit.branch[5][1].weight)
    x = torch.rand(1, 4, 96, 84, 8)
    with torch.no_grad():
        torch.testing.assert_close(fresh.preactivation(x), x.permute(0, 4, 1, 2, 3))


def test_fresh_dbn_refiner_outputs_almost_all_ones() -> None:
    torch.manual_seed(3)
    with torch.no_grad():  # two tracks keep the test fast; every track is built alike
        x = build_generator("proposed_small", n_tracks=2)(torch.randn(1, 128))  # G's output, ~0.5
        out = build_refiner("dbn", n_tracks=2)(x)
    assert out.shape == (1, 4, 96, 84, 2)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert out.mean() > 0.99


def test_sbn_refiner_is_binary_and_stochastic() -> None:
    torch.manual_seed(4)
    sbn = build_refiner("sbn", "straight_through")
    x = torch.rand(1, 1, 24, 84, 8)  # the refiner is fully convolutional: a short phrase will do
    with torch.no_grad():
        first, second = sbn(x), sbn(x)
    assert set(first.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(first, second)


def test_refiner_gradient_reaches_its_input_and_weights() -> None:
    torch.manual_seed(5)
    r = build_refiner("dbn", "sigmoid_adjusted")
    x = torch.rand(1, 1, 24, 84, 8, requires_grad=True)  # a short phrase keeps the test fast
    r(x)[..., 2].sum().backward()
    assert x.grad is not None and x.grad[..., 2].abs().sum() > 0
    assert x.grad[..., 1].abs().sum() == 0  # tracks do not mix
    assert r.private[2].units[0].branch[2][1].weight.grad.abs().sum() > 0
    assert r.private[1].units[0].branch[2][1].weight.grad.abs().sum() == 0


def test_end2end_generator_is_g_small_then_refiner() -> None:
    torch.manual_seed(6)
    full = build_end2end_generator("sbn", "sigmoid_adjusted", "affine", z_dim=128)
    assert count_parameters(full.generator) == 1_348_760
    assert count_parameters(full.refiner) == 76_848
    e = build_end2end_generator("sbn", "sigmoid_adjusted", "affine", z_dim=16, n_tracks=2)
    out = e(torch.randn(1, 16))  # two tracks keep the test fast
    assert out.shape == (1, 4, 96, 84, 2)
    assert set(out.detach().unique().tolist()) <= {0.0, 1.0}
    out.sum().backward()
    assert e.generator.shared[0].weight.grad.abs().sum() > 0  # gradients cross the neuron
    anneal_slope(e, 1.1)
    assert e.refiner.neuron.slope.item() == pytest.approx(1.1)
    assert "refiner.neuron.slope" in e.state_dict()


def test_split_per_track_input_is_bitwise_the_sliced_one() -> None:
    """R's ``split`` of the tracks gives the same output, input gradient and weights after an
    Adam step, bit for bit, as the slices ``x[:, i : i + 1]`` it replaced (docs/gpu_speed.md)."""
    torch.manual_seed(13)
    new = build_refiner("dbn", "sigmoid_adjusted", n_tracks=3)
    old = copy.deepcopy(new)
    x = torch.rand(2, 1, 24, 84, 3)  # a short phrase keeps the test fast
    w = torch.randn(2, 1, 24, 84, 3)  # a loss that weighs every output differently
    results = []
    for net, sliced in ((new, False), (old, True)):
        xi = x.clone().requires_grad_(True)
        if sliced:
            cf = to_channels_first(xi)
            h = torch.cat([p(cf[:, i : i + 1]) for i, p in enumerate(net.private)], dim=1)
        else:
            h = net.preactivation(xi)
        out = to_channels_last(net.neuron(h))
        opt = torch.optim.Adam(net.parameters(), lr=0.002, betas=(0.5, 0.9))
        (out * w).sum().backward()
        opt.step()
        results.append((out.detach(), xi.grad))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])
    for (name, a), b in zip(new.named_parameters(), old.parameters(), strict=True):
        assert torch.equal(a, b), name
