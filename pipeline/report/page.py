"""The HTML of the results page: plain HTML and inline CSS, no scripts, fonts or network.

Every path in the page is relative to ``index.html``, so the folder opens from ``file://`` and can
be moved or zipped as a whole.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.report.tables import BAR_MODES, METRICS, MODERN_CAPTION, TITLES, fmt, row_cells

STYLE = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
caption { caption-side: bottom; text-align: left; font-size: 0.85em; color: #555; }
img { max-width: 100%; }
.set { border-top: 1px solid #ccc; padding-top: 0.5em; }
audio { margin: 0.2em 1em 0.2em 0; vertical-align: middle; }
"""


@dataclass(frozen=True)
class SampleSet:
    """One model's (or the training data's) grid and audio files, relative to the page."""

    name: str
    label: str
    grid: str
    audio: list[str]


def esc(value: object) -> str:
    return html.escape(str(value))


def table_html(table: pd.DataFrame, name: str, mode: str) -> str:
    """One paper table in one metric mode; cells ``ours (paper)`` in paper mode, as in the .md.

    The scale of the run is said once, above the tables (``rows_html``), not in each caption.
    """
    rows = table[table["mode"] == mode]
    head = "".join(f"<th>{m}</th>" for m in METRICS) + "<th>phrases</th><th>trained</th>"
    body = []
    for _, r in rows.iterrows():
        cells = "".join(f"<td>{esc(cell)}</td>" for cell in row_cells(r, mode))
        trained = esc(r.get("trained", "–"))
        body.append(
            f"<tr><td>{esc(r['model'])}</td>{cells}<td>{r['n_phrases']}</td><td>{trained}</td></tr>"
        )
    what = "ours (paper)" if mode == "paper" else "ours; no published counterpart"
    return (
        f'<table id="{name}-{mode}" class="{name}"><thead><tr><th>model</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody><caption>{esc(TITLES[name])}, <code>{mode}</code> mode, "
        f"{what}.</caption></table>"
    )


def rows_html(tables: dict[str, pd.DataFrame], caption: str) -> str:
    """What the table rows are, said once at the top: trained models, untrained demos, data."""
    trained: dict[str, str] = {}
    for table in tables.values():
        for _, r in table.iterrows():
            trained.setdefault(str(r["model"]), str(r.get("trained", "–")))
    shipped = [m for m, t in trained.items() if t.startswith("shipped")]
    demos = [m for m, t in trained.items() if "demo" in t]
    own = [m for m, t in trained.items() if t.startswith("this run") and "demo" not in t]
    items = [
        "<li><b>training data</b>: the real phrases of the training tensor, the reference.</li>"
    ]
    if shipped:
        items.append(
            "<li><b>Trained models</b> (shipped in <code>models/</code>, see its README): "
            f"{esc(', '.join(shipped))}. The paper's networks at reduced width, trained on a "
            "CPU: not the paper's models.</li>"
        )
    if own:
        items.append(f"<li><b>Trained by this run</b>: {esc(', '.join(own))}.</li>")
    if demos:
        items.append(
            "<li><b>Untrained demos</b> (trained by this run for a few iterations, the demo "
            f"setting of <code>params.yaml</code>): {esc(', '.join(demos))}. They show that "
            "every path works; their numbers are noise.</li>"
        )
    return f'<div id="rows"><p>{esc(caption)}</p><ul>{"".join(items)}</ul></div>'


def modern_html(table: pd.DataFrame) -> str:
    """Mode ``modern``'s table (``table_modern.csv``): measures and overlapped areas per set."""
    columns = [c for c in table.columns if c not in ("model", "n_phrases")]
    head = "".join(f"<th>{esc(c)}</th>" for c in columns) + "<th>phrases</th>"
    body = []
    for _, r in table.iterrows():
        cells = "".join(f"<td>{esc(fmt(float(r[c])))}</td>" for c in columns)
        body.append(f"<tr><td>{esc(r['model'])}</td>{cells}<td>{r['n_phrases']}</td></tr>")
    return (
        f'<table id="table-modern"><thead><tr><th>model</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody><caption>{esc(MODERN_CAPTION)}</caption></table>"
    )


def sample_html(s: SampleSet) -> str:
    """A set's piano-roll grid and one audio player per rendered phrase."""
    players = "".join(
        f'<audio controls preload="auto" src="{esc(a)}" title="{esc(Path(a).stem)}"></audio>'
        for a in s.audio
    )
    return (
        f'<div class="set" id="set-{esc(s.name)}"><h3>{esc(s.label)}</h3>'
        f'<img src="{esc(s.grid)}" alt="piano-rolls of {esc(s.label)}"><div>{players}</div></div>'
    )


def provenance_html(facts: dict[str, object], timings: list[tuple[str, float | None, str]]) -> str:
    """The run's commit, params digest and data counts, then the per-stage wall times."""
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in facts.items())
    stages = "".join(
        f"<tr><td>{esc(n)}</td><td>{'–' if t is None else f'{t:.1f}'}</td><td>{esc(d)}</td></tr>"
        for n, t, d in timings
    )
    return (
        f'<table id="provenance"><tbody>{rows}</tbody></table>'
        '<table id="timings"><thead><tr><th>stage</th><th>wall time (s)</th><th>device</th>'
        f"</tr></thead><tbody>{stages}</tbody></table>"
    )


def page_html(
    tables: dict[str, pd.DataFrame],
    caption: str,
    modes: list[str],
    sets: list[SampleSet],
    curves: dict[str, str],
    provenance: str,
    modern: pd.DataFrame | None = None,
) -> str:
    """The whole page; ``modern``: the table of mode ``modern``, shown when it has rows."""
    parts = ["<h2>What the rows are</h2>", rows_html(tables, caption), "<h2>Tables</h2>"]
    for name, table in tables.items():
        parts += [table_html(table, name, mode) for mode in modes if mode in BAR_MODES]
    if modern is not None and len(modern):
        parts += [
            "<h2>Modern measures and distances to the training data</h2><p>Measures newer "
            "papers report, per four-bar phrase, and the Yang &amp; Lerch overlapped areas "
            "(docs/metrics.md).</p>",
            modern_html(modern),
        ]
    parts.append(
        "<h2>Samples</h2><p>Piano-rolls: one row and colour per track, four bars per "
        "phrase. Audio: the first phrases of each set (pipeline/export/audio.py).</p>"
    )
    parts += [sample_html(s) for s in sets]
    parts.append(
        "<h2>Metric curves along training</h2><p>QN, PP, TD and EB of the fixed "
        "monitoring batch against the <b>global step</b> (critic + generator updates; "
        "log scale beyond 100), ours in red beside the original run in grey "
        "(data/reference/training_progress; the paper's Figs. 9 and 11).</p>"
    )
    parts += [
        f'<h3>{esc(run)}</h3><img src="{esc(png)}" alt="curves of {esc(run)}">'
        for run, png in curves.items()
    ]
    parts += ["<h2>Provenance</h2>", provenance]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>BinaryMuseGAN reproduction: results</title>"
        f"<style>{STYLE}</style></head><body><h1>BinaryMuseGAN reproduction: results of this "
        f"run</h1>{''.join(parts)}</body></html>\n"
    )
