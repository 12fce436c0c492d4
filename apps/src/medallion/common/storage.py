"""Object store abstraction over the lake root: a local directory or an S3 bucket.

Keys are ``/``-separated and relative to ``LAKE_ROOT`` (``bronze/source=yahoo/...``).
Both backends expose the same small interface, so the ingestor (and the silver job,
which lists bronze) never branch on where the lake lives.

Bronze is write-once: :meth:`ObjectStore.put_if_absent` never replaces an object.
Mutable bookkeeping (ingestor watermarks) uses :meth:`ObjectStore.put`. Table leases
(:mod:`medallion.common.lease`) use compare-and-swap: :meth:`ObjectStore.get_tagged`
and :meth:`ObjectStore.replace_if` (an S3 conditional write with ``If-Match``).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from medallion.common.config import S3_ATTEMPTS, Config

logger = logging.getLogger(__name__)

_TMP_PREFIX = ".tmp-"


class ObjectNotFound(KeyError):
    """``get`` of a key that does not exist."""


@runtime_checkable
class ObjectStore(Protocol):
    def put_if_absent(self, key: str, data: bytes, content_type: str = "application/json") -> bool:
        """Write ``data`` at ``key`` unless it exists; True if this call wrote it."""
        ...

    def put(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        """Write or replace ``key`` atomically (readers see the old or the new bytes)."""
        ...

    def get(self, key: str) -> bytes:
        """Bytes at ``key``; raises :class:`ObjectNotFound`."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix`` (plain string prefix, as in S3), sorted."""
        ...

    def uri(self, key: str) -> str:
        """Where Spark reads ``key``: an ``s3a://`` URI or an absolute local path."""
        ...

    def get_tagged(self, key: str) -> tuple[bytes, str]:
        """Bytes at ``key`` and a tag that changes whenever the object is replaced."""
        ...

    def replace_if(self, key: str, data: bytes, tag: str) -> str | None:
        """Replace ``key`` only if its tag is still ``tag``: the new tag, or None."""
        ...


def _check_key(key: str) -> str:
    # Keys come from symbols and dates; refuse anything that could escape the root.
    if not key or key.startswith("/") or "\\" in key or ".." in key.split("/"):
        raise ValueError(f"invalid object key {key!r}")
    return key


class LocalStore:
    """Lake in a local directory; atomic writes via a temp file in the same folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def _tmp(self, path: Path, data: bytes) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return tmp

    def put_if_absent(self, key: str, data: bytes, content_type: str = "application/json") -> bool:
        path = self._path(key)
        if path.exists():
            return False
        tmp = self._tmp(path, data)
        try:
            # link() fails if the target exists: an atomic create-if-absent, so two
            # concurrent writers never both "win" and nobody sees a half-written file.
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def put(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        path = self._path(key)
        os.replace(self._tmp(path, data), path)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        # Walk only the deepest directory the prefix names, then filter by string prefix.
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / base if base else self.root
        if not start.is_dir():
            return []
        keys = []
        for dirpath, _dirs, files in os.walk(start):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in files:
                if name.startswith(_TMP_PREFIX):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def get_tagged(self, key: str) -> tuple[bytes, str]:
        data = self.get(key)
        return data, hashlib.sha256(data).hexdigest()

    def replace_if(self, key: str, data: bytes, tag: str) -> str | None:
        path = self._path(key)
        lock = path.parent / f"{_TMP_PREFIX}lock-{path.name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        # flock serialises compare-and-swap between processes on this file system.
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                current = path.read_bytes()
            except FileNotFoundError:
                return None
            if hashlib.sha256(current).hexdigest() != tag:
                return None
            os.replace(self._tmp(path, data), path)
            return hashlib.sha256(data).hexdigest()


class S3Store:
    """Lake in an S3 bucket (MinIO in the cluster and in tests), path-style addressing."""

    def __init__(self, client: Any, bucket: str, prefix: str = "", page_size: int = 1000) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.page_size = page_size

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    @staticmethod
    def _code(exc: Exception) -> str:
        return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))

    def put_if_absent(self, key: str, data: bytes, content_type: str = "application/json") -> bool:
        from botocore.exceptions import ClientError

        if self.exists(key):  # cheap HEAD first: skip the upload for known objects
            return False
        try:
            # If-None-Match closes the race between HEAD and PUT on servers that
            # support conditional writes (AWS S3, MinIO).
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                ContentType=content_type,
                IfNoneMatch="*",
            )
            return True
        except ClientError as exc:
            code = self._code(exc)
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            if code in ("NotImplemented", "501"):
                logger.warning("S3 server lacks conditional PUT; falling back to HEAD+PUT")
                self.put(key, data, content_type)
                return True
            raise

    def put(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
        )

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if self._code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise ObjectNotFound(key) from None
            raise
        return resp["Body"].read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if self._code(exc) in ("NoSuchKey", "404", "NotFound"):
                return False
            raise

    def list(self, prefix: str) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        pages = paginator.paginate(
            Bucket=self.bucket,
            Prefix=self.prefix + prefix,
            PaginationConfig={"PageSize": self.page_size},
        )
        for page in pages:
            keys.extend(obj["Key"][len(self.prefix) :] for obj in page.get("Contents", []))
        return sorted(keys)

    def uri(self, key: str) -> str:
        return f"s3a://{self.bucket}/{self._key(key)}"

    def get_tagged(self, key: str) -> tuple[bytes, str]:
        from botocore.exceptions import ClientError

        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if self._code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise ObjectNotFound(key) from None
            raise
        return resp["Body"].read(), str(resp["ETag"])

    def replace_if(self, key: str, data: bytes, tag: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            resp = self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                ContentType="application/json",
                IfMatch=tag,
            )
            return str(resp["ETag"])
        except ClientError as exc:
            lost = ("PreconditionFailed", "412", "ConditionalRequestConflict", "NoSuchKey", "404")
            if self._code(exc) in lost:
                return None
            raise


def s3_client(config: Config) -> Any:
    """A boto3 S3 client for the configured endpoint (path-style: MinIO has no vhosts)."""
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client(
        "s3",
        endpoint_url=config.s3_endpoint_url,
        aws_access_key_id=config.aws_access_key_id,
        aws_secret_access_key=config.aws_secret_access_key,
        region_name=config.aws_region,
        config=BotoConfig(
            s3={"addressing_style": "path"},
            # standard mode: 503 SlowDown and dropped connections are retried with backoff
            retries={"max_attempts": S3_ATTEMPTS, "mode": "standard"},
            connect_timeout=min(5.0, config.s3_timeout_s),
            read_timeout=config.s3_timeout_s,
            max_pool_connections=max(10, config.http.concurrency * 2),
        ),
    )


def store_from_config(config: Config) -> ObjectStore:
    """The lake's object store: S3 when ``LAKE_ROOT`` is ``s3://``, else a local dir."""
    if config.is_s3:
        root = config.lake_root[len("s3://") :]
        bucket, _, prefix = root.partition("/")
        return S3Store(s3_client(config), bucket, prefix)
    return LocalStore(config.lake_root)
