"""The results page's section of mode ``modern`` (pipeline/report/page.py)."""

from __future__ import annotations

import math

import pandas as pd

from pipeline.report import page


def tables() -> dict[str, pd.DataFrame]:
    row = {"model": "training data", "mode": "paper", "n_phrases": 8}
    row |= {f"{who}_{m}": 0.5 for who in ("ours", "paper") for m in ("QN", "PP", "TD")}
    return {"table1": pd.DataFrame([row]), "table2": pd.DataFrame([row])}


def modern_table() -> pd.DataFrame:
    return pd.DataFrame(
        [{"model": "joint (DBN)", "n_phrases": 800, "PCE": 2.345, "SC": math.nan, "OA": 0.71}]
    )


def test_modern_section_shows_the_table_and_only_2018_modes_make_paper_tables():
    html = page.page_html(
        tables(), "caption", ["paper", "modern"], [], {}, "", modern=modern_table()
    )
    assert html.count('id="table-modern"') == 1
    assert "<td>joint (DBN)</td><td>2.35</td><td>–</td><td>0.71</td><td>800</td>" in html
    assert 'id="table1-paper"' in html and 'id="table1-modern"' not in html


def test_no_modern_section_when_the_mode_is_off():
    empty = pd.DataFrame(columns=["model", "n_phrases", "PCE", "OA"])
    html = page.page_html(tables(), "caption", ["paper"], [], {}, "", modern=empty)
    assert "table-modern" not in html
    assert "table-modern" not in page.page_html(tables(), "caption", ["paper"], [], {}, "")
