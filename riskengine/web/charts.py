"""The contribution chart (percentage points of risk) as inline SVG, drawn on the server: no JavaScript."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from markupsafe import Markup, escape

MAX_BARS = 10
#: Minimum width; a feature's row: its label line, then its bar; font sizes as in the style sheet.
_WIDTH, _BAR_H, _LABEL_LINE, _ROW = 640, 18, 18, 44
_LABEL_SIZE, _VALUE_SIZE = 12.0, 12.0


@cache
def feature_labels() -> dict[str, str]:
    """Feature name -> plain-English label from the shipped catalogue, read once per process (names stand
    in if it fails to load); a group the shipped model spec explains together (its contributions stored
    under the group's name) gets its features' labels joined, e.g. "SEN provision and SEN primary need"."""
    from riskengine.features import load_catalogue
    from riskengine.model.spec import load_model_spec

    # labels are cosmetic: a catalogue or model spec being edited must not take the pupil page down
    try:
        catalogue = load_catalogue()
    except Exception:
        return {}
    labels = {name: catalogue.label(name) for name in catalogue.names}
    try:
        groups = load_model_spec().explain_together
    except Exception:
        return labels
    return labels | {
        group: " and ".join(labels.get(m, m) for m in members) for group, members in groups.items()
    }


def pupil_chart(score: Mapping | None) -> Markup:
    """The chart for a stored score: percentage points and values from its details, or for a score stored
    before those, its log-odds contributions."""
    if not score:
        return Markup("")
    details = score.get("details") if isinstance(score.get("details"), Mapping) else None
    if details and details.get("risk_points"):
        return contribution_chart(details["risk_points"], feature_labels(), details.get("values"), "pp")
    return contribution_chart(score.get("contributions"), feature_labels(), unit="log-odds")


def _text_width(text: str, size: float) -> float:
    """A generous estimate of a text's width in px (wide sans-serif glyphs): the layout reserves this much,
    so a label is never clipped by the chart's edge nor drawn over a bar or a value."""
    return len(text) * size * 0.62 + 4


def contribution_chart(
    contributions: Mapping[str, float] | None,
    labels: Mapping[str, str],
    values: Mapping[str, str] | None = None,
    unit: str = "pp",
) -> Markup:
    """Horizontal bars of each feature's effect on this pupil's risk, largest first: right (red) raises it,
    left (blue) lowers it. `contributions` are percentage points of risk (`unit="pp"`, the details stored
    with a score) or, for scores stored before those, log-odds (`unit="log-odds"`); `values` are the
    pupil's values, shown beside each label. Each feature takes two lines, its label (and value) above its
    bar, and the bar area keeps a margin on each side wide enough for the value text, so no text is clipped
    or overlaps another. Empty markup when the pupil has no model contributions."""
    values = values or {}
    items = sorted(
        ((name, float(value)) for name, value in (contributions or {}).items() if value == value and value),
        key=lambda item: -abs(item[1]),
    )[:MAX_BARS]
    if not items:
        return Markup("")
    texts = [
        (
            labels.get(name, name.replace("_", " ")) + (f": {values[name]}" if values.get(name) else ""),
            f"{value:+.1f} pp" if unit == "pp" else f"{value:+.2f}",
        )
        for name, value in items
    ]
    margin = max(_text_width(v, _VALUE_SIZE) for _, v in texts) + 6
    width = max(_WIDTH, max(_text_width(t, _LABEL_SIZE) for t, _ in texts) + 8, 2 * margin + 200)
    half = (width - 2 * margin) / 2
    axis = margin + half
    scale = max(abs(v) for _, v in items)
    height = len(items) * _ROW + 30
    note = "percentage points of risk" if unit == "pp" else "log-odds"
    parts = [
        f'<svg class="shap" role="img" viewBox="0 0 {width:.0f} {height}" width="100%" '
        f'aria-label="Effect of each feature on this pupil\'s risk ({note})">',
        f'<line x1="{axis:.1f}" y1="0" x2="{axis:.1f}" y2="{height - 24}" class="axis"/>',
    ]
    for i, ((_, value), (label, shown)) in enumerate(zip(items, texts, strict=True)):
        top = i * _ROW
        bar_y = top + _LABEL_LINE
        length = max(abs(value) / scale * half, 1.0)
        x = axis if value > 0 else axis - length
        css = "up" if value > 0 else "down"
        text_x = axis + length + 4 if value > 0 else axis - length - 4
        anchor = "start" if value > 0 else "end"
        parts += [
            f'<text x="4" y="{top + 13}" class="label">{escape(label)}</text>',
            f'<rect x="{x:.1f}" y="{bar_y}" width="{length:.1f}" height="{_BAR_H}" class="{css}">'
            f"<title>{escape(label)}: {escape(shown)}</title></rect>",
            f'<text x="{text_x:.1f}" y="{bar_y + 13}" text-anchor="{anchor}" class="value">{shown}</text>',
        ]
    parts.append(
        f'<text x="{axis:.1f}" y="{height - 6}" text-anchor="middle" class="note">'
        f"&#8592; lowers risk | raises risk &#8594; ({note})</text></svg>"
    )
    return Markup("".join(parts))
