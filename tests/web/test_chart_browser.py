"""The contribution chart in real Chromium: every text box inside the drawing, none over another or over a
bar, with long labels, values and the largest bar pointing either way (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

import riskengine.web
from riskengine.web.charts import contribution_chart, feature_labels
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STYLE = Path(riskengine.web.__file__).parent / "static"

MEASURE = """() => {
  const svg = document.querySelector('svg.shap').getBoundingClientRect();
  const box = e => { const r = e.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, text: e.textContent}; };
  return {svg: {left: svg.left, right: svg.right, top: svg.top, bottom: svg.bottom},
          texts: [...document.querySelectorAll('svg.shap text')].map(box),
          bars: [...document.querySelectorAll('svg.shap rect')].map(box)};
}"""


def _overlap(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"] - 0.5
        and b["left"] < a["right"] - 0.5
        and (a["top"] < b["bottom"] - 0.5 and b["top"] < a["bottom"] - 0.5)
    )


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (run .ci/browser.sh, or set RISKENGINE_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("width", [1024, 390])
@pytest.mark.parametrize("largest", [-14.6, 21.3])
def test_no_chart_text_is_clipped_or_drawn_over_another(chromium, width, largest):
    labels = feature_labels()
    points = {
        "sen": largest,  # the longest label (a group's labels joined) on the largest bar
        "attendance_rate_term": -9.87,
        "attendance_rate_last_year": 4.2,
        "permanent_exclusion_ever": 11.0,
        "ks2_reading_scaled": -0.6,
        "youth_justice": 2.5,
    }
    values = {
        "sen": "Education, Health and Care plan, Social, emotional and mental health",
        "attendance_rate_term": "59%",
        "attendance_rate_last_year": "71%",
        "permanent_exclusion_ever": "yes",
        "ks2_reading_scaled": "112",
        "youth_justice": "yes",
    }
    chart = str(contribution_chart(points, labels, values))
    css = "\n".join(p.read_text() for p in sorted(STYLE.glob("*.css")))
    page = chromium.new_page(viewport={"width": width, "height": 900})
    page.set_content(
        f"<html><head><style>{css}</style></head><body><figure class='chart'>{chart}</figure></body></html>"
    )
    measured = page.evaluate(MEASURE)
    page.close()
    svg, texts, bars = measured["svg"], measured["texts"], measured["bars"]
    assert len(texts) == 2 * len(points) + 1 and len(bars) == len(points)
    for text in texts:  # nothing clipped: every text box lies inside the drawing
        assert svg["left"] - 0.5 <= text["left"] and text["right"] <= svg["right"] + 0.5, text
        assert svg["top"] - 0.5 <= text["top"] and text["bottom"] <= svg["bottom"] + 0.5, text
    for i, a in enumerate(texts):  # no text over another text, nor over a bar
        for b in texts[i + 1 :]:
            assert not _overlap(a, b), (a["text"], b["text"])
        for bar in bars:
            assert not _overlap(a, bar), (a["text"], bar)
    assert any("Education, Health and Care plan" in t["text"] for t in texts)  # the pupil's value shows
    assert any(t["text"].endswith(" pp") for t in texts)  # in percentage points
