"""DDL strings of the frames the aggregator tests build inline (silver rows, corporate
actions, daily bars), shared by the metric and the property tests."""

SILVER = (
    "symbol string, interval string, ts timestamp, trade_date date, open double, high double, "
    "low double, close double, adj_close double, volume bigint, source string, "
    "exchange_tz string, ingested_at timestamp"
)
ACTIONS = (
    "symbol string, kind string, ex_date date, ratio double, amount double, source string, "
    "exchange_tz string, ingested_at timestamp"
)
DAILY = (
    "symbol string, trade_date date, open_raw double, high_raw double, low_raw double, "
    "close_raw double, volume_raw bigint, split_factor double, open_adj double, "
    "high_adj double, low_adj double, close_adj double, volume_adj double, vwap double, "
    "bar_count int, updated_at timestamp, close_tr double"
)
