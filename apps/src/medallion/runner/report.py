"""The report a person looks at after `make run`: a chart of gold per symbol, and a page.

Inputs are plain rows (dicts), so this module needs no Spark and is unit-testable.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import string
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CHART_LINES = (
    ("close_adj", "close (split-adjusted)", 1.6),
    ("sma_20", "SMA 20", 1.0),
    ("sma_50", "SMA 50", 1.0),
    ("sma_200", "SMA 200", 1.0),
)


def _by_symbol(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["symbol"]].append(row)
    return {s: sorted(r, key=lambda x: x["trade_date"]) for s, r in sorted(grouped.items())}


def render_chart(gold_rows: Iterable[Mapping[str, Any]]) -> bytes:
    """PNG: per symbol, price with its moving averages above and drawdown below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = _by_symbol(gold_rows)
    n = max(len(series), 1)
    fig, axes = plt.subplots(
        2,
        n,
        figsize=(4.2 * n, 5.2),
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1]},
        sharex="col",
    )
    for col, (symbol, rows) in enumerate(series.items()):
        dates = [r["trade_date"] for r in rows]
        top, bottom = axes[0][col], axes[1][col]
        for key, label, width in CHART_LINES:
            values = [r.get(key) for r in rows]
            if any(v is not None for v in values):
                top.plot(
                    dates,
                    [float("nan") if v is None else v for v in values],
                    label=label,
                    linewidth=width,
                )
        top.set_title(symbol)
        top.legend(fontsize=7, loc="upper left")
        drawdown = [
            float("nan") if r.get("drawdown") is None else 100 * r["drawdown"] for r in rows
        ]
        bottom.fill_between(dates, drawdown, 0, color="tab:red", alpha=0.4)
        bottom.set_ylabel("drawdown %", fontsize=8)
        bottom.tick_params(axis="x", labelrotation=45, labelsize=7)
    if not series:
        axes[0][0].text(0.5, 0.5, "no gold rows", ha="center", va="center")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{100 * value:.2f}%" if pct else f"{value:,.2f}"
    return html.escape(str(value))


def render_html(
    summary: Mapping[str, Any], gold_rows: Iterable[Mapping[str, Any]], png: bytes
) -> str:
    """A self-contained page: the summary, the latest metrics per symbol, and the chart."""
    latest = [rows[-1] for rows in _by_symbol(gold_rows).values()]
    metric_rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{cell}</td>"
            for cell in (
                html.escape(r["symbol"]),
                _fmt(r["trade_date"]),
                _fmt(r.get("close_adj")),
                _fmt(r.get("vwap")),
                _fmt(r.get("return_simple"), pct=True),
                _fmt(r.get("sma_20")),
                _fmt(r.get("sma_200")),
                _fmt(r.get("volatility_20d"), pct=True),
                _fmt(r.get("drawdown"), pct=True),
                _fmt(r.get("high_52w")),
                _fmt(r.get("low_52w")),
            )
        )
        + "</tr>"
        for r in latest
    )
    stage_rows = "".join(
        f"<tr><td>{html.escape(s['stage'])}</td><td>{s['seconds']:.1f} s</td>"
        f"<td><code>{html.escape(json.dumps(s.get('counts', {}), default=str))}</code></td></tr>"
        for s in summary.get("stages", [])
    )
    quarantine = summary.get("quarantine_by_rule", {})
    quarantine_rows = (
        "".join(
            f"<tr><td>{html.escape(rule)}</td><td>{count}</td></tr>"
            for rule, count in quarantine.items()
        )
        or "<tr><td colspan=2>none</td></tr>"
    )
    layers = summary.get("layers", {})
    layer_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in layers.items()
    )
    page = string.Template((Path(__file__).parent / "report_template.html").read_text())
    return page.substitute(
        interval=html.escape(str(summary.get("interval"))),
        source=html.escape(str(summary.get("source"))),
        bar_interval=html.escape(str(summary.get("bar_interval"))),
        lake_root=html.escape(str(summary.get("lake_root"))),
        metric_rows=metric_rows,
        image=base64.b64encode(png).decode(),
        layer_rows=layer_rows,
        quarantine_rows=quarantine_rows,
        stage_rows=stage_rows,
    )


def write_report(
    directory: Path, summary: Mapping[str, Any], gold_rows: list[Mapping[str, Any]]
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    png = render_chart(gold_rows)
    (directory / "gold.png").write_bytes(png)
    (directory / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    page = directory / "report.html"
    page.write_text(render_html(summary, gold_rows, png))
    logger.info("report written to %s", page)
    return page
