"""Errors a user can act on. Each carries a message meant to be shown as it is, on one line."""

from __future__ import annotations

import errno
from collections.abc import Sequence

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})  # Windows' is ENOSPC too


class CogbrowserError(Exception):
    """Base for every error whose message is meant for the user, not for a traceback."""


class DatabaseUnavailable(CogbrowserError):
    """Neither the embedded PostgreSQL nor the configured server could be reached."""


class ImageFileRefused(CogbrowserError):
    """An image's row points where the server must not read (outside the managed storage, and not
    registered in place by an administrator): its file is never sent (HTTP 403)."""


class IngestError(CogbrowserError):
    """A file could not become a catalog image; the message says why."""


class NotFound(CogbrowserError):
    """A catalog object (image, collection) does not exist."""


class InvalidInput(CogbrowserError):
    """A value given by the user does not fit (bad id, bad date, bad number)."""


class ImageFileMissing(CogbrowserError):
    """Catalog images whose COG file is gone from disk: the request is sound, the data is not there
    (HTTP 410 Gone), which is no fault of the server's code (not a 500)."""

    def __init__(self, image_ids: Sequence[str]) -> None:
        self.image_ids = list(image_ids)
        names = ", ".join(repr(i) for i in self.image_ids)
        super().__init__(f"the file of image {names} is missing on the server" if len(self.image_ids) == 1
                         else f"the files of images {names} are missing on the server")


class StoreUnavailable(CogbrowserError):
    """The object store that keeps the COGs refused or could not be reached (the message names it
    and why); like an outage of the catalog, it passes."""


class DiskFull(CogbrowserError):
    """The data dir's disk has no room left (ENOSPC) for what was being written: HTTP 507."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, shortened: GDAL and PROJ messages can be long, and
    yajl's (ijson) add a picture of the place on further lines, its message sometimes in bytes."""
    message = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], bytes) else None
    text = (message.decode("utf-8", "replace") if message is not None else str(exc)).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."
