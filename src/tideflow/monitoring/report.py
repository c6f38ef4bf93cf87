"""The HTML report of a model's evaluations: one self-contained file, plots drawn as inline SVG.

No script, no stylesheet or font from the network: the file opens offline and can be mailed.
``render_report(evaluations)`` is pure (the evaluations of one model, oldest first).
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence

from tideflow.monitoring.drift import FeatureDrift
from tideflow.monitoring.evaluation import Evaluation

REF_COLOR = "#4c78a8"
CUR_COLOR = "#f58518"
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d", "#bab0ac")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f4f4f4}.alarm{color:#b00020;font-weight:600}.ok{color:#1b7f3b;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:16px}.card{border:1px solid #eee;padding:8px;border-radius:4px}
.muted{color:#777;font-size:12px}svg text{font-size:10px;fill:#444}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}"


# ------------------------------------------------------------------ SVG


def bars_svg(feature: FeatureDrift, width: int = 340, height: int = 180) -> str:
    """Grouped bars: the share of rows per bin, reference vs current."""
    n = max(1, len(feature.bins))
    left, bottom, top = 34, 46, 18
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max([*feature.ref_share, *feature.cur_share, 1e-9])
    slot = plot_w / n
    bar = max(1.0, slot * 0.38)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(feature.feature)} distribution">',
             f'<text x="{left}" y="12" font-weight="600">{_e(feature.feature)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" stroke="#999"/>',
             f'<text x="2" y="{top + 8}">{peak:.0%}</text>']
    for i, (label, r, c) in enumerate(zip(feature.bins, feature.ref_share, feature.cur_share, strict=False)):
        x = left + i * slot + slot * 0.1
        for j, (share, color) in enumerate(((r, REF_COLOR), (c, CUR_COLOR))):
            h = plot_h * share / peak
            parts.append(f'<rect x="{x + j * bar:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{color}"><title>{_e(label)}: {"reference" if j == 0 else "current"} '
                         f'{share:.1%}</title></rect>')
        if n <= 12:
            short = label if len(label) <= 14 else label[:13] + "…"
            tx, ty = x + bar, top + plot_h + 10
            parts.append(f'<text x="{tx:.1f}" y="{ty}" transform="rotate(35 {tx:.1f} {ty})">{_e(short)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def lines_svg(title: str, series: dict[str, list[tuple[float, float]]], *, threshold: float | None = None,
              width: int = 520, height: int = 220, y_min: float | None = None) -> str:
    """Lines of (time, value) per name, with an optional dashed threshold."""
    points = [p for values in series.values() for p in values]
    if not points:
        return f'<p class="muted">{_e(title)}: no evaluations yet.</p>'
    xs = [p[0] for p in points]
    ys = [p[1] for p in points] + ([threshold] if threshold is not None else [])
    x0, x1 = min(xs), max(xs)
    y0 = min(ys) if y_min is None else min(y_min, *ys)
    y1 = max(ys)
    if y1 - y0 < 1e-9:
        y1 = y0 + 1.0
    left, right, top, bottom = 44, 120, 20, 28
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (plot_w * (x - x0) / (x1 - x0) if x1 > x0 else plot_w / 2)

    def sy(y: float) -> float:
        return top + plot_h * (1 - (y - y0) / (y1 - y0))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(title)}">', f'<text x="{left}" y="12" font-weight="600">{_e(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>',
             f'<text x="2" y="{top + 8}">{y1:.3g}</text><text x="2" y="{top + plot_h}">{y0:.3g}</text>',
             f'<text x="{left}" y="{height - 6}">{_e(_time(x0)[:16])}</text>',
             f'<text x="{left + plot_w - 90}" y="{height - 6}">{_e(_time(x1)[:16])}</text>']
    if threshold is not None:
        parts.append(f'<line x1="{left}" y1="{sy(threshold):.1f}" x2="{left + plot_w}" y2="{sy(threshold):.1f}" '
                     f'stroke="#b00020" stroke-dasharray="4 3"><title>threshold {threshold:g}</title></line>')
    for k, (name, values) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        for x, y in values:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}">'
                         f'<title>{_e(name)} {y:.4g} at {_e(_time(x))}</title></circle>')
        parts.append(f'<text x="{left + plot_w + 8}" y="{top + 12 + 14 * k}" fill="{color}">{_e(name[:18])}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------ the page


def _features_table(evaluation: Evaluation) -> str:
    rows = []
    for f in sorted(evaluation.features, key=lambda f: (not f.drifting, -f.psi)):
        flag = '<span class="alarm">drift</span>' if f.drifting else f.level
        unseen = ", ".join(f.unseen[:5]) + ("…" if len(f.unseen) > 5 else "")
        rows.append(f"<tr><td>{_e(f.feature)}</td><td>{f.kind}</td><td>{f.test}</td><td>{_num(f.statistic)}</td>"
                    f"<td>{_num(f.p_value, 3)}</td><td>{_num(f.psi, 3)}</td><td>{flag}</td>"
                    f"<td>{f.ref_missing:.1%} → {f.cur_missing:.1%}</td><td>{_e(unseen)}</td></tr>")
    return ("<table><tr><th>feature</th><th>kind</th><th>test</th><th>statistic</th><th>p-value</th><th>PSI</th>"
            "<th>status</th><th>missing</th><th>unseen categories</th></tr>" + "".join(rows) + "</table>")


def _performance_table(evaluation: Evaluation) -> str:
    if not evaluation.performance:
        return '<p class="muted">No labels in the evaluated batch: performance not measured.</p>'
    rows = "".join(
        f"<tr><td>{_e(m.metric)}</td><td>{_num(m.recorded)}</td><td>{_num(m.current)}</td><td>{_num(m.change)}</td>"
        f"<td>{_e(m.bar)}</td><td>{'<span class=alarm>degraded</span>' if m.degraded else 'ok'}</td></tr>"
        for m in evaluation.performance)
    return (f"<p>{evaluation.labelled_rows} labelled rows.</p><table><tr><th>metric</th><th>at training (test)</th>"
            f"<th>now</th><th>change</th><th>alarm when</th><th>status</th></tr>{rows}</table>")


def _over_time(evaluations: Sequence[Evaluation]) -> str:
    latest = evaluations[-1]
    scores = {"drift score (AUC)": [(e.created_at, e.drift_score) for e in evaluations if e.drift_score is not None]}
    required = latest.domain.required if latest.domain else None
    top = [f.feature for f in sorted(latest.features, key=lambda f: -f.psi)[:6]]
    psi_series: dict[str, list[tuple[float, float]]] = {name: [] for name in top}
    for e in evaluations:
        for f in e.features:
            if f.feature in psi_series:
                psi_series[f.feature].append((e.created_at, f.psi))
    pred = {"prediction PSI": [(e.created_at, e.prediction.psi) for e in evaluations if e.prediction is not None]}
    count = {"drifting features": [(e.created_at, float(len(e.drifting_features))) for e in evaluations]}
    th = latest.thresholds.get("psi_threshold")
    return "".join([
        '<div class="grid">',
        f'<div class="card">{lines_svg("Domain classifier AUC", scores, threshold=required, y_min=0.5)}</div>',
        f'<div class="card">{lines_svg("PSI per feature (top 6 now)", psi_series, threshold=th, y_min=0)}</div>',
        f'<div class="card">{lines_svg("Prediction PSI", pred, threshold=th, y_min=0)}</div>',
        f'<div class="card">{lines_svg("Drifting features", count, y_min=0)}</div>',
        "</div>",
    ])


def render_report(evaluations: Sequence[Evaluation], *, title: str | None = None) -> str:
    """The report of one model: the latest evaluation in detail, then drift over time."""
    if not evaluations:
        raise ValueError("render_report needs at least one evaluation")
    e = evaluations[-1]
    status = (f'<p class="alarm">ALARM: {_e("; ".join(e.reasons))}</p>' if e.alarm
              else '<p class="ok">No drift detected.</p>')
    domain = (f"{e.domain.auc:.3f} (drift at ≥ {e.domain.required:.3f}; {e.domain.folds}-fold CV, "
              f"{e.domain.ref_rows} + {e.domain.cur_rows} rows)" if e.domain else "not computed")
    notes = "".join(f"<li>{_e(n)}</li>" for n in [e.reference.note, e.current.note, *e.notes] if n)
    plots = [f'<div class="card">{bars_svg(f)}</div>'
             for f in sorted(e.features, key=lambda f: (not f.drifting, -f.psi))]
    prediction = f'<div class="card">{bars_svg(e.prediction)}</div>' if e.prediction else ""
    heading = title or f"Drift report: {e.model}"
    ident = f" #{e.id}" if e.id is not None else ""
    return "".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(heading)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(heading)}</h1>",
        f'<p class="muted">Latest evaluation{ident} of v{e.version} at {_e(_time(e.created_at))}; '
        f"{len(evaluations)} evaluation(s) in this report.</p>", status,
        "<table>",
        f"<tr><th>current</th><td>{_e(e.current.source)} · {e.current.rows} rows · version "
        f"{_e(e.current.data_version or '–')} · fingerprint {_e(e.current.fingerprint)}</td></tr>",
        f"<tr><th>reference</th><td>{_e(e.reference.source)} · {e.reference.rows} rows · version "
        f"{_e(e.reference.data_version or '–')} · fingerprint {_e(e.reference.fingerprint)}</td></tr>",
        f"<tr><th>drift score</th><td>{_e(domain)}</td></tr>",
        f"<tr><th>per-test level</th><td>{e.level:.3g} (alpha {e.thresholds.get('alpha')} split over the tests); "
        f"PSI gate {e.thresholds.get('psi_threshold')}</td></tr>",
        "</table>", f"<ul>{notes}</ul>" if notes else "",
        "<h2>Features</h2>", _features_table(e),
        f'<p class="muted"><span style="color:{REF_COLOR}">■</span> reference '
        f'<span style="color:{CUR_COLOR}">■</span> current (share of rows per bin)</p>',
        '<div class="grid">', *plots, "</div>",
        "<h2>Predictions</h2>", prediction or '<p class="muted">No predictions (no model pipeline).</p>',
        "<h2>Performance</h2>", _performance_table(e),
        "<h2>Drift over time</h2>", _over_time(evaluations),
        "</body></html>",
    ])
