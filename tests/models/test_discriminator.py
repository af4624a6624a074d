"""Discriminators: layer shapes and counts against docs/model.md, section 2.3, the hand-checked
onset and chroma features, the baseline's duplicated input, the merge order and separate private
weights."""

from __future__ import annotations

import copy

import pytest
import torch

from pipeline.models import (
    beat_chroma_feature,
    build_discriminator,
    count_parameters,
    layer_table,
    onset_offset,
    onset_offset_feature,
)
from pipeline.models.layers import FlattenBars, to_channels_first

PRIVATE = {  # docs/model.md, section 2.3, D_p^i of "proposed": (bar, time, pitch, channels)
    "pitch_time.0.0": (4, 96, 7, 32),
    "pitch_time.1.0": (4, 16, 7, 64),
    "time_pitch.0.0": (4, 16, 84, 32),
    "time_pitch.1.0": (4, 16, 7, 64),
    "merged.0": (4, 16, 7, 64),
}
PROPOSED = {
    "shared.0.0": (4, 4, 3, 128),
    "shared.1.0": (4, 1, 1, 256),
    "chroma.0.0": (4, 4, 1, 64),
    "chroma.1.0": (4, 1, 1, 128),
    "onset.0.0": (4, 16, 1, 32),
    "onset.1.0": (4, 4, 1, 64),
    "onset.2.0": (4, 1, 1, 128),
    "merged.0.0": (3, 1, 1, 512),
    "merged.1": (1536,),
    "merged.2": (1,),
}
BASELINE = {
    "shared.0.0": (4, 96, 7, 128),
    "shared.1.0": (4, 96, 3, 128),
    "shared.2.0": (4, 16, 3, 256),
    "shared.3.0": (4, 4, 3, 256),
    "shared.4.0": (4, 4, 1, 512),
    "shared.5.0": (4, 1, 1, 512),
    "merged.0.0": (3, 1, 1, 1024),
    "merged.1": (3072,),
    "merged.2": (1,),
}
SMALL_PRIVATE = {k: v[:3] + (v[3] // 2,) for k, v in PRIVATE.items()}


def _shapes(preset: str) -> dict[str, tuple[int, ...]]:
    torch.manual_seed(0)
    rows = layer_table(build_discriminator(preset), torch.rand(1, 4, 96, 84, 8))
    return {r.name: r.shape for r in rows}


def test_proposed_layer_shapes_match_the_spec() -> None:
    shapes = _shapes("proposed")
    for track in range(8):
        assert {k: shapes[f"private.{track}.{k}"] for k in PRIVATE} == PRIVATE
    assert {k: v for k, v in shapes.items() if not k.startswith("private")} == PROPOSED


def test_ablated_and_small_layer_shapes_match_the_spec() -> None:
    ablated = _shapes("ablated")
    assert not any(k.startswith(("onset", "chroma")) for k in ablated)
    assert ablated["merged.0.0"] == (3, 1, 1, 512) and ablated["shared.1.0"] == (4, 1, 1, 256)
    small = _shapes("proposed_small")
    assert {k: small[f"private.7.{k}"] for k in PRIVATE} == SMALL_PRIVATE
    assert small["onset.2.0"] == (4, 1, 1, 64) and small["chroma.1.0"] == (4, 1, 1, 64)


def test_baseline_layer_shapes_match_the_spec() -> None:
    assert _shapes("baseline") == BASELINE


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("proposed", 2_155_297),
        ("ablated", 1_811_329),
        ("baseline", 3_028_737),
        ("proposed_small", 1_298_001),
    ],
)
def test_parameter_counts_equal_the_spec(preset: str, expected: int) -> None:
    assert count_parameters(build_discriminator(preset)) == expected


def test_output_is_one_linear_score_per_phrase() -> None:
    scores = build_discriminator("proposed")(torch.rand(2, 4, 96, 84, 8))
    assert scores.shape == (2,) and scores.dtype == torch.float32


def _phrase() -> torch.Tensor:
    """A hand-built phrase (1, 4, 96, 84, 8)."""
    x = torch.zeros(1, 4, 96, 84, 8)
    x[0, 0, [0, 1, 2], 30, 0] = 1  # drums: hits at steps 0, 1, 2 of bar 0 (contiguous)
    x[0, 0, 10:14, 40, 1] = 1  # piano: steps 10..13 of bar 0 at pitch 40
    x[0, 0, 10:12, 47, 1] = 1  # piano: steps 10..11 at pitch 47 (a fifth above)
    x[0, 0, 90:96, 5, 2] = 1  # guitar: a note held across the bar line, bar 0 steps 90..95
    x[0, 1, 0:3, 5, 2] = 1  # ... and bar 1 steps 0..2
    return x


def test_onset_offset_feature_equals_hand_computed_values() -> None:
    feature = onset_offset_feature(_phrase())
    assert feature.shape == (1, 4, 96, 1, 8)
    f = feature[0, :, :, 0, :]  # (bar, time, track)
    # drums are raw, not differenced: 1 at steps 0, 1, 2 (a difference would give 1, 0, 0, -1)
    assert f[0, :4, 0].tolist() == [1.0, 1.0, 1.0, 0.0]
    # piano: two onsets at step 10 (sum over pitch), one offset at 12, one at 14
    assert f[0, 9:16, 1].tolist() == [0.0, 2.0, 0.0, -1.0, 0.0, -1.0, 0.0]
    # guitar: the difference restarts at the bar line, so the held note re-onsets in bar 1
    assert f[0, 90, 2] == 1 and f[1, 0, 2] == 1 and f[1, 3, 2] == -1
    assert f[0, 91:96, 2].abs().sum() == 0
    assert f.abs().sum() == 3 + 4 + 3  # drums 3, piano 2+1+1, guitar 1+1+1: nothing else
    per_pitch = onset_offset(_phrase())
    assert per_pitch[0, 0, 10, 47, 1] == 1 and per_pitch[0, 0, 12, 47, 1] == -1


def test_beat_chroma_feature_equals_hand_computed_values() -> None:
    x = torch.zeros(1, 4, 96, 84, 8)
    x[0, 0, 0:6, 0, 1] = 1  # C1, 6 steps in beat 0
    x[0, 0, 20:30, 12, 1] = 1  # C2, steps 20..29: 4 in beat 0, 6 in beat 1
    x[0, 0, 0:2, 7, 1] = 1  # G1, 2 steps in beat 0
    x[0, 2, 50, 46, 0] = 1  # a drum at pitch 46 (A#4 -> class 10), bar 2, beat 2
    chroma = beat_chroma_feature(x)
    assert chroma.shape == (1, 4, 4, 12, 8)
    assert chroma[0, 0, 0, 0, 1] == 10  # C in beat 0: 6 + 4 (octaves summed)
    assert chroma[0, 0, 1, 0, 1] == 6
    assert chroma[0, 0, 0, 7, 1] == 2  # G (an 8-semitone band would have merged it with C)
    assert chroma[0, 2, 2, 10, 0] == 1  # drums are included
    assert chroma.sum() == x.sum()


def _capture_input(module: torch.nn.Module, call: object) -> torch.Tensor:
    seen: list[torch.Tensor] = []
    handle = module.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    call()  # type: ignore[operator]
    handle.remove()
    return seen[0]


def test_baseline_input_is_every_track_twice() -> None:
    d = build_discriminator("baseline")
    x = torch.rand(1, 4, 96, 84, 8)
    seen = _capture_input(d.shared[0][0], lambda: d(x))  # (1, 16, 4, 96, 84)
    assert seen.shape == (1, 16, 4, 96, 84)
    for track in range(8):
        expected = x[..., track].unsqueeze(1)  # (1, 1, 4, 96, 84)
        assert torch.equal(seen[:, 2 * track : 2 * track + 1], expected)
        assert torch.equal(seen[:, 2 * track + 1 : 2 * track + 2], expected)


def test_merge_input_is_shared_then_chroma_then_onset() -> None:
    d = build_discriminator("proposed")
    x = (torch.rand(1, 4, 96, 84, 8) > 0.9).float()
    outputs: dict[str, torch.Tensor] = {}
    hooks = [
        getattr(d, name).register_forward_hook(lambda _m, _i, out, n=name: outputs.update({n: out}))
        for name in ("shared", "chroma", "onset")
    ]
    merged_in = _capture_input(d.merged, lambda: d(x))
    for hook in hooks:
        hook.remove()
    expected = torch.cat([outputs["shared"], outputs["chroma"], outputs["onset"]], dim=1)
    assert torch.equal(merged_in, expected)


def test_flatten_is_tf_channels_last_order() -> None:
    h = torch.arange(5 * 3).float().view(1, 5, 3, 1, 1)  # (B, C=5, bar=3, 1, 1)
    flat = FlattenBars()(h)
    assert flat.shape == (1, 15)
    for bar in range(3):
        for c in range(5):
            assert flat[0, bar * 5 + c] == h[0, c, bar, 0, 0]


def test_private_networks_have_separate_weights() -> None:
    """Each track's input reaches only its own private network's gradients."""
    d = build_discriminator("proposed_small")
    x = torch.zeros(1, 4, 96, 84, 8)
    x[..., 5] = torch.rand(1, 4, 96, 84)
    d(x).sum().backward()
    first = [net.pitch_time[0][0].weight.grad for net in d.private]  # (16, 1, 1, 1, 12) each
    nonzero = [bool(g is not None and g.abs().sum() > 0) for g in first]
    assert nonzero == [t == 5 for t in range(8)]
    assert not torch.equal(d.private[0].merged[0].weight, d.private[1].merged[0].weight)


def _sliced_forward(d, x: torch.Tensor) -> torch.Tensor:
    """The forward before the ``split`` rewrite: one slice ``x[:, i : i + 1]`` per track."""
    cf = to_channels_first(x)
    h = torch.cat([net(cf[:, i : i + 1]) for i, net in enumerate(d.private)], dim=1)
    streams = [d.shared(h)]
    streams.append(d.chroma(to_channels_first(beat_chroma_feature(x))))
    streams.append(d.onset(to_channels_first(onset_offset_feature(x))))
    return d.merged(torch.cat(streams, dim=1)).squeeze(1)


class _Sliced(torch.nn.Module):
    def __init__(self, d) -> None:
        super().__init__()
        self.d = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _sliced_forward(self.d, x)


def test_split_per_track_input_is_bitwise_the_sliced_one_after_an_adam_step() -> None:
    """A critic step (GP double backward included) through ``split`` and through slices gives
    the same weights bit for bit after an Adam step (docs/gpu_speed.md)."""
    from pipeline.training.critic_loss import critic_update

    torch.manual_seed(11)
    new = build_discriminator("proposed_small", n_tracks=3)
    old = copy.deepcopy(new)
    before = copy.deepcopy(new.state_dict())
    real = (torch.rand(2, 4, 96, 84, 3) < 0.05).float()
    fake = torch.rand(2, 4, 96, 84, 3)
    losses = []
    for net, model in ((new, new), (old, _Sliced(old))):
        opt = torch.optim.Adam(net.parameters(), lr=0.002, betas=(0.5, 0.9))
        torch.manual_seed(12)  # the same GP epsilon for both
        losses.append(critic_update(model, opt, real, fake, lam=10.0))
    assert all(torch.equal(losses[0][k], losses[1][k]) for k in losses[0])
    for (name, a), b in zip(new.named_parameters(), old.parameters(), strict=True):
        assert torch.equal(a, b), name
        if name.startswith("private."):  # the step moved them (the last bias gets grad 0)
            assert not torch.equal(a, before[name]), name
