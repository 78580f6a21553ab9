"""The app's services as one typed object: what a view needs besides its request.

`create_app` builds one `Services` and installs it on the Flask app; views, callbacks and the
response path reach it with `services()` (inside a request or an app context). One object, typed,
instead of string-keyed look-ups in `app.extensions` and `app.config` spread over the adapters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app

from cogbrowser.basemap import Basemap
from cogbrowser.catalog.database import Database
from cogbrowser.catalog.files import image_file
from cogbrowser.catalog.records import ImageRecord
from cogbrowser.collection_overviews import CollectionOverviews
from cogbrowser.config import Settings
from cogbrowser.jobs import JobQueue
from cogbrowser.layers import ImageT, LayerCache, OnDisk, images_on_disk
from cogbrowser.web.cache import ResponseCache
from cogbrowser.web.sessions import Sessions
from cogbrowser.web.tokens import TokenChecker

EXTENSION = "cogbrowser"


@dataclass(frozen=True)
class Services:
    """Everything long-lived a request may use, made once per app."""

    settings: Settings
    db: Database
    layers: LayerCache  # layers by name, until the catalog changes
    tokens: TokenChecker  # which API tokens are valid
    internal_token: str  # the UI's own calls to the API; never leaves the process
    sessions: Sessions  # the pages' sign-in sessions (when reads need a token)
    cache: ResponseCache  # encoded pictures, shared by the server's threads
    jobs: JobQueue  # background work (uploads, large exports), in the catalog
    basemap: Basemap | None  # the user's own offline basemap (--basemap), if any
    overviews: CollectionOverviews  # what a map of a layer draws: a collection's overview at small scales
    heavy_callbacks: set[str] = field(default_factory=set)  # ids of page outputs that render or read large
    #                                               areas: their callbacks run in the heavy lane (lanes.py)

    def image_file(self, image: ImageRecord) -> Path | str:
        """The file of a catalog image; ImageFileRefused where its row points where the server must
        not read (catalog/files.py)."""
        return image_file(self.settings, image)

    def image_files(self, images: Iterable[ImageRecord]) -> list[Path | str]:
        """The files of catalog images, in their order: what drawing or reading them takes."""
        return [image_file(self.settings, image) for image in images]

    def images_on_disk(self, images: Iterable[ImageT], mosaic: bool) -> OnDisk[ImageT]:
        """The images whose file is there, and which are missing (layers.on_disk: ImageFileMissing
        for one image, or a mosaic with none left)."""
        return images_on_disk(self.settings, list(images), mosaic)


def install(app: Flask, context: Services) -> None:
    """Make `context` the services of `app`."""
    app.extensions[EXTENSION] = context


def mark_heavy_callbacks(app: Flask, *output_ids: str) -> None:
    """Say that the page callbacks writing `output_ids` render or read large areas: the server runs
    them in its heavy lane (web/lanes.py). A bare Flask app that only mounts the pages has no
    services, and no lanes to tell."""
    context: Services | None = app.extensions.get(EXTENSION)
    if context is not None:
        context.heavy_callbacks.update(output_ids)


def services() -> Services:
    """The services of the current app."""
    return services_of(current_app)


def services_of(app: Flask) -> Services:
    """The services of `app` (outside a request: the server's start and stop)."""
    context: Services = app.extensions[EXTENSION]
    return context
