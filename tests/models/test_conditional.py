"""The track-conditional generator and refiner: pass-through and dependence on c.

The model is described in docs/accompany.md.
"""

from __future__ import annotations

import torch

from pipeline.models import build_generator, build_refiner
from pipeline.models.conditional import (
    ConditionalRefiner,
    build_conditional_generator,
    insert_track,
    remove_track,
)
from pipeline.models.summary import count_parameters

T, INDEX = 4, 1


def _condition(seed: int, b: int = 2) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand((b, 4, 96, 84), generator=gen) < 0.05).float()


def _generator() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_conditional_generator("proposed", 16, "affine", T, INDEX).eval()


def test_insert_and_remove_are_inverse() -> None:
    x = torch.arange(2 * 5).reshape(2, 5).float()
    rest = remove_track(x, 3, dim=1)
    assert rest.tolist() == [[0, 1, 2, 4], [5, 6, 7, 9]]
    assert torch.equal(insert_track(rest, x[:, 3:4], 3, dim=1), x)


def test_given_track_passes_through_unchanged() -> None:
    g, c = _generator(), _condition(1)
    z = torch.randn(2, 16)
    with torch.no_grad():
        out = g(z, c)
    assert out.shape == (2, 4, 96, 84, T)
    assert torch.equal(out[..., INDEX], c)  # exactly the given 0/1 cells
    others = remove_track(out, INDEX, dim=-1)
    assert ((others > 0) & (others < 1)).all()  # the generated tracks are G's sigmoid


def test_changed_condition_changes_the_generated_tracks() -> None:
    g, z = _generator(), torch.randn(2, 16)
    with torch.no_grad():
        a, b = g(z, _condition(1)), g(z, _condition(2))
        again = g(z, _condition(1))
        other_z = g(torch.randn(2, 16), _condition(1))
    assert torch.equal(a, again)  # deterministic for the same (z, c)
    diff = (remove_track(a, INDEX, -1) - remove_track(b, INDEX, -1)).abs()
    # every generated track changes with c; an untrained G (weights of std 0.02) is close to 0.5
    # everywhere, so the size is judged against what a new z changes: c weighs more than z
    assert (diff.flatten(0, -2).max(dim=0).values > 0).all()
    z_diff = (remove_track(a, INDEX, -1) - remove_track(other_z, INDEX, -1)).abs()
    assert diff.max() > z_diff.max()


def test_gradient_reaches_the_encoder() -> None:
    g = _generator().train()
    out = g(torch.randn(2, 16), _condition(3))
    remove_track(out, INDEX, -1).sum().backward()
    grads = [p.grad for p in g.encoder.parameters()]
    assert all(gr is not None and gr.abs().sum() > 0 for gr in grads)


def test_refiner_refines_only_the_generated_tracks() -> None:
    torch.manual_seed(0)
    ref = ConditionalRefiner(build_refiner("dbn", n_tracks=T - 1), INDEX)
    x = torch.rand(2, 4, 96, 84, T)
    x[..., INDEX] = _condition(4)
    with torch.no_grad():
        y = ref(x)
        direct = ref.refiner(remove_track(x, INDEX, -1))
    assert torch.equal(y[..., INDEX], x[..., INDEX])
    assert torch.equal(remove_track(y, INDEX, -1), direct)
    assert set(y.unique().tolist()) <= {0.0, 1.0}


def test_parameters_are_the_paper_gs_with_one_private_network_traded_for_the_encoder() -> None:
    """G's shared network and seven private ones as in the paper's G; the given track's private
    network is replaced by the condition encoder E and the fusion layer (docs/accompany.md)."""
    paper = build_generator("proposed")
    g = build_conditional_generator("proposed", 128, "affine", 8, 1)
    private = count_parameters(paper.private[0])
    encoder = (12 * 32 + 32) + (6 * 32 * 64 + 64)
    fuse = 128 * 64 + 64 + 2 * 64
    assert count_parameters(g) == count_parameters(paper) - private + encoder + fuse
