"""`nst bench --frontier` judges issue #16's targets from its figures: the judgement is checked
on figures made up to sit on each side of every target, and a small real run is checked for
consistent outputs (the real figures live in docs/benchmarks.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from nst_engine.evaluation import frontier, measure, targets
from nst_engine.evaluation.measure import Point


def point(ssim: float, gmd: float) -> Point:
    return Point(ssim, gmd, {}, 1.0)


GATYS = [point(0.40, 0.30), point(0.50, 0.30), point(0.45, 0.40)]


def test_margins_at_one_strength_need_the_mean_and_all_pairs_but_one():
    good = [point(0.55, 0.20), point(0.60, 0.20), point(0.55, 0.25)]
    one_short = [point(0.55, 0.20), point(0.60, 0.20), point(0.50, 0.25)]  # SSIM +0.05 there
    two_short = [point(0.55, 0.20), point(0.55, 0.20), point(0.50, 0.25)]
    lines = targets.frontier_verdicts(GATYS, {0.3: good, 0.5: one_short, 0.7: two_short})
    margins = [line for line in lines if "paper's margins" in line]
    assert margins[0].startswith("- MET") and "3 of 3 pairs" in margins[0]
    assert margins[1].startswith("- MET") and "2 of 3 pairs" in margins[1]
    assert margins[2].startswith("- NOT MET") and "1 of 3 pairs" in margins[2]


def test_margins_on_the_mean_are_needed_too():
    # Two pairs with wide margins cannot carry a third far behind on the mean's GMD.
    points = [point(0.55, 0.20), point(0.60, 0.20), point(0.55, 0.60)]
    (line, default) = targets.frontier_verdicts(GATYS, {0.5: points})
    assert line.startswith("- NOT MET") and "2 of 3 pairs" in line
    assert "GMD 1.00x gatys' on the mean" in line


def test_the_default_strength_needs_style_structure_and_a_narrow_spread():
    def judged(points: list[Point]) -> str:
        return targets.frontier_verdicts(GATYS, {targets.DEFAULT_STRENGTH: points})[-1]

    assert judged([point(0.52, 0.25), point(0.55, 0.25), point(0.53, 0.25)]).startswith("- MET")
    assert judged([point(0.52, 0.30), point(0.55, 0.30), point(0.53, 0.30)]).startswith(
        "- NOT MET"
    )  # GMD 0.90x gatys'
    assert judged([point(0.47, 0.25), point(0.50, 0.25), point(0.48, 0.25)]).startswith(
        "- NOT MET"
    )  # SSIM under 0.5
    wide = judged([point(0.50, 0.25), point(0.60, 0.25), point(0.53, 0.25)])
    assert wide.startswith("- NOT MET") and "spread across the pairs 0.100" in wide


def test_default_pairs_load_files_and_gallery_paintings():
    pairs = measure.load_pairs(None, frontier.FRONTIER_PAIRS)
    names = [p.name for p in pairs]
    assert len(names) == 11 and len(set(names)) == 11
    assert "rocket+composition-viii" in names and "coffee+mackerel-and-prawns" in names
    for pair in pairs:
        assert pair.content.ndim == 3 and pair.style.shape[2] == 3
        assert min(pair.content.shape[:2]) >= 256  # the judged size is a crop, not an enlargement


@pytest.mark.slow
def test_a_small_run_writes_consistent_figures(tmp_path, examples):
    pairs = measure.load_pairs([f"{examples / 'chelsea.png'}:the-kiss"])
    lines: list[str] = []
    result = frontier.run_frontier(
        pairs, "cpu", tmp_path, size=48, strengths=(0.3, 0.7), iterations=3, log=lines.append
    )
    assert {p.name for p in tmp_path.iterdir()} == {"frontier.md", "frontier.json", "frontier.jpg"}
    assert json.loads((tmp_path / "frontier.json").read_text()) == json.loads(json.dumps(result))
    assert result["targets"] == []  # an iteration override is not the product: nothing judged
    assert list(result["proposed"]) == ["0.3", "0.7"]
    for figures in [result["gatys"], *result["proposed"].values()]:
        (one,) = figures
        assert 0 < one["ssim"] <= 1 and one["gmd"] > 0 and one["seconds"] > 0
        assert np.mean(list(one["layers"].values())) == np.float64(one["gmd"])
    table = (tmp_path / "frontier.md").read_text()
    assert "| chelsea+the-kiss |" in table and "| proposed 0.3 | proposed 0.7 |" in table
    assert Image.open(tmp_path / "frontier.jpg").size == (5 * 192, 192 + 20)
