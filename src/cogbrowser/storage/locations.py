"""Where rasters live, written as the catalog keeps it: pure functions over strings, no network.

A catalog row's `path` is one of

- `cogs/<id>.tif`: a managed COG in the data dir (the local storage, the default);
- `swift://<container>/<key>` or `s3://<bucket>/<key>`: an object in a store, managed (written by
  ingest into the configured storage) or registered in place;
- an absolute file path, or an `http(s)://` URL: registered in place.

GDAL reads all of them through its own virtual file systems (`/vsiswift/`, `/vsis3/`,
`/vsicurl/`), which is what `gdal_path` gives; the raster core never sees a URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cogbrowser.errors import InvalidInput

STORE_SCHEMES = {"swift": "/vsiswift/", "s3": "/vsis3/"}
HTTP_SCHEMES = ("http", "https")
_CONTAINER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")  # Swift containers and S3 buckets alike
_CHECKSUM_PART = 12  # hex digits of the sha256 in a managed object's name
_MANAGED_NAME = re.compile(rf"([A-Za-z0-9._-]+)-[0-9a-f]{{{_CHECKSUM_PART}}}\.tif")


@dataclass(frozen=True)
class StoreLocation:
    """A container (Swift) or bucket (S3) and a key prefix: where managed COGs are written."""

    scheme: str  # "swift" | "s3"
    container: str
    prefix: str  # "" or ends with "/"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.container}/{self.prefix}"

    def url(self, key: str) -> str:
        """The catalog's `path` of the object `key` of this container."""
        return f"{self.scheme}://{self.container}/{key}"

    def managed_key(self, image_id: str, checksum: str) -> str:
        """The object name of a managed COG: its image id and the start of its checksum, so that a
        name never stands for two contents and every cache (GDAL's, a browser's) may keep it forever."""
        return f"{self.prefix}{image_id}-{checksum[:_CHECKSUM_PART]}.tif"

    def is_managed_key(self, key: str, image_id: str) -> bool:
        """Whether `key` is the name `managed_key` gives an image of this id (any checksum)."""
        return self.managed_image_id(key) == image_id

    def managed_image_id(self, key: str) -> str | None:
        """The image id in a name `managed_key` gave, or None for any other object."""
        if not key.startswith(self.prefix):
            return None
        found = _MANAGED_NAME.fullmatch(key[len(self.prefix):])
        return found.group(1) if found else None


def parse_storage(text: str | Path | None) -> StoreLocation | None:
    """`--storage`: None for the local data dir (empty, or a folder is not accepted here: the data
    dir holds local COGs), or the store location of `swift://container/prefix` / `s3://bucket/prefix`;
    InvalidInput names what is wrong."""
    if text is None or not str(text).strip():
        return None
    value = str(text).strip()
    parts = urlsplit(value)
    if parts.scheme not in STORE_SCHEMES:
        raise InvalidInput(f"storage {value!r} is not swift://container/prefix or s3://bucket/prefix (COGs kept on "
                           "this machine's disk go in the data dir: leave the storage unset)")
    if not _CONTAINER.match(parts.netloc):
        raise InvalidInput(f"storage {value!r} names no valid {'container' if parts.scheme == 'swift' else 'bucket'}")
    if parts.query or parts.fragment:
        raise InvalidInput(f"storage {value!r} has a query or fragment; give only the container and a prefix")
    prefix = parts.path.strip("/")
    return StoreLocation(parts.scheme, parts.netloc, f"{prefix}/" if prefix else "")


def split_object_url(url: str) -> tuple[str, str, str] | None:
    """(scheme, container, key) of a `swift://` or `s3://` URL with a key; None for anything else."""
    parts = urlsplit(url)
    key = parts.path.lstrip("/")
    if parts.scheme not in STORE_SCHEMES or not _CONTAINER.match(parts.netloc) or not key or parts.query:
        return None
    return parts.scheme, parts.netloc, key


def is_url(path: str) -> bool:
    """Whether a catalog path is an object or HTTP URL (not a file on this machine)."""
    return split_object_url(path) is not None or urlsplit(path).scheme in HTTP_SCHEMES


def gdal_path(path: str) -> str:
    """The name GDAL opens for an object or HTTP URL: /vsiswift/container/key, /vsis3/bucket/key,
    /vsicurl/https://... (ValueError for anything else)."""
    found = split_object_url(path)
    if found:
        scheme, container, key = found
        return f"{STORE_SCHEMES[scheme]}{container}/{key}"
    if urlsplit(path).scheme in HTTP_SCHEMES:
        return f"/vsicurl/{path}"
    raise ValueError(f"{path!r} is not an object or HTTP URL")
