"""Generator: layer shapes against docs/model.md, section 2.2, output range, separate private
weights, BN options."""

from __future__ import annotations

import math

import pytest
import torch

from pipeline.models import build_generator, count_parameters, layer_table
from pipeline.models.generator import Generator
from pipeline.models.layers import AffineBatchNorm, BarsFromDense

# docs/model.md, section 2.2: (bar, time, pitch, channels) after each layer of G_s and of one G_p^i.
SHARED_SHAPES = [
    (1536,),  # dense
    (3, 1, 1, 512),  # reshape
    (4, 1, 1, 256),
    (4, 4, 1, 128),
    (4, 4, 3, 128),
    (4, 16, 3, 64),
    (4, 16, 7, 64),
]
PRIVATE_SHAPES = {
    "pitch_time.0.0": (4, 16, 84, 64),
    "pitch_time.1.0": (4, 96, 84, 32),
    "time_pitch.0.0": (4, 96, 7, 64),
    "time_pitch.1.0": (4, 96, 84, 32),
    "merged.0": (4, 96, 84, 1),
}


@pytest.fixture(scope="module")
def generator() -> Generator:
    torch.manual_seed(0)
    return build_generator("proposed")


def test_every_layer_shape_matches_the_spec(generator: Generator) -> None:
    rows = layer_table(generator, torch.randn(1, 128))
    shared = [r.shape for r in rows if r.name.startswith("shared") and r.kind != "AffineBatchNorm"]
    assert shared == SHARED_SHAPES
    for track in range(8):
        private = {
            r.name.removeprefix(f"private.{track}."): r.shape
            for r in rows
            if r.name.startswith(f"private.{track}.") and r.kind.endswith("ConvTranspose3d")
        }
        assert private == PRIVATE_SHAPES


@pytest.mark.parametrize(
    ("preset", "expected"), [("proposed", 1_580_440), ("proposed_small", 1_348_760)]
)
def test_parameter_counts_equal_the_spec(preset: str, expected: int) -> None:
    assert count_parameters(build_generator(preset)) == expected


def test_private_network_has_the_spec_count(generator: Generator) -> None:
    assert count_parameters(generator.shared) == 690_560
    assert [count_parameters(net) for net in generator.private] == [111_235] * 8


@pytest.fixture(scope="module")
def output(generator: Generator) -> torch.Tensor:
    """One forward pass with autograd, batch 1, shared by the tests below."""
    torch.manual_seed(2)
    return generator(torch.randn(1, 128))


def test_output_is_channels_last_and_strictly_inside_0_1(output: torch.Tensor) -> None:
    assert output.shape == (1, 4, 96, 84, 8) and output.dtype == torch.float32
    assert bool(((output > 0) & (output < 1)).all())


def test_private_networks_have_separate_weights(generator: Generator, output: torch.Tensor) -> None:
    """A loss on track 3 alone reaches track 3's private weights and no other track's."""
    generator.zero_grad()
    output[..., 3].sum().backward()
    for track, net in enumerate(generator.private):
        grads = [p.grad for p in net.parameters()]
        touched = any(g is not None and bool(g.abs().sum() > 0) for g in grads)
        assert touched == (track == 3), track
    pointers = {p.data_ptr() for net in generator.private for p in net.parameters()}
    assert len(pointers) == 8 * len(list(generator.private[0].parameters()))
    generator.zero_grad()


def test_initialisation_is_tf_truncated_normal_with_zero_biases(generator: Generator) -> None:
    weights = torch.cat(
        [generator.shared[0].weight.flatten(), generator.shared[4][0].weight.flatten()]
    )
    assert weights.abs().max() <= 0.04
    # std of N(0, 0.02) truncated at two std: 0.02 * 0.8796
    assert weights.std().item() == pytest.approx(0.02 * 0.8796, rel=0.02)
    assert generator.shared[0].bias.abs().sum() == 0


def test_dense_reshape_is_tf_row_major_bar_then_channel() -> None:
    """Feature bar * C + c lands at (channel c, bar): TF's (B, 3, 1, 1, C) reshape."""
    flat = torch.arange(2 * 3 * 5).float().view(2, 15)
    bars = BarsFromDense(3)(flat)
    assert bars.shape == (2, 5, 3, 1, 1)
    for bar in range(3):
        for c in range(5):
            assert bars[1, c, bar, 0, 0] == flat[1, bar * 5 + c]


def test_affine_batch_norm_never_normalises() -> None:
    norm = AffineBatchNorm(3)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([1.0, 2.0, -1.0]))
        norm.bias.copy_(torch.tensor([0.0, 0.5, 1.0]))
    x = torch.randn(4, 3, 2, 2, 2) * 7 + 3
    expected = x * norm.weight.view(1, 3, 1, 1, 1) / math.sqrt(1.001) + norm.bias.view(
        1, 3, 1, 1, 1
    )
    torch.testing.assert_close(norm(x), expected.detach())


def test_true_batch_norm_option_changes_training_behaviour() -> None:
    """Same weights: true BN in eval mode (initial statistics) equals the affine BN; in training it
    normalises with batch statistics and differs. Checked on G_s, where every norm kind occurs."""
    torch.manual_seed(1)
    affine = build_generator("proposed_small", batch_norm="affine")
    true_bn = build_generator("proposed_small", batch_norm="batch")
    kinds = {type(m).__name__ for m in true_bn.modules() if "Norm" in type(m).__name__}
    assert kinds == {"BatchNorm1d", "BatchNorm3d"}
    assert count_parameters(true_bn) == count_parameters(affine)
    missing, unexpected = true_bn.load_state_dict(affine.state_dict(), strict=False)
    assert not unexpected and all("running" in k or "num_batches" in k for k in missing)
    z = torch.randn(4, 128)
    with torch.no_grad():
        reference = affine.shared(z)
        torch.testing.assert_close(true_bn.shared.eval()(z), reference, rtol=1e-4, atol=1e-6)
        assert not torch.allclose(true_bn.shared.train()(z), reference, atol=1e-3)


def test_unknown_preset_is_rejected() -> None:
    with pytest.raises(ValueError, match="preset"):
        build_generator("huge")


def test_patch_convolutions_equal_pytorchs_with_their_penalty_gradients() -> None:
    """A convolution whose stride is its kernel, computed as a matrix product (``PatchConv3d``,
    ``PatchConvTranspose3d``), is PyTorch's convolution with the same weights: outputs, input
    gradients and the second-order gradients the WGAN-GP penalty takes, up to float rounding."""
    from torch import nn

    from pipeline.models.layers import PatchConv3d, PatchConvTranspose3d

    torch.manual_seed(0)
    cases = [
        (PatchConv3d, nn.Conv3d, (2, 3, 4, 17, 25), (1, 4, 3)),  # remainders dropped
        (PatchConvTranspose3d, nn.ConvTranspose3d, (2, 3, 4, 4, 7), (1, 6, 12)),
    ]
    for fast_cls, ref_cls, shape, kernel in cases:
        ref = ref_cls(3, 5, kernel, stride=kernel)
        fast = fast_cls(3, 5, kernel, stride=kernel)
        fast.load_state_dict(ref.state_dict())
        x = torch.randn(shape, requires_grad=True)
        results = []
        for layer in (ref, fast):
            out = layer(x)
            (grad,) = torch.autograd.grad(out.square().sum(), x, create_graph=True)
            penalty = grad.square().sum()  # differentiable in the weights, as the GP is
            weight_grad = torch.autograd.grad(penalty, layer.weight)[0]
            results.append((out, grad, weight_grad))
        for a, b in zip(*results, strict=True):
            assert a.shape == b.shape
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
