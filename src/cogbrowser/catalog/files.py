"""Where an image's file is, and whether the server may read it: checked each time a file is
opened for a request, not only when its row was written.

A row is data: whoever could write to the catalog (a leaked password, an external server shared
with others) could point an image at /etc/shadow and have /cogs send it. So:

- a managed image (ingested, uploaded, the demo's) is `DATA_DIR/cogs/<id>.tif` and nothing else:
  its row must say exactly that path, and the file, links resolved, must lie in that folder;
- a managed image in an object store (`--storage swift://...` or `s3://...`) is an object of that
  container, under its prefix, named after its id (storage/locations.py): a row pointing at any
  other object (another container of the same account, say) is refused;
- an image registered in place (`cogbrowser ingest --in-place`, which only whoever holds the data
  dir runs) carries a seal: an HMAC of its id and path under the key in DATA_DIR/image-seal.key,
  readable by the data dir's owner only. A row made without the key, or pointed elsewhere later,
  has no valid seal and its file is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row

from cogbrowser.config import Settings
from cogbrowser.errors import ImageFileRefused
from cogbrowser.storage.locations import StoreLocation, gdal_path, is_url, split_object_url
from cogbrowser.storage.stores import ObjectStore, open_store

log = logging.getLogger(__name__)

SEAL_KEY_NAME = "image-seal.key"
_keys: dict[Path, bytes] = {}
_keys_lock = threading.Lock()


class StoredImage(Protocol):
    """What deciding on an image's file takes from its row."""

    @property
    def id(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def managed(self) -> bool: ...
    @property
    def in_place_seal(self) -> str | None: ...


def managed_path(image_id: str) -> str:
    """The `path` of a managed image's row: its COG in DATA_DIR/cogs, named after its id."""
    return f"cogs/{image_id}.tif"


def image_file(settings: Settings, image: StoredImage) -> Path | str:
    """The file of a catalog image (a Path), or the GDAL name of its object (/vsiswift/...,
    /vsis3/..., /vsicurl/...); ImageFileRefused if the row points where the server must not read
    (outside the managed storage without an administrator's seal)."""
    if image.managed and is_url(image.path):
        if _in_managed_store(settings.storage, image):
            return gdal_path(image.path)
        return _refuse(image, "it lies outside the managed storage (is this server's --storage the one it was "
                              "ingested into?)")
    if image.managed:
        path = settings.cog_dir / f"{image.id}.tif"
        if image.path == managed_path(image.id) and _within(path, settings.cog_dir):
            return path
        return _refuse(image, "it lies outside the managed storage")
    if image.in_place_seal and hmac.compare_digest(image.in_place_seal, in_place_seal(settings, image.id, image.path,
                                                                                   create=False)):
        return gdal_path(image.path) if is_url(image.path) else Path(image.path)
    return _refuse(image, "it was not registered in place by an administrator")


def image_source(settings: Settings, image: StoredImage) -> tuple[Path | str, tuple[ObjectStore, str] | None]:
    """`image_file`'s answer for an image (ImageFileRefused as there), with the store and key of an
    image kept as a Swift or S3 object (None for a file or an HTTP URL): one check for both."""
    name = image_file(settings, image)
    found = split_object_url(image.path) if isinstance(name, str) else None
    if found is None:
        return name, None
    scheme, container, key = found
    managed = settings.storage if image.managed else None
    return name, (open_store(managed or StoreLocation(scheme, container, "")), key)


def _in_managed_store(storage: StoreLocation | None, image: StoredImage) -> bool:
    found = split_object_url(image.path)
    return (storage is not None and found is not None and found[:2] == (storage.scheme, storage.container)
            and storage.is_managed_key(found[2], image.id))


def in_place_seal(settings: Settings, image_id: str, path: str, *, create: bool = True) -> str:
    """The seal of an image registered in place at `path` (the key is made on first use); "" when
    there is no key and `create` is false (then no seal is valid)."""
    key = _key(settings.data_dir / SEAL_KEY_NAME, create)
    if not key:
        return ""
    return hmac.new(key, f"{image_id}\0{path}".encode(), hashlib.sha256).hexdigest()


def seal_registered_in_place(conn: psycopg.Connection[Any], settings: Settings) -> list[str]:
    """Seal the images registered in place before seals existed (run once, at that migration): those
    whose file still has the sha256 they were registered with. A row pointed elsewhere meanwhile
    would need the checksum of a file its author could not read; it stays unsealed, and refused."""
    sealed = []
    rows = conn.cursor(row_factory=dict_row).execute(
        "SELECT id, path, checksum FROM images WHERE NOT managed AND in_place_seal IS NULL").fetchall()
    for row in rows:
        try:
            unchanged = sha256_file(Path(row["path"])) == row["checksum"]
        except OSError:
            unchanged = False
        if not unchanged:
            log.warning("image %r (registered in place at %r) is left unsealed: its file is not the one registered",
                        row["id"], row["path"])
            continue
        conn.execute("UPDATE images SET in_place_seal = %s WHERE id = %s",
                     (in_place_seal(settings, row["id"], row["path"]), row["id"]))
        sealed.append(row["id"])
    return sealed


def sha256_file(path: Path, chunk: int = 4 << 20) -> str:
    """The checksum the catalog keeps of a file (ingest's, and the seal's check at the upgrade)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _within(path: Path, folder: Path) -> bool:
    """Whether `path`, a name directly in `folder`, is a file there and not a link out of it: only
    a link needs resolving (one lstat, 2 µs, where resolving both took 21 µs on every map)."""
    try:
        if path.parent == folder and not path.is_symlink():
            return True
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


def _refuse(image: StoredImage, why: str) -> Path:
    log.warning("refused to read the file of image %r at %r: %s (its catalog row was changed outside cogbrowser?)",
                image.id, image.path, why)
    raise ImageFileRefused(f"the file of image {image.id!r} is not served: {why}")


def _key(path: Path, create: bool) -> bytes:
    with _keys_lock:
        if path in _keys:
            return _keys[path]
        try:
            key = bytes.fromhex(path.read_text(encoding="ascii").strip())
        except FileNotFoundError:
            if not create:
                return b""
            key = _create_key(path)
        except (OSError, ValueError):
            log.warning("the seal key %s cannot be read: no image registered in place is served", path)
            return b""
        _keys[path] = key
        return key


def _create_key(path: Path) -> bytes:
    """A new random key, in a file only its owner may read; the file of another process that made
    one at the same moment wins."""
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    with os.fdopen(handle, "w", encoding="ascii") as out:
        out.write(key.hex() + "\n")
    return key
