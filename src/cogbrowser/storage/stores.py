"""Writing, reading, signing and deleting objects in OpenStack Swift and S3, through their own
well-kept client libraries (python-swiftclient, boto3): never a request built by hand.

GDAL reads the same objects through /vsiswift/ and /vsis3/, configured by the same environment
variables the clients read, so one set of variables serves both (`configure_gdal` fills in what
GDAL names differently):

- Swift, auth v1: SWIFT_AUTH_V1_URL, SWIFT_USER, SWIFT_KEY (GDAL's names; ST_AUTH, ST_USER, ST_KEY
  are taken too); Keystone v3: OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME,
  OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME, OS_REGION_NAME; TempURLs are signed with
  SWIFT_TEMP_URL_KEY, or the account's Temp-URL-Key (set once, at random, if the account has none).
- S3 (AWS, MinIO, Ceph RGW, OVH, Swift's s3api...): AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
  AWS_REGION, and for a store other than AWS the endpoint as AWS_ENDPOINT_URL (http://host:port) or
  GDAL's AWS_S3_ENDPOINT (host:port) with AWS_HTTPS=NO for plain HTTP; AWS_VIRTUAL_HOSTING=FALSE
  for path-style addressing.

Writes are atomic: an object appears whole or not at all. Large files go in parts (S3 multipart
upload; Swift static large objects, whose manifest is written last), in parallel; a failed
upload removes what it wrote, and a crash leaves only parts that `sweep` removes later.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cogbrowser.errors import StoreUnavailable, first_line
from cogbrowser.storage.locations import StoreLocation

PART_BYTES = 64 * 2**20  # a part of a large upload: big enough that a 20 GB scene is 300 parts
PARALLEL_PARTS = 4  # parts uploaded at once: enough to fill a 10 Gbit/s link from one process
READ_CHUNK = 256 * 1024  # bytes a streamed read yields at a time


@dataclass(frozen=True)
class ObjectInfo:
    """What /cogs needs to answer for an object without reading it."""

    key: str
    size: int
    modified: datetime
    etag: str


class ObjectStore(ABC):
    """One container or bucket of a store: what ingest, delete, /cogs and the sweep do with objects."""

    def __init__(self, location: StoreLocation) -> None:
        self.location = location

    @property
    def container(self) -> str:
        return self.location.container

    @abstractmethod
    def put_file(self, source: Path, key: str) -> None:
        """Write the file as the object `key`, atomically (whole or not at all)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object (and a large object's parts); one already gone is not an error."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """The object's size, date and ETag, or None when there is no such object."""

    @abstractmethod
    def read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes start..end (inclusive) of the object, streamed."""

    @abstractmethod
    def signed_url(self, key: str, seconds: int) -> str:
        """A URL anyone may GET the object by for `seconds` (Swift TempURL, S3 presigned URL)."""

    @abstractmethod
    def listing(self, prefix: str) -> Iterator[ObjectInfo]:
        """The objects under `prefix` (their ETag may be empty)."""

    @abstractmethod
    def sweep_parts(self, older_than: float) -> int:
        """Remove the parts of uploads that never finished (a crash mid-upload), begun more than
        `older_than` seconds ago; returns how many."""

    def download(self, key: str, target: Path) -> None:
        """Copy the object into a local file (a job's input, on the worker that runs it)."""
        info = self.head(key)
        if info is None:
            raise StoreUnavailable(f"{self.location.url(key)} does not exist")
        with open(target, "wb") as out:
            if info.size:
                for block in self.read(key, 0, info.size - 1):
                    out.write(block)


class SwiftStore(ObjectStore):
    """A Swift container through python-swiftclient (one connection per thread: they are not
    thread-safe); large files as static large objects in `<container>_segments`."""

    def __init__(self, location: StoreLocation) -> None:
        super().__init__(location)
        self._local = threading.local()
        self._auth = _swift_auth()

    @property
    def segments(self) -> str:
        return f"{self.container}_segments"

    def _connection(self) -> Any:
        import swiftclient

        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = swiftclient.Connection(retries=3, timeout=60, **self._auth)
        return conn

    def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        import swiftclient

        try:
            return getattr(self._connection(), method)(*args, **kwargs)
        except swiftclient.ClientException as exc:
            if exc.http_status == 404 and method in ("head_object", "delete_object"):
                return None
            raise StoreUnavailable(f"Swift refused to {what} ({exc.http_status or ''} {first_line(exc)})") from exc
        except Exception as exc:  # connection refused, DNS, TLS: the store is unreachable
            raise StoreUnavailable(f"Swift cannot be reached to {what}: {first_line(exc)}") from exc

    def _ensure_containers(self) -> None:
        if not getattr(self, "_containers_made", False):
            for name in (self.container, self.segments):
                self._call(f"create container {name}", "put_container", name)
            self._containers_made = True

    def put_file(self, source: Path, key: str) -> None:
        from swiftclient.service import SwiftService, SwiftUploadObject

        self._ensure_containers()
        size = source.stat().st_size
        options = {"segment_size": PART_BYTES, "use_slo": True, "segment_container": self.segments,
                   "object_uu_threads": 1, "segment_threads": PARALLEL_PARTS, "leave_segments": False,
                   "checksum": True}
        with SwiftService(options=_swift_service_options(self._auth)) as service:
            results = list(service.upload(self.container, [SwiftUploadObject(str(source), object_name=key)],
                                          options=options if size > PART_BYTES else {"checksum": True}))
        failed = [r for r in results if not r.get("success") and r.get("action") != "create_container"]
        if failed:
            self.delete(key)
            error = failed[0].get("error")
            why = first_line(error) if error else "it gave no reason"
            raise StoreUnavailable(f"Swift could not store {self.location.url(key)}: {why}")

    def delete(self, key: str) -> None:
        info = self._call(f"look up {key}", "head_object", self.container, key)
        if info is None:
            return
        query = "multipart-manifest=delete" if info.get("x-static-large-object") == "True" else None
        self._call(f"delete {key}", "delete_object", self.container, key, query_string=query)

    def head(self, key: str) -> ObjectInfo | None:
        headers = self._call(f"look up {key}", "head_object", self.container, key)
        if headers is None:
            return None
        return ObjectInfo(key, int(headers["content-length"]), parsedate_to_datetime(headers["last-modified"]),
                          headers.get("etag", "").strip('"'))

    def read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        _, body = self._call(f"read {key}", "get_object", self.container, key, resp_chunk_size=READ_CHUNK,
                             headers={"Range": f"bytes={start}-{end}"})
        yield from body

    @cached_property
    def _temp_url_key(self) -> str:
        key = os.environ.get("SWIFT_TEMP_URL_KEY")
        if key:
            return key
        account = self._call("read the account's Temp-URL-Key", "head_account")
        key = account.get("x-account-meta-temp-url-key")
        if not key:
            key = secrets.token_hex(32)
            self._call("set the account's Temp-URL-Key", "post_account", {"X-Account-Meta-Temp-URL-Key": key})
        return key

    @cached_property
    def _storage_url(self) -> str:
        """The account's URL, as the store's auth gives it (asked once: it does not change)."""
        return str(self._call("sign in", "get_auth")[0])

    def signed_url(self, key: str, seconds: int) -> str:
        from swiftclient.utils import generate_temp_url

        parts = urlsplit(self._storage_url)
        path = f"{parts.path.rstrip('/')}/{self.container}/{key}"
        signed = generate_temp_url(path, seconds, self._temp_url_key, "GET")
        return f"{parts.scheme}://{parts.netloc}{signed}"

    def listing(self, prefix: str) -> Iterator[ObjectInfo]:
        return self._list(self.container, prefix)

    def _list(self, container: str, prefix: str) -> Iterator[ObjectInfo]:
        try:
            _, objects = self._call(f"list {container}", "get_container", container, prefix=prefix, full_listing=True)
        except StoreUnavailable:
            return
        for entry in objects:
            modified = datetime.fromisoformat(entry["last_modified"]).replace(tzinfo=timezone.utc)
            yield ObjectInfo(entry["name"], int(entry["bytes"]), modified, entry.get("hash", ""))

    def sweep_parts(self, older_than: float) -> int:
        """Segments in `<container>_segments` that no manifest of the container lists any more."""
        cutoff = time.time() - older_than
        in_use = {entry.key for entry in self.listing(self.location.prefix)}
        removed = 0
        for part in self._list(self.segments, self.location.prefix):
            owner = part.key.rsplit("/slo/", 1)[0]
            if owner not in in_use and part.modified.timestamp() < cutoff:
                self._call(f"delete {part.key}", "delete_object", self.segments, part.key)
                removed += 1
        return removed


class S3Store(ObjectStore):
    """An S3 bucket through boto3 (its client is thread-safe); large files by multipart upload,
    which boto3 aborts when it fails."""

    @cached_property
    def _client(self) -> Any:
        import boto3
        from botocore.config import Config

        path_style = os.environ.get("AWS_VIRTUAL_HOSTING", "TRUE").upper() in ("FALSE", "NO", "0")
        return boto3.client("s3", endpoint_url=s3_endpoint_url(), region_name=os.environ.get("AWS_REGION"),
                            config=Config(s3={"addressing_style": "path" if path_style else "auto"},
                                          retries={"max_attempts": 3, "mode": "standard"},
                                          max_pool_connections=32))

    def _call(self, what: str, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, method)(**kwargs)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404 and method == "head_object":
                return None
            raise StoreUnavailable(f"S3 refused to {what} ({status} {first_line(exc)})") from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"S3 cannot be reached to {what}: {first_line(exc)}") from exc

    def put_file(self, source: Path, key: str) -> None:
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError
        from s3transfer.exceptions import S3UploadFailedError

        config = TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES,
                                max_concurrency=PARALLEL_PARTS)
        try:
            self._client.upload_file(str(source), self.container, key, Config=config)
        except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
            raise StoreUnavailable(f"S3 could not store {self.location.url(key)}: {first_line(exc)}") from exc

    def delete(self, key: str) -> None:
        self._call(f"delete {key}", "delete_object", Bucket=self.container, Key=key)

    def head(self, key: str) -> ObjectInfo | None:
        answer = self._call(f"look up {key}", "head_object", Bucket=self.container, Key=key)
        if answer is None:
            return None
        return ObjectInfo(key, int(answer["ContentLength"]), answer["LastModified"], answer.get("ETag", "").strip('"'))

    def read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        answer = self._call(f"read {key}", "get_object", Bucket=self.container, Key=key, Range=f"bytes={start}-{end}")
        yield from answer["Body"].iter_chunks(READ_CHUNK)

    def signed_url(self, key: str, seconds: int) -> str:
        return str(self._client.generate_presigned_url("get_object", Params={"Bucket": self.container, "Key": key},
                                                       ExpiresIn=seconds))

    def listing(self, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.container, Prefix=prefix):
            for entry in page.get("Contents", []):
                yield ObjectInfo(entry["Key"], int(entry["Size"]), entry["LastModified"], entry.get("ETag", ""))

    def sweep_parts(self, older_than: float) -> int:
        """Multipart uploads begun long ago and never completed or aborted."""
        cutoff = time.time() - older_than
        answer = self._call("list unfinished uploads", "list_multipart_uploads", Bucket=self.container,
                            Prefix=self.location.prefix)
        removed = 0
        for upload in answer.get("Uploads", []):
            if upload["Initiated"].timestamp() < cutoff:
                self._call("abort an unfinished upload", "abort_multipart_upload", Bucket=self.container,
                           Key=upload["Key"], UploadId=upload["UploadId"])
                removed += 1
        return removed


_stores: dict[StoreLocation, ObjectStore] = {}
_stores_lock = threading.Lock()


def open_store(location: StoreLocation) -> ObjectStore:
    """The store of a location, one per process (its connections are reused)."""
    with _stores_lock:
        store = _stores.get(location)
        if store is None:
            configure_gdal()
            store = _stores[location] = SwiftStore(location) if location.scheme == "swift" else S3Store(location)
        return store


def s3_endpoint_url() -> str | None:
    """The S3 endpoint boto3 is given: AWS_ENDPOINT_URL, or GDAL's AWS_S3_ENDPOINT (+ AWS_HTTPS);
    None for AWS itself."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        return os.environ["AWS_ENDPOINT_URL"]
    host = os.environ.get("AWS_S3_ENDPOINT")
    if not host:
        return None
    if "://" in host:
        return host
    https = os.environ.get("AWS_HTTPS", "YES").upper() not in ("NO", "FALSE", "0")
    return f"{'https' if https else 'http'}://{host}"


def configure_gdal() -> None:
    """Give GDAL, in this process's environment, the variables it names differently from the
    clients: an S3 endpoint given as AWS_ENDPOINT_URL, Swift credentials given as ST_*."""
    url = os.environ.get("AWS_ENDPOINT_URL")
    if url and not os.environ.get("AWS_S3_ENDPOINT"):
        parts = urlsplit(url)
        os.environ["AWS_S3_ENDPOINT"] = parts.netloc
        os.environ["AWS_HTTPS"] = "YES" if parts.scheme == "https" else "NO"
    for gdal_name, client_name in (("SWIFT_AUTH_V1_URL", "ST_AUTH"), ("SWIFT_USER", "ST_USER"),
                                   ("SWIFT_KEY", "ST_KEY")):
        if os.environ.get(client_name) and not os.environ.get(gdal_name):
            os.environ[gdal_name] = os.environ[client_name]


def _swift_auth() -> dict[str, Any]:
    """python-swiftclient's Connection arguments from the environment GDAL reads too."""
    env = os.environ
    v1 = env.get("SWIFT_AUTH_V1_URL") or env.get("ST_AUTH")
    if v1:
        return {"authurl": v1, "user": env.get("SWIFT_USER") or env.get("ST_USER"),
                "key": env.get("SWIFT_KEY") or env.get("ST_KEY"), "auth_version": "1"}
    if env.get("OS_AUTH_URL"):
        options = {name: env[f"OS_{name.upper()}"] for name in (
            "project_name", "project_id", "user_domain_name", "project_domain_name", "region_name")
            if env.get(f"OS_{name.upper()}")}
        return {"authurl": env["OS_AUTH_URL"], "user": env.get("OS_USERNAME"), "key": env.get("OS_PASSWORD"),
                "auth_version": env.get("OS_IDENTITY_API_VERSION", "3"), "os_options": options}
    if env.get("SWIFT_STORAGE_URL") and env.get("SWIFT_AUTH_TOKEN"):
        return {"preauthurl": env["SWIFT_STORAGE_URL"], "preauthtoken": env["SWIFT_AUTH_TOKEN"]}
    raise StoreUnavailable("swift:// storage needs credentials: SWIFT_AUTH_V1_URL, SWIFT_USER and SWIFT_KEY (auth v1), "
                     "or OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME (Keystone v3)")


def _swift_service_options(auth: dict[str, Any]) -> dict[str, Any]:
    """The same credentials in SwiftService's option names."""
    if "preauthurl" in auth:
        return {"os_storage_url": auth["preauthurl"], "os_auth_token": auth["preauthtoken"]}
    options = {"auth": auth["authurl"], "user": auth["user"], "key": auth["key"],
               "auth_version": auth["auth_version"]}
    if auth["auth_version"] != "1":
        options.update({"os_auth_url": auth["authurl"], "os_username": auth["user"], "os_password": auth["key"],
                        **{f"os_{name}": value for name, value in auth.get("os_options", {}).items()}})
    return options
