"""Which server a failure names (the message of exit code 3)."""

from __future__ import annotations

import psycopg
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from medallion.common.config import load_config
from medallion.common.outage import server_of

S3 = {
    "LAKE_ROOT": "s3://lake",
    "S3_ENDPOINT_URL": "http://127.0.0.1:9999",
    "AWS_ACCESS_KEY_ID": "k",
    "AWS_SECRET_ACCESS_KEY": "s",
    "ANALYTICS_DSN": "postgresql://analytics:secret@db.example:5433/analytics",
}


def test_postgres_failure_names_host_port_and_database_but_not_the_password():
    name = server_of(psycopg.OperationalError("server closed the connection"), load_config(S3))
    assert name == "PostgreSQL at db.example:5433/analytics"


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9999/lake"),
        ClientError({"Error": {"Code": "SlowDown"}}, "PutObject"),
    ],
)
def test_s3_failures_name_the_endpoint(exc):
    assert server_of(exc, load_config(S3)) == "S3 server at http://127.0.0.1:9999 (bucket lake)"


def test_a_wrapped_failure_is_found_through_its_cause():
    try:
        try:
            raise psycopg.OperationalError("connection refused")
        except psycopg.OperationalError as inner:
            raise RuntimeError("publish failed") from inner
    except RuntimeError as outer:
        assert server_of(outer, load_config(S3)).startswith("PostgreSQL at")


def test_other_errors_are_not_blamed_on_a_server(tmp_path):
    assert server_of(ValueError("bad row"), load_config(S3)) is None
    assert server_of(ClientError({"Error": {"Code": "AccessDenied"}}, "Get"), load_config(S3)) is None
    local = load_config({"LAKE_ROOT": str(tmp_path)})
    assert server_of(EndpointConnectionError(endpoint_url="x"), local) is None
