"""The fake market API (tests/fakes/market_api.py) with a fixed added latency per request
and a body cache, run in its own process so its CPU does not compete with the ingestor
for the GIL.

The cache makes the server's own cost (generating the synthetic walk and the JSON)
vanish from the second time a window is asked for: the ``ingest`` scenario replays the
backfill's requests against a warm cache, so it measures the ingestor's HTTP path at
the given latency, not the fake server. Responses are byte-identical either way.

    python -m bench.latency_api --latency-ms 50 --bars-per-day 390   # prints the base URL
"""

from __future__ import annotations

import argparse
import socketserver
import sys
import threading
import time

from tests.fakes.market_api import FakeMarketApi


class LatencyApi(FakeMarketApi):
    def __init__(self, *, latency_s: float, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.latency_s = latency_s
        self._cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple] = {}
        self._cache_lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def respond(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        key = (path, tuple(sorted(params.items())))
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self.hits += 1
        if cached is None:
            cached = super().respond(path, params)
            with self._cache_lock:
                self.misses += 1
                if cached[0] == 200:
                    self._cache[key] = cached
        with self._lock:
            self.requests.clear()  # the request log is for tests; keep memory flat
        # The latency comes on top of the (cached or generated) answer, like a network
        # round trip: it never overlaps the server's own work.
        time.sleep(self.latency_s)
        return cached


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency_api", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bars-per-day", type=int, default=390)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    socketserver.TCPServer.request_queue_size = 128  # many concurrent clients
    api = LatencyApi(
        latency_s=args.latency_ms / 1000,
        seed=args.seed,
        bars_per_day=args.bars_per_day,
        port=args.port,
    )
    print(api.base_url, flush=True)
    try:
        api._server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        api._server.server_close()
        print(f"cache hits {api.hits} misses {api.misses}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
