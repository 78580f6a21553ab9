"""Cursors for keyset pagination: "the page after the image (sort value, id) of this search".

A cursor is opaque to clients (base64url of JSON) and carries a fingerprint of the search it came
from, so it cannot be replayed against other filters (that would silently skip or repeat rows). The
REST image search and the STAC item searches use the same cursors.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from cogbrowser.web.problems import ApiError


def search_fingerprint(query: BaseModel, exclude: set[str]) -> str:
    """A short hash of the search's parameters, less the paging ones in `exclude`."""
    fields = query.model_dump(exclude=exclude)
    return hashlib.blake2b(json.dumps(fields, sort_keys=True, default=str).encode(), digest_size=8).hexdigest()


def write_cursor(fingerprint: str, sortby: str, value: Any, last_id: str) -> str:
    """The cursor of the page after the row (value of the sort key, id)."""
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    raw = json.dumps([fingerprint, sortby, value, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_cursor(token: str | None, fingerprint: str, sortby: str, parameter: str = "cursor") -> tuple[Any, str] | None:
    """(sort value, id) of a cursor of this search; None without one; 400 naming `parameter` for a
    cursor that is malformed or belongs to another search."""
    if token is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        found, sort, value, last_id = json.loads(raw)
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
        if not isinstance(last_id, str) or not isinstance(value, (int, float, str, datetime, type(None))):
            raise ValueError
    except (ValueError, TypeError, KeyError):
        raise ApiError(400, "Bad Request", f"{parameter}: not a cursor of this API (take it from a `next` link)",
                       errors=[{"field": parameter, "message": "malformed"}]) from None
    if found != fingerprint or sort != sortby:
        raise ApiError(400, "Bad Request", f"{parameter}: it belongs to another search; a cursor continues the "
                       "search it came from (same filters and sort)",
                       errors=[{"field": parameter, "message": "from another search"}])
    return value, last_id
