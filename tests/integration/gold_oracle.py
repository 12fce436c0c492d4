"""An independent oracle for gold: plain Python over the bronze JSON, nothing shared with
the aggregator (no import from ``medallion``), written from the README's data contract.

Input: ``(key, body text, sidecar text)`` per bronze data object, as stored. Output: one
dict per (symbol, trade_date) with every gold column.

Only what the fixture needs of silver is re-implemented: Yahoo chart payloads of 1d
bars with a zone name, a payload whose arrays differ in length is ignored whole, and
the newest fetch of a bar (or of a corporate action) wins.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo


def _fetched(meta: dict) -> datetime:
    return datetime.fromisoformat(meta["fetched_at"].replace("Z", "+00:00"))


def _local_day(epoch: int, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(int(epoch), zone).date()


def parse(objects: list[tuple[str, str, str]]):
    """-> (bars, actions). bars: {(symbol, day): bar}; actions: {(symbol, kind, day): a}."""
    bars: dict[tuple[str, date], dict] = {}
    actions: dict[tuple[str, str, date], dict] = {}
    for key, body_text, meta_text in objects:
        meta = json.loads(meta_text)
        body = json.loads(body_text)
        result = body["chart"]["result"][0]
        symbol = meta["symbol"].upper()
        zone = ZoneInfo(result["meta"]["exchangeTimezoneName"])
        fetched = _fetched(meta)
        stamps = result["timestamp"]
        quote = result["indicators"]["quote"][0]
        columns = [stamps] + [quote[k] for k in ("open", "high", "low", "close", "volume")]
        columns += [a["adjclose"] for a in result["indicators"].get("adjclose", [])]
        if len({len(c) for c in columns}) != 1:
            continue  # quarantined whole
        rank = (fetched, key)
        for i, stamp in enumerate(stamps):
            day = _local_day(stamp, zone)
            bar = {
                "open": float(quote["open"][i]),
                "high": float(quote["high"][i]),
                "low": float(quote["low"][i]),
                "close": float(quote["close"][i]),
                "volume": int(quote["volume"][i]),
                "fetched": fetched,
                "fetch_day": fetched.astimezone(zone).date(),
                "rank": (*rank, i),
            }
            old = bars.get((symbol, day))
            if old is None or bar["rank"] > old["rank"]:
                bars[(symbol, day)] = bar
        events = result.get("events") or {}
        for kind, entries in (("split", events.get("splits") or {}),
                              ("dividend", events.get("dividends") or {})):
            for i, event in enumerate(entries.values()):
                day = _local_day(event["date"], zone)
                action = {
                    "ratio": (event["numerator"] / event["denominator"]) if kind == "split"
                    else None,
                    "amount": event.get("amount"),
                    "fetch_day": fetched.astimezone(zone).date(),
                    "rank": (*rank, i),
                }
                old = actions.get((symbol, kind, day))
                if old is None or action["rank"] > old["rank"]:
                    actions[(symbol, kind, day)] = action
    return bars, actions


def _prod(values) -> float:
    out = 1.0
    for v in values:
        out *= v
    return out


def gold(objects: list[tuple[str, str, str]]) -> dict[tuple[str, date], dict]:
    bars, actions = parse(objects)
    splits = defaultdict(list)  # symbol -> [(ex_day, ratio)]
    dividends = defaultdict(list)  # symbol -> [(ex_day, amount, fetch_day)]
    for (symbol, kind, day), a in actions.items():
        if kind == "split":
            splits[symbol].append((day, a["ratio"]))
        else:
            dividends[symbol].append((day, a["amount"], a["fetch_day"]))

    def later_splits(symbol: str, after: date) -> float:
        return _prod(r for d, r in splits[symbol] if d > after)

    out: dict[tuple[str, date], dict] = {}
    by_symbol = defaultdict(list)
    for (symbol, day), bar in bars.items():
        by_symbol[symbol].append((day, bar))
    for symbol, rows in by_symbol.items():
        rows.sort(key=lambda r: r[0])
        series = []
        for day, bar in rows:
            # the provider had applied every split up to its fetch day; the rest is ours
            as_of = max(day, bar["fetch_day"])
            divide = later_splits(symbol, as_of)
            carried = _prod(r for d, r in splits[symbol] if day < d <= as_of)
            adj = {k: bar[k] / divide for k in ("open", "high", "low", "close")}
            volume_adj = bar["volume"] * divide
            typical = (adj["high"] + adj["low"] + adj["close"]) / 3
            series.append({
                "symbol": symbol,
                "trade_date": day,
                "open_raw": bar["open"] * carried,
                "high_raw": bar["high"] * carried,
                "low_raw": bar["low"] * carried,
                "close_raw": bar["close"] * carried,
                "volume_raw": round(bar["volume"] / carried),
                "split_factor": divide * carried,
                "open_adj": adj["open"],
                "high_adj": adj["high"],
                "low_adj": adj["low"],
                "close_adj": adj["close"],
                "volume_adj": volume_adj,
                "vwap": typical if volume_adj > 0 else None,
                "bar_count": 1,
                "updated_at": bar["fetched"],
            })
        # total return: each dividend scales every earlier day by 1 - D_adj / close before
        factors = []
        for ex_day, amount, fetch_day in dividends[symbol]:
            before = [r for r in series if r["trade_date"] < ex_day]
            if not before:
                continue
            amount_adj = amount / later_splits(symbol, max(ex_day, fetch_day))
            factor = 1 - amount_adj / before[-1]["close_adj"]
            if factor > 0:
                factors.append((ex_day, factor))
        closes, logs = [], []
        running_max = -math.inf
        for i, r in enumerate(series):
            r["close_tr"] = r["close_adj"] * _prod(f for d, f in factors if d > r["trade_date"])
            prev = series[i - 1] if i else None
            r["return_simple"] = r["close_adj"] / prev["close_adj"] - 1 if prev else None
            r["return_log"] = math.log(r["close_adj"] / prev["close_adj"]) if prev else None
            r["return_total"] = r["close_tr"] / prev["close_tr"] - 1 if prev else None
            closes.append(r["close_adj"])
            if r["return_log"] is not None:
                logs.append(r["return_log"])
            for n in (20, 50, 200):
                r[f"sma_{n}"] = sum(closes[-n:]) / n if len(closes) >= n else None
            window = [x["return_log"] for x in series[max(0, i - 19): i + 1]]
            r["volatility_20d"] = (
                statistics.stdev(window) * math.sqrt(252)
                if len(window) == 20 and None not in window else None
            )
            running_max = max(running_max, r["close_adj"])
            r["drawdown"] = r["close_adj"] / running_max - 1
            year = series[max(0, i - 251): i + 1]
            r["high_52w"] = max(x["high_adj"] for x in year)
            r["low_52w"] = min(x["low_adj"] for x in year)
            out[(symbol, r["trade_date"])] = r
    return out
