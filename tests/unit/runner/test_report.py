from datetime import date, timedelta

from medallion.runner.report import render_chart, render_html, write_report


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


def test_the_page_shows_the_latest_metrics_and_the_quarantine():
    rows = gold("AAPL", 25, 100.0) + gold("MSFT", 25, 300.0)
    page = render_html(SUMMARY, rows, render_chart(rows))
    assert "<td>AAPL</td><td>2026-01-25</td><td>124.00</td>" in page
    assert "<td>MSFT</td><td>2026-01-25</td><td>324.00</td>" in page
    assert "<td>non_positive_price</td><td>2</td>" in page
    assert "data:image/png;base64,iVBOR" in page
    assert "$" not in page  # every template placeholder was filled


def test_the_report_is_written_with_no_gold_rows(tmp_path):
    page = write_report(tmp_path / "r", SUMMARY, [])
    assert page.exists() and (tmp_path / "r" / "gold.png").stat().st_size > 0
    assert "$metric_rows" not in page.read_text()
