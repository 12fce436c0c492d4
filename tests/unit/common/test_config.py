import os
from pathlib import Path

import pytest

from medallion.common.config import DEFAULT_WATCHLIST, ConfigError, load_config

S3_ENV = {
    "LAKE_ROOT": "s3://lake",
    "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    "AWS_ACCESS_KEY_ID": "id",
    "AWS_SECRET_ACCESS_KEY": "secret",
}


def test_defaults_are_a_local_lake_and_the_live_source(tmp_path):
    config = load_config({"LAKE_ROOT": str(tmp_path)})
    assert not config.is_s3
    assert config.lake_path("silver", "prices") == f"{tmp_path}/silver/prices"
    assert config.market_source == "yahoo"
    assert config.watchlist == DEFAULT_WATCHLIST
    assert config.bar_interval == "1d"


def test_s3_root_maps_to_s3a_for_spark():
    config = load_config(S3_ENV)
    assert config.is_s3 and config.bucket == "lake"
    assert config.lake_path("gold", "daily") == "s3a://lake/gold/daily"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({**S3_ENV, "S3_ENDPOINT_URL": ""}, "S3_ENDPOINT_URL"),
        ({**S3_ENV, "AWS_SECRET_ACCESS_KEY": ""}, "AWS_SECRET_ACCESS_KEY"),
        ({"LAKE_ROOT": "s3a://lake"}, "LAKE_ROOT"),
        ({"LAKE_ROOT": "hdfs://x/y"}, "LAKE_ROOT"),
        ({"MARKET_SOURCE": "bloomberg"}, "MARKET_SOURCE"),
        ({"MARKET_SOURCE": "alphavantage"}, "ALPHAVANTAGE_API_KEY"),
        ({"BAR_INTERVAL": "7m"}, "BAR_INTERVAL"),
        ({"WATCHLIST": " , "}, "WATCHLIST"),
        ({"WATCHLIST": "AAPL,DROP TABLE"}, "WATCHLIST"),
        ({"HTTP_TIMEOUT_S": "soon"}, "HTTP_TIMEOUT_S"),
        ({"HTTP_CONCURRENCY": "0"}, "HTTP_CONCURRENCY"),
        ({"ANALYTICS_DSN": "mysql://x"}, "ANALYTICS_DSN"),
        ({"SPARK_CDS_ARCHIVE": "spark.jsa"}, "SPARK_CDS_ARCHIVE"),
        ({"SPARK_CDS_ARCHIVE": "/no/such/folder/spark.jsa"}, "SPARK_CDS_ARCHIVE"),
    ],
)
def test_a_bad_setting_fails_with_its_name(env, named):
    with pytest.raises(ConfigError, match=named):
        load_config(env)


def test_watchlist_is_normalised_and_deduplicated():
    config = load_config({"WATCHLIST": "aapl, msft ,AAPL,7203.T"})
    assert config.watchlist == ("AAPL", "MSFT", "7203.T")


def test_publish_without_a_dsn_says_how_to_get_one():
    with pytest.raises(ConfigError, match="ANALYTICS_DSN"):
        load_config({}).require_analytics_dsn()


def test_secrets_never_appear_in_the_repr():
    config = load_config({**S3_ENV, "ANALYTICS_DSN": "postgresql://u:pw@h/db"})
    assert "secret" not in repr(config) and "pw@" not in repr(config)


def test_a_cds_archive_is_written_when_missing_and_used_when_present(tmp_path):
    from medallion.common.spark import driver_java_options, driver_jvm_options

    DRIVER_JVM_OPTIONS = driver_jvm_options(short_run=False)

    archive = tmp_path / "spark.jsa"
    config = load_config({"LAKE_ROOT": str(tmp_path), "SPARK_CDS_ARCHIVE": str(archive)})
    assert driver_java_options(config).startswith(DRIVER_JVM_OPTIONS)
    assert f"-XX:ArchiveClassesAtExit={archive}" in driver_java_options(config)
    archive.write_bytes(b"archive")
    mapped = driver_java_options(config)
    assert mapped.startswith(f"{DRIVER_JVM_OPTIONS} -XX:SharedArchiveFile={archive} ")
    assert "ArchiveClassesAtExit" not in mapped
    # a mismatched archive's one warning line goes to stderr, not to the stage's stdout
    assert mapped.endswith("-Xlog:cds+dynamic=off -Xlog:cds+dynamic=warning:stderr")
    assert driver_java_options(load_config({"LAKE_ROOT": str(tmp_path)})) == DRIVER_JVM_OPTIONS


def test_a_short_run_s_driver_compiles_with_c1_only_and_a_long_run_s_with_c2(tmp_path):
    """C1 alone: a short run ~20% faster, a 10M-bar one twice as slow (SHORT_RUN_JVM_OPTIONS).
    The size comes from the interval, the watchlist and the bar interval."""
    from datetime import date

    from medallion.common.intervals import Interval
    from medallion.common.spark import JVM_OPTIONS, SHORT_RUN_MAX_BARS, expected_bars, spark_conf

    def config(symbols: int, bar: str):
        watchlist = ",".join(f"S{i}" for i in range(symbols))
        return load_config(
            {"LAKE_ROOT": str(tmp_path), "WATCHLIST": watchlist, "BAR_INTERVAL": bar}
        )

    # the oracle: symbols x calendar days x bars of a 390-minute session
    make_run = Interval(date(2025, 4, 27), date(2026, 6, 1))  # 400 days
    assert expected_bars(config(5, "1d"), make_run) == 5 * 400
    day = Interval(date(2026, 3, 2), date(2026, 3, 3))
    assert expected_bars(config(128, "1m"), day) == 128 * 390
    assert expected_bars(config(10, "1h"), day) == 10 * 7  # 6.5 hours: 7 hourly bars
    backfill = Interval(date(2025, 3, 3), date(2025, 3, 29))  # the bench's 1M-bar backfill
    assert expected_bars(config(128, "1m"), backfill) == 128 * 26 * 390 > SHORT_RUN_MAX_BARS

    short = spark_conf(config(5, "1d"), "t", short_run=True)["spark.driver.extraJavaOptions"]
    assert "-XX:TieredStopAtLevel=1" in short.split()
    cache = next(o for o in short.split() if o.startswith("-XX:ReservedCodeCacheSize="))
    assert cache.endswith("m") and int(cache.split("=")[1][:-1]) >= 240  # C1 fills 48 MiB
    long = spark_conf(config(5, "1d"), "t")
    assert long["spark.driver.extraJavaOptions"] == JVM_OPTIONS  # tiered: C1, then C2
    # executors of a cluster run long tasks: they keep the JVM's default compilers
    assert long["spark.executor.extraJavaOptions"] == JVM_OPTIONS
    assert spark_conf(config(5, "1d"), "t", short_run=True)["spark.executor.extraJavaOptions"] == (
        JVM_OPTIONS
    )


def test_spark_s_jars_then_the_closure_are_the_class_path_in_name_order(tmp_path, monkeypatch):
    """The archive records the class path in order: Spark's jars listed first by name make
    it independent of the order a file system lists SPARK_HOME/jars in. The closure follows
    (Spark's classes win where both hold one) and is not in spark.jars, which Spark would
    copy into every application's temporary folder."""
    import pyspark

    from medallion.common.spark import jar_paths, spark_conf

    monkeypatch.delenv("SPARK_HOME", raising=False)
    jars = Path(pyspark.__file__).parent / "jars"
    spark_own = [str(jars / n) for n in sorted(os.listdir(jars)) if n.endswith(".jar")]
    for env in ({}, {"SPARK_CDS_ARCHIVE": str(tmp_path / "spark.jsa")}):
        config = load_config({"LAKE_ROOT": str(tmp_path), **env})
        conf = spark_conf(config, "t")
        entries = conf["spark.driver.extraClassPath"].split(":")
        assert entries == spark_own + sorted(jar_paths(config.jars_dir)), env
        assert any("delta-spark" in e for e in entries[len(spark_own) :])
        assert conf["spark.executor.extraClassPath"] == conf["spark.driver.extraClassPath"]
        assert "spark.jars" not in conf
