"""Deleting images: their catalog rows (detections go with them) and their COG files, or neither.

The inverse of ingest, with the same promise: no row without its file, no file without its row.
Managed files are first moved aside into the data dir's tmp folder (a rename on the same volume),
then the rows are deleted in one transaction; after the commit the moved files are removed, and if
anything fails before it, they are moved back (and if the process dies before it, the start-up sweep
puts back the files whose rows are still there). Files referenced in place (`--in-place`) are the
user's and are never touched.

A managed COG in an object store cannot be moved aside cheaply, so each is looked up in the store
inside the transaction (a store that cannot be reached fails the deletion before anything changed),
and removed after the commit; one whose removal fails then (or whose process died) is an object
without a row, which the start-up sweep removes (`ingest.images.sweep_orphans`).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Connection, Database
from cogbrowser.catalog.files import image_file, image_source
from cogbrowser.config import Settings
from cogbrowser.errors import CogbrowserError, ImageFileRefused, StoreUnavailable
from cogbrowser.storage.stores import ObjectStore

log = logging.getLogger(__name__)

DELETING_PREFIX = "deleting-"  # files moved aside; a crash before the commit leaves them for sweep_orphans


class FileInUse(CogbrowserError):
    """A COG could not be moved (on Windows: a program has it open); nothing was deleted."""


def delete_images(db: Database, settings: Settings, image_ids: Sequence[str],
                  then: Callable[[Connection], object] | None = None) -> list[str]:
    """Delete the images (rows and managed files) in one transaction; `then` runs in the same
    transaction (e.g. deleting their collection). Returns the ids deleted."""
    moved: list[tuple[Path, Path]] = []
    objects: list[tuple[ObjectStore, str]] = []
    deleted: list[str] = []
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    try:
        with db.connection() as conn, conn.transaction():
            for image_id in image_ids:
                row = queries.delete_image(conn, image_id)
                if row is None:
                    continue
                deleted.append(row.id)
                if row.managed:
                    try:
                        source, found = image_source(settings, row)
                    except ImageFileRefused:  # a row pointed outside the storage: its target is not ours
                        continue
                    if found is not None:
                        found[0].head(found[1])  # StoreUnavailable now, before anything is deleted
                        objects.append(found)
                    elif isinstance(source, Path) and source.exists():
                        aside = settings.tmp_dir / f"{DELETING_PREFIX}{uuid.uuid4().hex}--{row.id}.tif"
                        try:
                            os.replace(source, aside)
                        except PermissionError as exc:
                            raise FileInUse(f"the file of image {image_id!r} is in use ({exc.strerror}); close "
                                            "the program that has it open and try again") from None
                        moved.append((source, aside))
            if then is not None:
                then(conn)
    except BaseException:
        for source, aside in reversed(moved):
            os.replace(aside, source)
        raise
    for _, aside in moved:
        aside.unlink(missing_ok=True)
    for store, key in objects:
        try:
            store.delete(key)
        except StoreUnavailable as exc:
            log.warning("%s stays in the store until the next sweep: %s", store.location.url(key), exc)
    return deleted


def restore_interrupted(db: Database, settings: Settings, leftover: Path) -> bool:
    """Put back a file moved aside by a deletion that never committed (its row still exists and
    its own file is missing); True if it was put back."""
    if not leftover.name.startswith(DELETING_PREFIX) or "--" not in leftover.stem:
        return False
    image_id = leftover.stem.split("--", 1)[1]
    with db.connection() as conn:
        row = queries.get_image(conn, image_id)
    if row is None or not row.managed:
        return False
    try:
        target = image_file(settings, row)
    except ImageFileRefused:
        return False
    if not isinstance(target, Path) or target.exists():
        return False
    os.replace(leftover, target)
    return True
