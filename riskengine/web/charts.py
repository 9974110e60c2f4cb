"""The SHAP contribution chart as inline SVG, drawn on the server so pages need no JavaScript library."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from markupsafe import Markup, escape

MAX_BARS = 10
_WIDTH, _LABEL_W, _BAR_H, _GAP = 640, 260, 20, 6


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


def contribution_chart(contributions: Mapping[str, float] | None, labels: Mapping[str, str]) -> Markup:
    """Horizontal bars of each feature's log-odds contribution, largest first: right (red) raises the risk,
    left (blue) lowers it. Empty markup when the pupil has no model contributions."""
    items = sorted(
        ((name, float(value)) for name, value in (contributions or {}).items() if value == value and value),
        key=lambda item: -abs(item[1]),
    )[:MAX_BARS]
    if not items:
        return Markup("")
    scale = max(abs(v) for _, v in items)
    half = (_WIDTH - _LABEL_W - 70) / 2
    axis = _LABEL_W + half
    height = len(items) * (_BAR_H + _GAP) + 30
    parts = [
        f'<svg class="shap" role="img" viewBox="0 0 {_WIDTH} {height}" width="100%" '
        f'aria-label="Contribution of each feature to this pupil\'s risk (log-odds)">',
        f'<line x1="{axis}" y1="0" x2="{axis}" y2="{height - 24}" class="axis"/>',
    ]
    for i, (name, value) in enumerate(items):
        y = i * (_BAR_H + _GAP)
        length = abs(value) / scale * half
        x = axis if value > 0 else axis - length
        css = "up" if value > 0 else "down"
        label = escape(labels.get(name, name.replace("_", " ")))
        text_x = axis + length + 4 if value > 0 else axis - length - 4
        anchor = "start" if value > 0 else "end"
        parts += [
            f'<text x="{_LABEL_W - 8}" y="{y + 14}" text-anchor="end" class="label">{label}</text>',
            f'<rect x="{x:.1f}" y="{y}" width="{max(length, 1):.1f}" height="{_BAR_H}" class="{css}">'
            f"<title>{label}: {value:+.3f}</title></rect>",
            f'<text x="{text_x:.1f}" y="{y + 14}" text-anchor="{anchor}" class="value">{value:+.2f}</text>',
        ]
    parts.append(
        f'<text x="{axis}" y="{height - 6}" text-anchor="middle" class="note">'
        "&#8592; lowers risk | raises risk &#8594; (log-odds)</text></svg>"
    )
    return Markup("".join(parts))
