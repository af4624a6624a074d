"""Layer tables: every layer's output shape and parameter count, for the summary command and tests.

Shapes are printed as the tables of docs/model.md write them, ``(bar, time, pitch, channels)``
without the batch axis (5-D tensors are channels first inside the networks and are reordered here
only for display); 2-D outputs are ``(features,)``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

# Layers without parameters that only repeat what the row before them says.
_SKIPPED = (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.ZeroPad3d)


class LayerRow(NamedTuple):
    """One row of a layer table."""

    name: str  # dotted module name, e.g. "private.0.pitch_time.0.0"
    shape: tuple[int, ...]  # output shape without batch; 5-D as (bar, time, pitch, channels)
    params: int  # parameters of this layer alone
    kind: str  # the layer's class name


def count_parameters(model: nn.Module) -> int:
    """The number of trainable and frozen parameters (buffers such as the slope excluded)."""
    return sum(p.numel() for p in model.parameters())


def _display_shape(out: torch.Tensor) -> tuple[int, ...]:
    if out.dim() == 5:  # (B, C, bar, time, pitch) -> (bar, time, pitch, C)
        return (*out.shape[2:], out.shape[1])
    return tuple(out.shape[1:])


def layer_table(model: nn.Module, *inputs: torch.Tensor) -> list[LayerRow]:
    """Run ``model(*inputs)`` once (eval mode, no grad) and list its layers in execution order."""
    rows: list[LayerRow] = []
    handles = []
    for name, module in model.named_modules():
        if list(module.children()) or isinstance(module, _SKIPPED):
            continue

        def hook(mod: nn.Module, _: object, out: torch.Tensor, name: str = name) -> None:
            params = sum(p.numel() for p in mod.parameters())
            rows.append(LayerRow(name, _display_shape(out), params, type(mod).__name__))

        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(*inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return rows


def _private_copy(name: str) -> tuple[str, int] | None:
    """(``"<prefix>private"``, track) for a layer of a private network of track >= 1, else None."""
    parts = name.split(".")
    for i, (part, nxt) in enumerate(zip(parts, parts[1:], strict=False)):
        if part == "private" and nxt.isdigit() and int(nxt) > 0:
            return ".".join(parts[: i + 1]), int(nxt)
    return None


def format_table(title: str, rows: list[LayerRow], total: int) -> str:
    """A text table; the private networks of tracks 1..T-1 are folded into one line each."""
    width = max([len(row.name) for row in rows] + [5]) + 1
    head = f"{'layer':<{width}} {'kind':<16} {'output (bar,time,pitch,ch)':<28} {'params':>10}"
    lines = [title, head]
    folded: dict[str, dict[int, int]] = {}
    for row in rows:
        copy = _private_copy(row.name)
        if copy:  # tracks 1.. repeat track 0's layers, each with its own weights
            tracks = folded.setdefault(copy[0], {})
            tracks[copy[1]] = tracks.get(copy[1], 0) + row.params
            continue
        lines.append(f"{row.name:<{width}} {row.kind:<16} {str(row.shape):<28} {row.params:>10,}")
    for prefix, tracks in folded.items():
        each = ", ".join(f"{n:,}" for n in sorted(set(tracks.values())))
        lines.append(
            f"{prefix}.1..{max(tracks)}: {len(tracks)} more tracks, the layers of {prefix}.0, "
            f"separate weights ({each} params each)"
        )
    lines.append(f"{'total':<{width + 46}} {total:>10,}")
    return "\n".join(lines)
