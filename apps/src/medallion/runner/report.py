"""The report a person looks at after `make run`: a chart of gold per symbol, and a page.

Inputs are plain rows (dicts), so this module needs no Spark and is unit-testable.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import string
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import timedelta
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


GRID_COLUMNS = 3  # panels per row in gold.png; the page's grid wraps to the window instead
SHORT_SERIES = 30  # a series with fewer days gets markers, so one or two days stay visible
PANEL_INCHES = (4.4, 3.6)


def _pad(first: Any, last: Any) -> timedelta:
    return max(timedelta(days=1), (last - first) * 0.03)


def _draw_symbol(fig: Any, spec: Any, symbol: str, rows: list[Mapping[str, Any]]) -> None:
    """One panel: price and moving averages above, drawdown below, axes fitted to the data."""
    import matplotlib.dates as mdates

    sub = spec.subgridspec(2, 1, height_ratios=[3, 1], hspace=0.08)
    top = fig.add_subplot(sub[0])
    bottom = fig.add_subplot(sub[1], sharex=top)
    dates = [r["trade_date"] for r in rows]
    marker = "o" if len(rows) < SHORT_SERIES else None
    for key, label, width in CHART_LINES:
        values = [r.get(key) for r in rows]
        if any(v is not None for v in values):
            top.plot(
                dates,
                [float("nan") if v is None else v for v in values],
                label=label,
                linewidth=width,
                marker=marker,
                markersize=3,
            )
    top.set_title(symbol)
    top.legend(fontsize=7, loc="upper left")
    top.tick_params(axis="x", labelbottom=False)
    drawdown = [float("nan") if r.get("drawdown") is None else 100 * r["drawdown"] for r in rows]
    bottom.fill_between(dates, drawdown, 0, color="tab:red", alpha=0.4)
    bottom.plot(dates, drawdown, color="tab:red", linewidth=0.8, marker=marker, markersize=3)
    bottom.set_ylabel("drawdown %", fontsize=8)
    bottom.tick_params(axis="both", labelsize=7)
    # the data's own range: matplotlib widens a single date to years on its own
    top.set_xlim(dates[0] - _pad(dates[0], dates[-1]), dates[-1] + _pad(dates[0], dates[-1]))
    locator = mdates.AutoDateLocator(minticks=2, maxticks=5)
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def chart_figure(gold_rows: Iterable[Mapping[str, Any]], columns: int = GRID_COLUMNS) -> Any:
    """A matplotlib Figure: one panel per symbol, at most `columns` panels per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = _by_symbol(gold_rows)
    cols = max(1, min(len(series), columns))
    grid_rows = max(1, math.ceil(len(series) / cols))
    fig = plt.figure(
        figsize=(PANEL_INCHES[0] * cols, PANEL_INCHES[1] * grid_rows), layout="constrained"
    )
    outer = fig.add_gridspec(grid_rows, cols)
    for index, (symbol, rows) in enumerate(series.items()):
        _draw_symbol(fig, outer[index // cols, index % cols], symbol, rows)
    if not series:
        fig.add_subplot(outer[0, 0]).text(0.5, 0.5, "no gold rows", ha="center", va="center")
    return fig


def render_chart(gold_rows: Iterable[Mapping[str, Any]], columns: int = GRID_COLUMNS) -> bytes:
    """PNG of :func:`chart_figure`."""
    import matplotlib.pyplot as plt

    fig = chart_figure(gold_rows, columns)
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


def render_html(summary: Mapping[str, Any], gold_rows: Iterable[Mapping[str, Any]]) -> str:
    """A self-contained page: the summary, the latest metrics, one chart panel per symbol.

    The panels sit in a CSS grid that wraps to the window's width.
    """
    series = _by_symbol(gold_rows)
    latest = [rows[-1] for rows in series.values()]
    panels = (
        "".join(
            f'<figure><img alt="{html.escape(symbol)}: close, moving averages and drawdown" '
            f'src="data:image/png;base64,{base64.b64encode(render_chart(rows)).decode()}">'
            "</figure>"
            for symbol, rows in series.items()
        )
        or "<p>no gold rows</p>"
    )
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
        panels=panels,
        layer_rows=layer_rows,
        quarantine_rows=quarantine_rows,
        stage_rows=stage_rows,
    )


def write_report(
    directory: Path, summary: Mapping[str, Any], gold_rows: list[Mapping[str, Any]]
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "gold.png").write_bytes(render_chart(gold_rows))
    (directory / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    page = directory / "report.html"
    page.write_text(render_html(summary, gold_rows))
    logger.info("report written to %s", page)
    return page
