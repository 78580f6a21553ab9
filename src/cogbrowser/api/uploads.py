"""`POST /api/v1/images`: uploads of rasters, ingested like the CLI's; `/api/v1/jobs/{id}` for large ones.

The body is the file itself (its name from `?filename=` or `Content-Disposition`), or a
multipart/form-data form whose `file` field is the file. Either way it is streamed, piece by piece,
into a folder of its own under DATA_DIR/tmp (never held in memory; on the volume the COG goes to),
then, checked (the ingest's pre-check, in the request: a file that is no raster or declares absurd
work is refused at once), it becomes a job in the catalog (jobs.py: its folder moves to
DATA_DIR/jobs/<id>, where a restarted server finds it) and `ingest_upload` — the very ingest of
`cogbrowser ingest` — makes it a COG and a catalog row, in a worker.

What a client gets:

- 201 and the image (the JSON of `GET /api/v1/images/{id}`) when the ingest finished while the
  request waited: by default a file of at most `SYNC_MAX_BYTES` (16 MiB, a few seconds of ingest on
  two cores) is waited for, up to `SYNC_WAIT_SECONDS`; `wait=true` waits however long it takes,
  `wait=false` never waits.
- 202 and the job otherwise (`Location: /api/v1/jobs/{id}`): poll it for its stage, progress and outcome.
- 303 See Other to the image already in the catalog when the same bytes (SHA-256) were ingested
  before (RFC 9110 §15.4.4: the POST would give a resource that exists): nothing changes, and the
  job says `result: existing`. Clients that follow redirects get that image, so a batch of uploads
  can simply be run again.
- Problem details otherwise: 400 (no file, no name, a malformed form, an empty body), 401 (no
  token; auth.py), 409 (the image id is taken), 413 (over `Settings.max_upload_bytes`), 415 (a text,
  JSON or urlencoded body), 422 (not a georeferenced raster, truncated, corrupt: the ingest's own
  reason), 507 (the data dir's disk is full).

A failure leaves nothing behind: the upload's folder is removed whatever happens, and `ingest_file`
is all-or-nothing itself. A folder left by a server that died mid-upload is removed at the next
start (`prepare_upload_dir`: it is named after the process that made it, ingest/workfiles.py).

waitress reads a request's whole body before it calls the app, spooling it over 512 KiB into a
`tempfile.TemporaryFile`. The server front (web/server.py) checks the token and the declared size
against this endpoint's limit (`BODY.max_bytes`: max_upload_bytes and a form's margin) on the
headers, before one byte of the body is read; `prepare_upload_dir` puts the spool on the data dir's
volume, which has room for a 20 GB scene, rather than a small system drive. A client that goes away
mid-body never reaches the app: waitress closes its half-spooled file, which has no name on Linux
(O_TMPFILE) and is deleted on close on Windows.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO, cast

from flask import Blueprint, Response, request
from pydantic import BeforeValidator, Field
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import MultiPartParser
from werkzeug.http import parse_options_header

from cogbrowser.api.images import Image, get_image
from cogbrowser.api.jobs import Job, image_url, job_queue, job_resource, job_url, raise_job_error
from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database
from cogbrowser.config import Settings
from cogbrowser.errors import DISK_FULL_ERRNOS, IngestError
from cogbrowser.ingest.images import IngestRequest, ingest_file, precheck
from cogbrowser.ingest.workfiles import spool_in_tmp, sweep_dead_work_files, work_path
from cogbrowser.jobs import JobRecord, Outcome, Report
from cogbrowser.raster.metadata import parse_datetime
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import FORM_MARGIN, RawBody, endpoint, json_response
from cogbrowser.web.params import ID, BodyModel, QueryModel
from cogbrowser.web.problems import ApiError

blueprint = Blueprint("uploads", __name__)
TAGS = ("images",)
log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes a read and a write of a raw body
SYNC_MAX_BYTES = 16 * 2**20  # files up to this are waited for by default (answer 201, not 202)
SYNC_WAIT_SECONDS = 20.0  # ... for at most this long (a big job may be ahead of them in the queue)
FORM_READ = 64 * 1024  # werkzeug's multipart parser reads: 1.3 GB/s here, against 0.5 GB/s in 1 MiB reads
FORM_FIELD_BYTES = 512 * 1024  # the parser's buffer, and a form field other than the file (there should be none)
FORM_PARTS = 16
FREE_RESERVE = 64 * 2**20  # left free on the data dir's disk beyond the upload itself
REFUSED_MEDIA_TYPES = ("application/x-www-form-urlencoded", "application/json", "application/xml")
_DISK_FULL_WORDS = ("no space left", "disk space", "disk full", "disk is full")  # GDAL's wordings
_UNSAFE_NAME = re.compile(r'[\x00-\x1f<>:"/\\|?*]')
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(10)), *(f"LPT{n}" for n in range(10))}


# ---------------------------------------------------------------- the server side of uploads

def prepare_upload_dir(settings: Settings) -> None:
    """Make DATA_DIR/tmp this process's temporary folder and remove what dead processes left there.

    waitress spools request bodies with `tempfile.TemporaryFile()` and takes no folder for them,
    so `tempfile.tempdir` is what puts a 20 GB upload on the data dir's volume (a server's system
    drive, C:\\ on Windows, is often small). Upload folders and spooled bodies are named after this
    process (ingest/workfiles.py), so the next start removes a dead server's at once. Call it once,
    before serving.
    """
    spool_in_tmp(settings)
    sweep_dead_work_files(settings)


# ---------------------------------------------------------------- parameters and answers

def _instant(value: Any) -> Any:
    """A time as the CLI's --acquired-at takes it (ISO 8601, a day, EXIF-style ...); naive is UTC."""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            raise ValueError(f"{value!r} is not a date or time (use e.g. 2024-06-17 or 2024-06-17T10:30:00Z)")
        return parsed
    return value


class UploadQuery(QueryModel):
    collection: ID | None = Field(None, description="add the image to this collection (created if new)")
    image_id: ID | None = Field(None, description="the image's id (default: the file's stem, made unique)")
    acquired_at: Annotated[datetime, BeforeValidator(_instant)] | None = Field(
        None, description="acquisition time when the file does not say (ISO 8601; a time without a zone is UTC)")
    cloud_cover: float | None = Field(None, ge=0, le=100,
                                      description="cloud cover in percent, when the file does not say")
    title: str | None = Field(None, min_length=1, max_length=500, description="default: the file's stem")
    nodata: float | None = Field(None, description="a value to treat as nodata (e.g. an untagged 0 fill)")
    filename: str | None = Field(None, min_length=1, max_length=255, description=(
        "the file's name: needed for a raw body without a Content-Disposition filename; for a form, "
        "instead of the name of its `file`"))
    wait: bool | None = Field(None, description=(
        f"true: answer when the image is in the catalog (201), however long the ingest takes; false: answer "
        f"202 with the job at once; default: wait for files up to {SYNC_MAX_BYTES // 2**20} MiB, for at most "
        f"{SYNC_WAIT_SECONDS:g} s"))


class ExistingImage(BodyModel):
    """The file was in the catalog already (same SHA-256): nothing changed; Location is that image."""

    detail: str
    image_id: str
    image_url: str


BINARY = {"type": "string", "format": "binary"}
BODY = RawBody(
    {"application/octet-stream": BINARY, "image/tiff": BINARY,
     "multipart/form-data": {"type": "object", "properties": {"file": BINARY}, "required": ["file"]}},
    "The raster file itself (any GDAL-readable georeferenced raster; name it with `filename` or "
    "Content-Disposition), or a form whose `file` field is the file",
    max_bytes=lambda settings: settings.max_upload_bytes + FORM_MARGIN)
ANSWERS = {
    201: Image, 202: Job,
    303: ExistingImage,
    409: {"description": "The image id asked for is taken"},
    413: {"description": "The file is larger than this server accepts (COGBROWSER_MAX_UPLOAD_BYTES)"},
    415: {"description": "The body is text, JSON or an urlencoded form, not a file"},
    422: {"description": "Not a raster cogbrowser can ingest (not georeferenced, truncated, corrupt ...)"},
    507: {"description": "The server's disk is full"},
}


@endpoint(blueprint, "POST", "/api/v1/images", summary="Upload a raster (ingested as `cogbrowser ingest` does)",
          tags=TAGS, query=UploadQuery, raw_body=BODY, responses=ANSWERS)
def upload_image(query: UploadQuery) -> Response:
    """The file becomes a COG and a catalog image exactly as with `cogbrowser ingest`. Small files
    answer 201 with the image; large ones 202 with a job to poll (see `wait`); a file already in the
    catalog answers 303 to its image. A failed upload leaves nothing behind."""
    settings: Settings = services().settings
    db: Database = services().db
    form = request.mimetype == "multipart/form-data"
    _check_before_reading(db, settings, query, form)
    upload = receive_upload(settings, query.filename, form)
    _precheck_upload(settings, upload)
    params = {"filename": upload.path.name, "collection": query.collection, "image_id": query.image_id,
              "acquired_at": query.acquired_at.isoformat() if query.acquired_at else None,
              "cloud_cover": query.cloud_cover, "nodata": query.nodata, "title": query.title}
    try:
        job = job_queue().submit("upload", upload.path.name, upload.size, params, upload.folder)
    except BaseException:
        upload.discard()
        raise
    if query.wait is None and upload.size <= SYNC_MAX_BYTES:
        job = job_queue().wait(job.id, SYNC_WAIT_SECONDS)
    elif query.wait:
        job = job_queue().wait(job.id)
    if query.wait is False or not job.finished:
        return json_response(job_resource(job), 202, headers={"Location": job_url(job.id), "Retry-After": "1"})
    return _outcome(job)


def _precheck_upload(settings: Settings, upload: Upload) -> None:
    """The ingest's pre-check (a raster, georeferenced, within the server's limits), here in the
    request: a file declaring absurd work is refused at once, never queued ahead of others."""
    try:
        precheck(upload.path, settings)
    except IngestError as exc:
        upload.discard()
        raise _refusal(upload.path.name, str(exc).replace(str(upload.path), upload.path.name)) from None


def _outcome(job: JobRecord) -> Response:
    """The answer of a finished upload: the new image, a redirect to the existing one, or the problem."""
    raise_job_error(job)
    outcome = job.outcome
    assert outcome is not None and outcome.image_id is not None, "an upload that did not fail made an image"
    image_id = outcome.image_id
    headers = {"Location": image_url(image_id)}
    if outcome.result == "existing":
        return json_response(ExistingImage(detail=f"{job.filename} is in the catalog already, as image {image_id!r} "
                                                  "(same SHA-256); nothing was changed",
                                           image_id=image_id, image_url=headers["Location"]), 303, headers=headers)
    return json_response(get_image(image_id), 201, headers=headers)


def _check_before_reading(db: Database, settings: Settings, query: UploadQuery, form: bool) -> None:
    """Refuse what can be refused from the headers and parameters alone, before any byte is copied."""
    if not form:
        _check_media_type(request.mimetype)
    length = request.content_length
    if length is not None and length > settings.max_upload_bytes + (FORM_MARGIN if form else 0):
        raise _too_large(settings.max_upload_bytes, f"the body is {length:,} bytes")
    if length is not None:
        _check_free_space(settings.tmp_dir, length)
    if query.image_id:
        with db.connection() as conn:
            if queries.image_id_taken(conn, query.image_id):
                raise ApiError(409, "Conflict", f"image id {query.image_id!r} is already taken; choose another, "
                               "or leave image_id out to get the file's stem made unique",
                               errors=[{"field": "image_id", "message": "already taken"}])


def _check_media_type(mimetype: str) -> None:
    if mimetype.startswith("text/") or mimetype.endswith("+json") or mimetype in REFUSED_MEDIA_TYPES \
            or (mimetype.startswith("multipart/") and mimetype != "multipart/form-data"):
        raise ApiError(415, "Unsupported Media Type", f"send the raster file as the body (e.g. Content-Type: "
                       f"application/octet-stream or image/tiff) or as the `file` field of a multipart/form-data "
                       f"form, not {mimetype!r}")


def _check_free_space(folder: Path, length: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = _free_bytes(folder)
    if free < length + FREE_RESERVE:
        raise ApiError(507, "Insufficient Storage", f"the server's data disk has {free:,} bytes free; this upload "
                       f"needs its {length:,} bytes and room for its COG")


def _free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def _too_large(limit: int, what: str) -> ApiError:
    return ApiError(413, "Content Too Large", f"{what}; this server accepts files of at most {limit:,} bytes "
                    "(COGBROWSER_MAX_UPLOAD_BYTES)", max_upload_bytes=limit)


def raise_if_disk_full(exc: OSError) -> None:
    """A full disk (or quota) is the client's to know, as 507; any other OSError stays a server error."""
    if exc.errno in DISK_FULL_ERRNOS:
        raise ApiError(507, "Insufficient Storage", f"the server's data disk is full ({exc.strerror or exc}); "
                       "nothing was kept: free some space and upload again") from exc


# ---------------------------------------------------------------- receiving the file

@dataclass
class Upload:
    """An uploaded file, alone in its own folder under DATA_DIR/tmp until it is ingested."""

    folder: Path
    path: Path
    size: int

    def discard(self) -> None:
        remove_folder(self.folder)


def remove_folder(folder: Path) -> None:
    """Remove an upload's folder and all in it (GDAL may have left a .aux.xml beside the file)."""
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():  # Windows: a file still open somewhere; the next start sweeps it
        log.warning("could not remove the upload folder %s", folder)


class UploadFile:
    """Where an upload's bytes go: a new file that counts them, refuses more than the limit (413)
    and names a full disk (507), the errors a client can act on."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path, self.limit, self.size = path, limit, 0
        self._file: BinaryIO = _open_new(path)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise _too_large(self.limit, "the file is larger")
        try:
            return self._file.write(data)
        except OSError as exc:
            raise_if_disk_full(exc)
            raise

    def seek(self, offset: int, whence: int = 0) -> int:  # the form parser rewinds a finished file
        return self._file.seek(offset, whence)

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as exc:
            raise_if_disk_full(exc)
            raise

    def __enter__(self) -> UploadFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open_new(path: Path) -> BinaryIO:
    return open(path, "xb")


def receive_upload(settings: Settings, filename: str | None, form: bool) -> Upload:
    """The request's file, copied into a new folder under DATA_DIR/tmp; on any failure nothing stays."""
    folder = work_path(settings, kind="upload")
    folder.mkdir()
    try:
        receive = _receive_form if form else _receive_body
        path, size = receive(folder, filename, settings.max_upload_bytes)
        if size == 0:
            raise ApiError(400, "Bad Request", "the file is empty: send the raster's bytes")
    except BaseException:
        remove_folder(folder)
        raise
    return Upload(folder, path, size)


def _receive_body(folder: Path, filename: str | None, limit: int) -> tuple[Path, int]:
    name = filename or parse_options_header(request.headers.get("Content-Disposition", ""))[1].get("filename")
    if not name:
        raise ApiError(400, "Bad Request", "name the file: add ?filename=scene.tif, or send it with "
                       "'Content-Disposition: attachment; filename=\"scene.tif\"' (the image id defaults to its "
                       "stem), or send a multipart/form-data form with a `file` field",
                       errors=[{"field": "filename", "message": "missing"}])
    buffer = bytearray(CHUNK)  # one buffer, read into again and again: 2.2 GB/s, where read() gives 0.7
    view = memoryview(buffer)
    stream = cast(io.RawIOBase, request.stream)  # werkzeug's LimitedStream: a raw stream that reads into
    with UploadFile(folder / safe_filename(name), limit) as sink:
        while count := stream.readinto(buffer):
            sink.write(view[:count])
    return sink.path, sink.size


def _receive_form(folder: Path, name_given: str | None, limit: int) -> tuple[Path, int]:
    """The form's `file`, streamed by werkzeug's multipart parser straight into its file (the
    parser's default would spool it in the system's temporary folder first)."""
    boundary = request.mimetype_params.get("boundary", "").encode("latin-1")
    if not boundary:
        raise ApiError(400, "Bad Request", "the multipart/form-data Content-Type has no boundary")
    sinks: list[UploadFile] = []

    def open_file(total_content_length: int | None, content_type: str | None, filename: str | None = None,
                  content_length: int | None = None) -> UploadFile:
        if sinks:
            raise ApiError(400, "Bad Request", "the form has more than one file: send one, as its `file` field")
        name = name_given or filename
        if not name:
            raise ApiError(400, "Bad Request", "the form's file has no file name: give it one, or add ?filename=",
                           errors=[{"field": "filename", "message": "missing"}])
        sinks.append(UploadFile(folder / safe_filename(name), limit))
        return sinks[0]

    parser = MultiPartParser(stream_factory=open_file,  # type: ignore[arg-type]  # writes, seeks, closes: all UploadFile does
                             max_form_memory_size=FORM_FIELD_BYTES,
                             max_form_parts=FORM_PARTS, buffer_size=FORM_READ)
    try:
        fields, files = parser.parse(request.stream, boundary, request.content_length)
    except ValueError as exc:
        raise ApiError(400, "Bad Request", f"the multipart form is malformed or incomplete: {exc}") from None
    except RequestEntityTooLarge:
        raise ApiError(413, "Content Too Large", f"a form field without a file name is over {FORM_FIELD_BYTES:,} "
                       f"bytes (send the raster as a file part), or the form has over {FORM_PARTS} parts") from None
    finally:
        for sink in sinks:
            sink.close()
    _check_form(fields, files)
    return sinks[0].path, sinks[0].size


def _check_form(fields, files) -> None:
    if "file" in fields:
        raise ApiError(400, "Bad Request", "the form's `file` is a plain field, not a file: send it as a file "
                       "part (with a filename in its Content-Disposition)")
    if fields:
        raise ApiError(400, "Bad Request", f"the form has field(s) {', '.join(sorted(fields))}: send only `file`; "
                       "the upload's parameters go in the query string")
    if "file" not in files:
        raise ApiError(400, "Bad Request", "the form has no `file` field"
                       + (f" (it has a file as {', '.join(sorted(files))!r}: call that field `file`)" if files else ""))


def safe_filename(name: str) -> str:
    """The last part of a client's file name, safe as a file name on Windows and Linux. It keeps
    its stem (the image id's default) and its suffix (some GDAL drivers go by it)."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = _UNSAFE_NAME.sub("_", base).strip().rstrip(". ")
    if not cleaned.strip("._ "):
        raise ApiError(400, "Bad Request", f"the file name {name!r} has no usable name in it",
                       errors=[{"field": "filename", "message": "not a file name"}])
    if cleaned.split(".")[0].upper() in _WINDOWS_DEVICES:
        cleaned = f"_{cleaned}"
    if len(cleaned) > 200:
        suffix = Path(cleaned).suffix[:20]
        cleaned = cleaned[: 200 - len(suffix)] + suffix
    return cleaned


# ---------------------------------------------------------------- the ingest (in the jobs worker)

def ingest_upload(db: Database, settings: Settings, job: JobRecord, folder: Path, report: Report) -> Outcome:
    """The work of an upload job: `cogbrowser ingest` of the uploaded file, in the job's folder
    (which the jobs worker removes whatever happens, before the job is marked finished)."""
    params = job.params
    path = folder / params["filename"]
    acquired_at = datetime.fromisoformat(params["acquired_at"]) if params.get("acquired_at") else None
    request = IngestRequest(path=path, collection=params.get("collection"), image_id=params.get("image_id"),
                            acquired_at=acquired_at, cloud_cover=params.get("cloud_cover"),
                            nodata=params.get("nodata"), title=params.get("title"))
    try:
        result = ingest_file(db, settings, request, progress=report)
    except OSError as exc:  # e.g. the COG's copy or its move into place; their cleanup is ingest_file's own
        raise_if_disk_full(exc)
        raise
    if result.status == "failed":
        raise _refusal(path.name, result.message.replace(str(path), path.name))
    assert result.image_id is not None, "an ingest that added or skipped a file names its image"
    return Outcome("existing" if result.status == "skipped" else "created", result.image_id, result.message)


def _refusal(filename: str, reason: str) -> ApiError:
    """The ingest's reason for refusing a file as the answer it deserves."""
    lowered = reason.lower()
    if "already taken" in lowered or "at the same time" in lowered:
        return ApiError(409, "Conflict", f"{filename}: {reason}")
    if any(words in lowered for words in _DISK_FULL_WORDS):
        return ApiError(507, "Insufficient Storage", f"{filename}: the server's data disk is full: {reason}")
    return ApiError(422, "Unprocessable Content", f"{filename} cannot be ingested: {reason}")
