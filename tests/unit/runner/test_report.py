import struct
from datetime import date, timedelta

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pytest

from medallion.runner.report import chart_figure, render_chart, render_html, write_report


def gold(symbol, days, start_close):
    rows = []
    for i in range(days):
        close = start_close + i
        rows.append(
            {
                "symbol": symbol,
                "trade_date": date(2026, 1, 1) + timedelta(days=i),
                "close_adj": close,
                "vwap": close - 0.5,
                "return_simple": 0.01,
                "sma_20": close - 1 if i >= 19 else None,
                "sma_50": None,
                "sma_200": None,
                "volatility_20d": None,
                "drawdown": -0.02,
                "high_52w": close,
                "low_52w": start_close,
            }
        )
    return rows


SUMMARY = {
    "interval": "[2026-01-01, 2026-02-01)",
    "source": "synthetic",
    "bar_interval": "1d",
    "lake_root": "/tmp/lake",
    "layers": {"silver prices": 50},
    "quarantine_by_rule": {"non_positive_price": 2},
    "stages": [{"stage": "ingest", "seconds": 1.5, "counts": {"objects_written": 2}}],
}


def test_the_chart_is_a_png():
    png = render_chart(gold("AAPL", 25, 100.0) + gold("MSFT", 25, 300.0))
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000


def png_size(png: bytes) -> tuple[int, int]:
    return struct.unpack(">II", png[16:24])


def test_eight_symbols_wrap_into_a_grid():
    """Eight symbols: three panels per row, three rows (not one 3,700 px wide strip)."""
    rows = [r for i in range(8) for r in gold(f"S{i}", 40, 100.0 + i)]
    width, height = png_size(render_chart(rows))
    one_width, one_height = png_size(render_chart(gold("S0", 40, 100.0)))
    assert width == pytest.approx(3 * one_width, rel=0.02)
    assert height == pytest.approx(3 * one_height, rel=0.02)
    fig = chart_figure(rows)
    tops = [ax for ax in fig.axes if ax.get_title()]
    assert len(tops) == 8
    columns = sorted({round(ax.get_position().x0, 3) for ax in tops})
    assert len(columns) == 3
    plt.close(fig)


@pytest.mark.parametrize("days", [1, 2, 5])
def test_a_short_series_is_drawn_with_markers_on_its_own_dates(days):
    fig = chart_figure(gold("AAPL", days, 100.0))
    top, bottom = fig.axes
    close = next(line for line in top.get_lines() if line.get_label() == "close (split-adjusted)")
    assert close.get_marker() == "o"
    assert all(line.get_marker() == "o" for line in bottom.get_lines())
    first, last = date(2026, 1, 1), date(2026, 1, days)
    low, high = (mdates.num2date(x).date() for x in top.get_xlim())
    assert low < first and high > last  # the points are inside, not on the frame
    assert (high - low).days <= days + 3  # days, not years
    plt.close(fig)


def test_a_long_series_is_drawn_as_lines_scaled_to_its_values():
    fig = chart_figure(gold("AAPL", 120, 100.0))
    top = fig.axes[0]
    assert all(line.get_marker() in ("None", None, "") for line in top.get_lines())
    low, high = top.get_ylim()
    assert 90 < low < 100 and 219 < high < 235  # closes run 100 .. 219
    span = (mdates.num2date(top.get_xlim()[1]) - mdates.num2date(top.get_xlim()[0])).days
    assert 119 <= span <= 130
    plt.close(fig)


def test_the_page_shows_the_latest_metrics_and_the_quarantine():
    rows = gold("AAPL", 25, 100.0) + gold("MSFT", 25, 300.0)
    page = render_html(SUMMARY, rows)
    assert "<td>AAPL</td><td>2026-01-25</td><td>124.00</td>" in page
    assert "<td>MSFT</td><td>2026-01-25</td><td>324.00</td>" in page
    assert "<td>non_positive_price</td><td>2</td>" in page
    assert page.count('<figure><img alt="') == 2  # one panel per symbol, in the wrapping grid
    assert 'class="panels"' in page and "data:image/png;base64,iVBOR" in page
    assert "$" not in page  # every template placeholder was filled


def test_the_report_is_written_with_no_gold_rows(tmp_path):
    page = write_report(tmp_path / "r", SUMMARY, [])
    assert page.exists() and (tmp_path / "r" / "gold.png").stat().st_size > 0
    assert "$metric_rows" not in page.read_text()
