"""Idempotent Metabase provisioning for data-stack-k8s.

Run by the ``metabase-provision`` Job after every Argo CD sync. Each step
checks before it acts, so running it again changes nothing:

1. wait until ``GET /api/health`` answers ``{"status": "ok"}``;
2. initial setup with the admin from Secret ``metabase-admin`` if
   ``GET /api/session/properties`` says ``has-user-setup`` is false,
   otherwise log in as that admin;
3. the ``analytics`` PostgreSQL connection (read-only role, Secret
   ``metabase-analytics``) unless a database with that name exists;
4. a collection, native-SQL questions on ``public.gold_daily`` and a
   dashboard holding them, each looked up by name first.

Standard library only (the Job runs on a plain python image). The logic lives
in small functions that take a ``Client`` so a test can drive them against a
fake HTTP server.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

logger = logging.getLogger("metabase-provision")

DATABASE_NAME = "analytics"
COLLECTION_NAME = "Medallion"
DASHBOARD_NAME = "Gold daily metrics"
GOLD_TABLE = "public.gold_daily"
DEFAULT_SYMBOL = "AAPL"


class ProvisionError(RuntimeError):
    """A Metabase call failed in a way that retrying this run will not fix."""


@dataclass(frozen=True)
class AnalyticsDb:
    host: str
    port: int
    dbname: str
    user: str
    password: str


@dataclass(frozen=True)
class Settings:
    url: str
    admin_email: str
    admin_password: str
    analytics: AnalyticsDb
    site_name: str = "data-stack-k8s"
    health_timeout_s: float = 900.0


def read_secret_dir(path: str | Path) -> dict[str, str]:
    """Read a mounted Secret: one file per key (Kubernetes' ``..data`` links skipped)."""
    values = {}
    for item in Path(path).iterdir():
        if item.name.startswith(".") or not item.is_file():
            continue
        values[item.name] = item.read_text(encoding="utf-8").strip()
    return values


def _require(values: dict[str, str], key: str, where: str) -> str:
    if not values.get(key):
        raise ProvisionError(f"missing key {key!r} in {where}")
    return values[key]


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    url = env.get("METABASE_URL", "http://metabase.metabase.svc.cluster.local:3000").rstrip("/")
    admin_dir = env.get("METABASE_ADMIN_DIR", "/etc/metabase/secrets/admin")
    analytics_dir = env.get("METABASE_ANALYTICS_DIR", "/etc/metabase/secrets/analytics")
    admin = read_secret_dir(admin_dir)
    analytics = read_secret_dir(analytics_dir)
    return Settings(
        url=url,
        admin_email=_require(admin, "email", admin_dir),
        admin_password=_require(admin, "password", admin_dir),
        analytics=AnalyticsDb(
            host=_require(analytics, "host", analytics_dir),
            port=int(_require(analytics, "port", analytics_dir)),
            dbname=_require(analytics, "dbname", analytics_dir),
            user=_require(analytics, "user", analytics_dir),
            password=_require(analytics, "password", analytics_dir),
        ),
        health_timeout_s=float(env.get("METABASE_HEALTH_TIMEOUT_S", "900")),
    )


class HttpError(ProvisionError):
    def __init__(self, method: str, path: str, status: int, body: str):
        super().__init__(f"{method} {path} -> HTTP {status}: {body[:300]}")
        self.status = status


class Client:
    """Minimal JSON client for the Metabase REST API."""

    def __init__(self, base_url: str, timeout_s: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.session_id: str | None = None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.session_id:
            req.add_header("X-Metabase-Session", self.session_id)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            raise HttpError(method, path, exc.code, exc.read().decode("utf-8", "replace")) from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)


def _items(payload: Any) -> list[dict[str, Any]]:
    """Metabase list endpoints return either a list or ``{"data": [...]}``."""
    if isinstance(payload, dict):
        payload = payload.get("data", [])
    return [item for item in payload or [] if isinstance(item, dict)]


def wait_for_health(
    client: Client,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    interval_s: float = 5.0,
) -> None:
    deadline = clock() + timeout_s
    while True:
        try:
            health = client.get("/api/health")
            if isinstance(health, dict) and health.get("status") == "ok":
                return
            logger.info("metabase not healthy yet: %s", health)
        except (ProvisionError, OSError) as exc:
            logger.info("metabase not reachable yet: %s", exc)
        if clock() >= deadline:
            raise ProvisionError(f"Metabase not healthy after {timeout_s:.0f}s")
        sleep(interval_s)


def ensure_admin(client: Client, settings: Settings) -> str:
    """Run initial setup once, otherwise log in. Returns 'created' or 'existing'."""
    props = client.get("/api/session/properties")
    if not props.get("has-user-setup"):
        token = props.get("setup-token")
        if not token:
            raise ProvisionError("Metabase is not set up but offers no setup-token")
        result = client.post(
            "/api/setup",
            {
                "token": token,
                "user": {
                    "email": settings.admin_email,
                    "password": settings.admin_password,
                    "first_name": "Admin",
                    "last_name": "data-stack",
                    "site_name": settings.site_name,
                },
                "prefs": {"site_name": settings.site_name, "site_locale": "en", "allow_tracking": False},
            },
        )
        if isinstance(result, dict) and result.get("id"):
            client.session_id = result["id"]
        else:
            login(client, settings)
        return "created"
    login(client, settings)
    return "existing"


def login(client: Client, settings: Settings) -> None:
    session = client.post("/api/session", {"username": settings.admin_email, "password": settings.admin_password})
    if not isinstance(session, dict) or not session.get("id"):
        raise ProvisionError("login returned no session id")
    client.session_id = session["id"]


def ensure_database(client: Client, settings: Settings) -> tuple[int, str]:
    for db in _items(client.get("/api/database")):
        if db.get("name") == DATABASE_NAME:
            return int(db["id"]), "existing"
    a = settings.analytics
    created = client.post(
        "/api/database",
        {
            "engine": "postgres",
            "name": DATABASE_NAME,
            "details": {
                "host": a.host,
                "port": a.port,
                "dbname": a.dbname,
                "user": a.user,
                "password": a.password,
                "ssl": False,
                "schema-filters-type": "inclusion",
                "schema-filters-patterns": "public",
            },
            "is_full_sync": True,
        },
    )
    return int(created["id"]), "created"


def ensure_collection(client: Client) -> tuple[int, str]:
    for coll in _items(client.get("/api/collection")):
        if (
            coll.get("name") == COLLECTION_NAME
            and not coll.get("archived")
            and not coll.get("personal_owner_id")
            and isinstance(coll.get("id"), int)
        ):
            return coll["id"], "existing"
    created = client.post(
        "/api/collection",
        {"name": COLLECTION_NAME, "description": "Gold layer of the medallion pipeline (provisioned)"},
    )
    return int(created["id"]), "created"


def collection_items(client: Client, collection_id: int, model: str) -> dict[str, int]:
    items = _items(client.get(f"/api/collection/{collection_id}/items?models={model}"))
    return {item["name"]: int(item["id"]) for item in items if item.get("model", model) == model}


def _native(db_id: int, sql: str, template_tags: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "native",
        "database": db_id,
        "native": {"query": sql, "template-tags": template_tags or {}},
    }


SYMBOL_TAG = {
    "symbol": {
        "id": "6b1f1d0e-9d0a-4f2e-8a57-2f4f0c1a5e01",
        "name": "symbol",
        "display-name": "Symbol",
        "type": "text",
        "default": DEFAULT_SYMBOL,
    }
}


def question_specs(db_id: int) -> list[dict[str, Any]]:
    """The dashboard's questions; names are their identity (looked up before creating)."""
    return [
        {
            "name": "Close and moving averages",
            "description": "Daily split-adjusted close with 20/50/200-day simple moving averages for one symbol.",
            "display": "line",
            "dataset_query": _native(
                db_id,
                f"SELECT trade_date, close_adj, sma_20, sma_50, sma_200\nFROM {GOLD_TABLE}\n"
                "WHERE symbol = {{symbol}}\nORDER BY trade_date",
                SYMBOL_TAG,
            ),
            "visualization_settings": {
                "graph.dimensions": ["trade_date"],
                "graph.metrics": ["close_adj", "sma_20", "sma_50", "sma_200"],
            },
            "uses_symbol": True,
        },
        {
            "name": "20-day volatility by symbol",
            "description": "Rolling 20-day volatility of daily returns.",
            "display": "line",
            "dataset_query": _native(
                db_id,
                f"SELECT trade_date, symbol, volatility_20d\nFROM {GOLD_TABLE}\n"
                "WHERE volatility_20d IS NOT NULL\nORDER BY trade_date, symbol",
            ),
            "visualization_settings": {
                "graph.dimensions": ["trade_date", "symbol"],
                "graph.metrics": ["volatility_20d"],
            },
        },
        {
            "name": "Drawdown by symbol",
            "description": "Distance from the running maximum split-adjusted close.",
            "display": "area",
            "dataset_query": _native(
                db_id,
                f"SELECT trade_date, symbol, drawdown\nFROM {GOLD_TABLE}\nORDER BY trade_date, symbol",
            ),
            "visualization_settings": {
                "graph.dimensions": ["trade_date", "symbol"],
                "graph.metrics": ["drawdown"],
            },
        },
        {
            "name": "Latest day by symbol",
            "description": "Most recent trading day per symbol with return and 52-week range.",
            "display": "table",
            "dataset_query": _native(
                db_id,
                "SELECT DISTINCT ON (symbol) symbol, trade_date, close_raw, close_adj, return_simple,\n"
                "       return_total, volume_raw, vwap,\n"
                f"       high_52w, low_52w, drawdown\nFROM {GOLD_TABLE}\nORDER BY symbol, trade_date DESC",
            ),
            "visualization_settings": {},
        },
    ]


def ensure_cards(client: Client, db_id: int, collection_id: int) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """Create missing questions. Returns [(card_id, spec)] in dashboard order and how many were created."""
    existing = collection_items(client, collection_id, "card")
    cards, created = [], 0
    for spec in question_specs(db_id):
        card_id = existing.get(spec["name"])
        if card_id is None:
            body = {k: v for k, v in spec.items() if k != "uses_symbol"}
            body["collection_id"] = collection_id
            card_id = int(client.post("/api/card", body)["id"])
            created += 1
        else:
            # a card made by an earlier version may query renamed gold columns
            current = client.get(f"/api/card/{card_id}")
            if current.get("dataset_query") != spec["dataset_query"]:
                client.put(
                    f"/api/card/{card_id}",
                    {
                        "dataset_query": spec["dataset_query"],
                        "visualization_settings": spec["visualization_settings"],
                        "description": spec["description"],
                    },
                )
        cards.append((card_id, spec))
    return cards, created


DASHBOARD_PARAMETER = {
    "id": "symbol",
    "name": "Symbol",
    "slug": "symbol",
    "type": "string/=",
    "sectionId": "string",
    "default": [DEFAULT_SYMBOL],
}


def dashcard_layout(cards: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Two cards per row on Metabase's 24-column grid; new dashcards get negative ids."""
    layout = []
    for index, (card_id, spec) in enumerate(cards):
        mappings = []
        if spec.get("uses_symbol"):
            mappings = [
                {
                    "parameter_id": DASHBOARD_PARAMETER["id"],
                    "card_id": card_id,
                    "target": ["variable", ["template-tag", "symbol"]],
                }
            ]
        layout.append(
            {
                "id": -(index + 1),
                "card_id": card_id,
                "row": (index // 2) * 8,
                "col": (index % 2) * 12,
                "size_x": 12,
                "size_y": 8,
                "parameter_mappings": mappings,
                "visualization_settings": {},
            }
        )
    return layout


def ensure_dashboard(
    client: Client, collection_id: int, cards: list[tuple[int, dict[str, Any]]]
) -> tuple[int, str]:
    existing = collection_items(client, collection_id, "dashboard")
    dashboard_id = existing.get(DASHBOARD_NAME)
    status = "existing"
    if dashboard_id is None:
        created = client.post(
            "/api/dashboard",
            {
                "name": DASHBOARD_NAME,
                "description": f"Gold layer ({GOLD_TABLE}): prices, moving averages, volatility, drawdown.",
                "collection_id": collection_id,
            },
        )
        dashboard_id = int(created["id"])
        status = "created"
    dashboard = client.get(f"/api/dashboard/{dashboard_id}")
    current = dashboard.get("dashcards") or dashboard.get("ordered_cards") or []
    present = {dc.get("card_id") for dc in current}
    if all(card_id in present for card_id, _ in cards):
        return dashboard_id, status
    # Something is missing (new dashboard, or a card was removed by hand):
    # lay out the provisioned cards again, keeping any cards a user added.
    wanted = dashcard_layout(cards)
    wanted_ids = {dc["card_id"] for dc in wanted}
    offset = max((dc["row"] + dc["size_y"] for dc in wanted), default=0)
    kept = []
    for dc in current:
        if dc.get("card_id") in wanted_ids:
            continue
        kept.append(
            {
                key: dc[key]
                for key in ("id", "card_id", "col", "size_x", "size_y", "parameter_mappings", "visualization_settings")
                if key in dc
            }
            | {"row": offset + int(dc.get("row", 0))}
        )
    client.put(
        f"/api/dashboard/{dashboard_id}",
        {"dashcards": wanted + kept, "parameters": [DASHBOARD_PARAMETER]},
    )
    return dashboard_id, "updated" if status == "existing" else status


def provision(client: Client, settings: Settings, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    wait_for_health(client, settings.health_timeout_s, sleep=sleep)
    summary: dict[str, Any] = {"admin": ensure_admin(client, settings)}
    db_id, summary["database"] = ensure_database(client, settings)
    collection_id, summary["collection"] = ensure_collection(client)
    cards, summary["cards_created"] = ensure_cards(client, db_id, collection_id)
    dashboard_id, summary["dashboard"] = ensure_dashboard(client, collection_id, cards)
    summary["dashboard_id"] = dashboard_id
    return summary


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = load_settings()
        summary = provision(Client(settings.url), settings)
    except (ProvisionError, OSError, KeyError, ValueError) as exc:
        logger.error("provisioning failed: %s", exc)
        return 1
    print(json.dumps({"stage": "metabase-provision", **summary}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
