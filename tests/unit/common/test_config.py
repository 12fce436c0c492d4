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
    from medallion.common.spark import DRIVER_JVM_OPTIONS, driver_java_options

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


def test_the_driver_compiles_with_c1_only_and_a_code_cache_spark_does_not_fill(tmp_path):
    """Short runs on few cores: C1 only (see DRIVER_JVM_OPTIONS). Its default 48 MiB code
    cache fills with Spark's generated classes and then the JIT stops compiling."""
    from medallion.common.spark import JVM_OPTIONS, spark_conf

    conf = spark_conf(load_config({"LAKE_ROOT": str(tmp_path)}), "t")
    driver = conf["spark.driver.extraJavaOptions"].split()
    assert "-XX:TieredStopAtLevel=1" in driver
    cache = next(o for o in driver if o.startswith("-XX:ReservedCodeCacheSize="))
    assert cache.endswith("m") and int(cache.split("=")[1][:-1]) >= 240
    # executors of a cluster run long tasks: they keep the JVM's default compilers
    assert conf["spark.executor.extraJavaOptions"] == JVM_OPTIONS


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
        assert any("delta-spark" in e for e in entries[len(spark_own):])
        assert conf["spark.executor.extraClassPath"] == conf["spark.driver.extraClassPath"]
        assert "spark.jars" not in conf

