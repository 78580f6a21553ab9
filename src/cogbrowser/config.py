"""Settings from CLI flags and COGBROWSER_* environment variables, resolved once into one value."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from cogbrowser.errors import InvalidInput
from cogbrowser.storage.locations import StoreLocation, parse_storage

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
DEFAULT_MAX_IMAGE_SIZE = 4096  # largest WIDTH/HEIGHT of a WMS GetMap or an export, in pixels
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1000**3  # 20 GB
DEFAULT_RENDER_BUDGET = 1_000_000_000  # expression nodes x output pixels of one render (docs/architecture.md)
DEFAULT_RENDER_DEADLINE = 20.0  # seconds a render may run before it is stopped with 503
DEFAULT_MAX_CLIENT_CONNECTIONS = 32  # open connections from one address (a browser opens 6); 0: no cap
DEFAULT_HEAVY_THREADS = 1  # big renders, exports, statistics, time series at once (web/lanes.py)
DEFAULT_HEAVY_QUEUE = 2  # ... and how many more may wait for them; beyond: 503 + Retry-After
# What one file may declare before any work starts (ingest's pre-check): a Sentinel-2 scene is
# 10980 x 10980 x 13 bands; a file declaring far more (200000 x 200000 in 1.2 MB) is an attack or a mistake.
DEFAULT_MAX_INGEST_PIXELS = 2**32  # width x height: a 65536 x 65536 mosaic
DEFAULT_MAX_INGEST_BANDS = 1000  # hyperspectral sensors have 200-450
DEFAULT_MAX_INGEST_BLOCK_BYTES = 256 * 2**20  # one tile or strip, uncompressed: GDAL decodes it whole
DEFAULT_MAX_INGEST_RATIO = 2000  # uncompressed pixel bytes : file bytes; DEFLATE peaks near 1000:1
DEFAULT_JOB_WORKERS = 2  # background jobs (ingests) run at once by a server
DEFAULT_JOB_TIME_LIMIT = 4 * 3600  # seconds a job may run (a 20 GB scene converts in well under that)
# Output pixels of an export (x frames for a timelapse) above which it runs as a job, not in the request
DEFAULT_SYNC_RENDER_PIXELS = 4096 * 4096
READ_ACCESS = ("open", "token")  # reads need no token / need one, like writes
RAW_ACCESS = ("proxy", "redirect")  # /cogs of an object in a store: streamed through / a signed URL of the store
DEFAULT_RAW_URL_SECONDS = 3600  # how long a signed URL /cogs redirects to stays valid (a QGIS session reads on)
DEFAULT_OVERVIEW_IMAGES = 8  # a collection drawn from so many images at a small scale is worth one overview


def _env_number(name: str, default: int, minimum: int = 1) -> int:
    """A whole number of at least `minimum` from the environment (a limit), or the default when unset."""
    text = (os.environ.get(name) or "").strip().replace("_", "")
    if not text:
        return default
    if not text.isdigit() or int(text) < minimum:
        wanted = "a positive whole number" if minimum == 1 else f"a whole number of at least {minimum}"
        raise InvalidInput(f"{name} must be {wanted}, not {text!r}")
    return int(text)


def default_data_dir() -> Path:
    """The per-user data folder (e.g. %LOCALAPPDATA%\\cogbrowser on Windows, ~/.local/share/cogbrowser)."""
    return Path(platformdirs.user_data_dir("cogbrowser", appauthor=False))


@dataclass(frozen=True)
class Settings:
    """Where the data lives and how to reach the database; the one configuration object of a process."""

    data_dir: Path
    database_url: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_image_size: int = DEFAULT_MAX_IMAGE_SIZE
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    read_access: str = "open"
    render_budget: int = DEFAULT_RENDER_BUDGET
    render_deadline: float = DEFAULT_RENDER_DEADLINE
    max_client_connections: int = DEFAULT_MAX_CLIENT_CONNECTIONS  # open connections from one address; 0: no cap
    heavy_threads: int = DEFAULT_HEAVY_THREADS
    heavy_queue: int = DEFAULT_HEAVY_QUEUE
    trusted_proxy: str | None = None  # the reverse proxy's address: its X-Forwarded-* are believed, no cap on it
    basemap: Path | None = None  # the user's own offline basemap (MBTiles, PMTiles or a COG)
    max_ingest_pixels: int = DEFAULT_MAX_INGEST_PIXELS
    max_ingest_bands: int = DEFAULT_MAX_INGEST_BANDS
    max_ingest_block_bytes: int = DEFAULT_MAX_INGEST_BLOCK_BYTES
    max_ingest_ratio: int = DEFAULT_MAX_INGEST_RATIO
    job_workers: int = DEFAULT_JOB_WORKERS
    job_time_limit: int = DEFAULT_JOB_TIME_LIMIT
    sync_render_pixels: int = DEFAULT_SYNC_RENDER_PIXELS  # larger exports and timelapses become jobs
    storage: StoreLocation | None = None  # where ingest writes COGs: None for DATA_DIR/cogs, or a Swift/S3 store
    raw_access: str = "proxy"  # /cogs of an object in a store: "proxy" streams it, "redirect" sends a signed URL
    raw_url_seconds: int = DEFAULT_RAW_URL_SECONDS
    run_jobs: bool = True  # this process runs the jobs it queues (serve --no-worker: workers elsewhere do)
    overview_images: int = DEFAULT_OVERVIEW_IMAGES  # a collection of this many images or more is drawn from its
    #                                               overview at coarse scales (collection_overviews.py); 0: never

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from COGBROWSER_* variables, with explicit (non-None) overrides winning."""
        values: dict[str, object] = {
            "data_dir": os.environ.get("COGBROWSER_DATA_DIR") or default_data_dir(),
            "database_url": os.environ.get("COGBROWSER_DATABASE_URL") or None,
            "host": os.environ.get("COGBROWSER_HOST") or DEFAULT_HOST,
            "port": int(os.environ.get("COGBROWSER_PORT") or DEFAULT_PORT),
            "max_image_size": int(os.environ.get("COGBROWSER_MAX_IMAGE_SIZE") or DEFAULT_MAX_IMAGE_SIZE),
            "max_upload_bytes": int(os.environ.get("COGBROWSER_MAX_UPLOAD_BYTES") or DEFAULT_MAX_UPLOAD_BYTES),
            "render_budget": int(os.environ.get("COGBROWSER_RENDER_BUDGET") or DEFAULT_RENDER_BUDGET),
            "render_deadline": float(os.environ.get("COGBROWSER_RENDER_DEADLINE") or DEFAULT_RENDER_DEADLINE),
            "read_access": (os.environ.get("COGBROWSER_READ_ACCESS") or "open").strip().lower(),
            "max_client_connections": int(os.environ.get("COGBROWSER_MAX_CLIENT_CONNECTIONS")
                                          or DEFAULT_MAX_CLIENT_CONNECTIONS),
            "heavy_threads": _env_number("COGBROWSER_HEAVY_THREADS", DEFAULT_HEAVY_THREADS),
            "heavy_queue": _env_number("COGBROWSER_HEAVY_QUEUE", DEFAULT_HEAVY_QUEUE, minimum=0),
            "trusted_proxy": os.environ.get("COGBROWSER_TRUSTED_PROXY") or None,
            "basemap": os.environ.get("COGBROWSER_BASEMAP") or None,
            "max_ingest_pixels": _env_number("COGBROWSER_MAX_INGEST_PIXELS", DEFAULT_MAX_INGEST_PIXELS),
            "max_ingest_bands": _env_number("COGBROWSER_MAX_INGEST_BANDS", DEFAULT_MAX_INGEST_BANDS),
            "max_ingest_block_bytes": _env_number("COGBROWSER_MAX_INGEST_BLOCK_BYTES", DEFAULT_MAX_INGEST_BLOCK_BYTES),
            "max_ingest_ratio": _env_number("COGBROWSER_MAX_INGEST_RATIO", DEFAULT_MAX_INGEST_RATIO),
            "job_workers": _env_number("COGBROWSER_JOB_WORKERS", DEFAULT_JOB_WORKERS),
            "job_time_limit": _env_number("COGBROWSER_JOB_TIME_LIMIT", DEFAULT_JOB_TIME_LIMIT),
            "sync_render_pixels": _env_number("COGBROWSER_SYNC_RENDER_PIXELS", DEFAULT_SYNC_RENDER_PIXELS),
            "storage": os.environ.get("COGBROWSER_STORAGE") or None,
            "raw_access": (os.environ.get("COGBROWSER_RAW_ACCESS") or "proxy").strip().lower(),
            "raw_url_seconds": _env_number("COGBROWSER_RAW_URL_SECONDS", DEFAULT_RAW_URL_SECONDS),
            "overview_images": _env_number("COGBROWSER_OVERVIEW_IMAGES", DEFAULT_OVERVIEW_IMAGES, minimum=0),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["data_dir"] = Path(values["data_dir"]).expanduser().resolve()  # type: ignore[arg-type]
        if values["basemap"] is not None:
            values["basemap"] = Path(values["basemap"]).expanduser().resolve()  # type: ignore[arg-type]
        if not isinstance(values["storage"], StoreLocation):
            values["storage"] = parse_storage(values["storage"])  # type: ignore[arg-type]
        if values["raw_access"] not in RAW_ACCESS:
            raise InvalidInput(f"COGBROWSER_RAW_ACCESS must be 'proxy' or 'redirect', not {values['raw_access']!r}")
        if values["read_access"] not in READ_ACCESS:
            raise InvalidInput(f"COGBROWSER_READ_ACCESS must be 'open' or 'token', not {values['read_access']!r}")
        if not int(values["render_budget"]) > 0:  # type: ignore[call-overload]
            raise InvalidInput(f"COGBROWSER_RENDER_BUDGET must be a positive number, not {values['render_budget']}")
        if not float(values["render_deadline"]) > 0:  # type: ignore[arg-type]
            raise InvalidInput(f"COGBROWSER_RENDER_DEADLINE must be a positive number of seconds, "
                               f"not {values['render_deadline']}")
        if not int(values["heavy_threads"]) > 0 or not int(values["heavy_queue"]) >= 0:  # type: ignore[call-overload]
            raise InvalidInput(f"the heavy lane needs a thread or more and a queue of 0 or more, not "
                               f"{values['heavy_threads']} and {values['heavy_queue']}")
        if not int(values["sync_render_pixels"]) > 0:  # type: ignore[call-overload]
            raise InvalidInput(f"COGBROWSER_SYNC_RENDER_PIXELS must be a positive number, "
                               f"not {values['sync_render_pixels']}")
        return cls(**values)  # type: ignore[arg-type]

    @property
    def cog_dir(self) -> Path:
        """Managed COGs: one file per image, named after the image id."""
        return self.data_dir / "cogs"

    @property
    def tmp_dir(self) -> Path:
        """Work files of ingests in progress; emptied at start-up, same volume as cog_dir so renames are atomic."""
        return self.data_dir / "tmp"

    @property
    def overview_dir(self) -> Path:
        """Collection overviews (derived from the COGs, rebuilt when a collection changes)."""
        return self.data_dir / "overviews"

    @property
    def jobs_dir(self) -> Path:
        """Inputs of unfinished background jobs (an upload waiting to be ingested), one folder a job."""
        return self.data_dir / "jobs"

    def image_file(self, stored_path: str) -> Path:
        """The file of a catalog image: `path` is relative to the data dir for managed COGs."""
        path = Path(stored_path)
        return path if path.is_absolute() else self.data_dir / path

    @property
    def pg_dir(self) -> Path:
        """The embedded PostgreSQL cluster."""
        return self.data_dir / "postgres"
