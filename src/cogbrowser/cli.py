"""The `cogbrowser` command: serve, demo, worker, ingest, detections import, bundle (an offline install kit).

Every failure a user can cause ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cogbrowser import __version__
from cogbrowser import (
    bundle as bundle_kit,  # the kit's platforms and Pythons are the command's choices
)
from cogbrowser.config import DEFAULT_HOST, DEFAULT_PORT, Settings
from cogbrowser.errors import CogbrowserError

if TYPE_CHECKING:  # the catalog is opened lazily: `cogbrowser --help` does not import psycopg
    from cogbrowser.catalog.database import Database

log = logging.getLogger("cogbrowser")


class Context:
    """What the group's options give every command."""

    def __init__(self, data_dir: Path | None, database_url: str | None, storage: str | None = None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.storage = storage

    def settings(self, **overrides: object) -> Settings:
        return Settings.from_env(data_dir=self.data_dir, database_url=self.database_url, storage=self.storage,
                                 **overrides)


@contextmanager
def open_catalog(settings: Settings) -> Iterator[Database]:
    """The catalog database for a command, with a one-line message while the embedded one starts."""
    from cogbrowser.catalog.database import Database

    if not settings.database_url:
        click.echo(f"Starting the embedded PostgreSQL in {settings.pg_dir} ...", err=True)
    db = Database.open(settings)
    try:
        yield db
    finally:
        db.close()


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    from cogbrowser.raster.metadata import parse_datetime

    parsed = parse_datetime(value)
    if parsed is None:
        raise click.BadParameter(f"{value!r} is not a date or time (use e.g. 2024-06-17 or 2024-06-17T10:30:00Z)")
    return parsed


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cogbrowser")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="COGBROWSER_DATA_DIR",
              help="Folder for COGs and the embedded database "
                   "[env COGBROWSER_DATA_DIR; default: per-user data folder].")
@click.option("--database-url", envvar="COGBROWSER_DATABASE_URL", metavar="URL",
              help="postgresql://... of a PostgreSQL server to use instead of the embedded one "
                   "[env COGBROWSER_DATABASE_URL].")
@click.option("--storage", envvar="COGBROWSER_STORAGE", metavar="URL",
              help="Where ingests and uploads write COGs: swift://container/prefix (OpenStack Swift, credentials "
                   "from SWIFT_* or OS_*) or s3://bucket/prefix (AWS_*); default: the data dir "
                   "[env COGBROWSER_STORAGE].")
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, database_url: str | None, storage: str | None,
        verbose: bool) -> None:
    """cogbrowser: an offline Earth-observation browser for Cloud Optimized GeoTIFFs and detections."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:  # GDAL's warnings about odd but readable files are noise on a one-line-per-file CLI
        logging.getLogger("rasterio").setLevel(logging.ERROR)
    ctx.obj = Context(data_dir, database_url, storage)


def default_threads(processes: int, remote_storage: bool) -> int:
    """Request threads a serving process gets without --threads.

    One process: one a core, at least 2. Measured on 2 cores (bench/tile_bench.py, 8 clients), 2
    threads served 130 native PNG tiles/s, 3 threads 103 and 4 about 95, with worse p99: every thread
    keeps its own dataset handles, so more threads decode the same COG blocks more often, and they
    fight over the GIL. Several processes: the cores shared among them. With `--processes 2` on 2
    cores, one thread each drew 542 native-zoom maps/s against 430 with two each
    (bench/mapserver_bench.py): another process's thread does not wait for this one's GIL. A remote
    store keeps one a core in each process: there a thread mostly waits for the network, and a
    process with one thread would wait for each read in turn.
    """
    cores = os.cpu_count() or 2
    if processes == 1 or remote_storage:
        return max(2, min(32, cores))
    return max(1, min(32, cores // processes))


def _server_options(func):
    func = click.option("--port", type=click.IntRange(1, 65535), envvar="COGBROWSER_PORT", default=DEFAULT_PORT,
                        show_default=True, help="Port to listen on [env COGBROWSER_PORT].")(func)
    func = click.option("--host", envvar="COGBROWSER_HOST", default=DEFAULT_HOST, show_default=True,
                        help="Address to listen on; 0.0.0.0 serves the LAN [env COGBROWSER_HOST].")(func)
    func = click.option("--threads", type=click.IntRange(1, 256), default=None,
                        help="Request worker threads of a serving process (default: one a CPU core, at least 2; "
                             "with --processes, the cores shared among the processes, unless the COGs are in an object "
                             "store).")(func)
    return click.option("--basemap", type=click.Path(path_type=Path, dir_okay=False), envvar="COGBROWSER_BASEMAP",
                        help="Your own offline basemap: an MBTiles or PMTiles file of raster tiles, or a COG "
                             "[env COGBROWSER_BASEMAP].")(func)


@cli.command()
@_server_options
@click.option("--processes", type=click.IntRange(1, 64), envvar="COGBROWSER_PROCESSES", default=1, show_default=True,
              help="Serving processes sharing the port: more cores used (docs/deploy.md) [env COGBROWSER_PROCESSES].")
@click.option("--no-worker", is_flag=True,
              help="Run no background jobs here: `cogbrowser worker` processes run them (docs/deploy.md).")
@click.pass_obj
def serve(obj: Context, host: str, port: int, threads: int | None, basemap: Path | None, processes: int,
          no_worker: bool) -> None:
    """Serve the catalog: web pages, tiles, WMS/WMTS, STAC and the REST API.

    Background jobs (uploads' ingests, large exports) run in this process too, unless --no-worker."""
    settings = obj.settings(host=host, port=port, basemap=basemap, run_jobs=not no_worker)
    threads = threads or default_threads(processes, remote_storage=settings.storage is not None)
    if processes > 1:
        from cogbrowser.serving import pool_size

        pool_size(settings, processes)  # before anything starts: whether the catalog has connections for them
    with open_catalog(settings) as db:
        if processes == 1:
            _serve(settings, db, threads)
        else:
            _serve_processes(settings, db, threads, processes)


@cli.command()
@_server_options
@click.option("--no-serve", is_flag=True, help="Only make the demo data set; do not start the server.")
@click.pass_obj
def demo(obj: Context, host: str, port: int, threads: int | None, basemap: Path | None, no_serve: bool) -> None:
    """Make the demo data set in the data dir (once), then serve it."""
    from cogbrowser.demo import ensure_demo_data

    settings = obj.settings(host=host, port=port, basemap=basemap)
    with open_catalog(settings) as db:
        ensure_demo_data(db, settings, echo=lambda message: click.echo(message, err=True))
        if not no_serve:
            _serve(settings, db, threads or default_threads(1, remote_storage=False))


def _serve(settings: Settings, db, threads: int) -> None:
    from cogbrowser.ingest.images import sweep_orphans
    from cogbrowser.serving import ready_app
    from cogbrowser.web.context import services_of
    from cogbrowser.web.server import serve

    sweep_orphans(db, settings)
    app = ready_app(settings, db)
    _stop_on_sigterm()
    _say_serving(settings)
    jobs = services_of(app).jobs
    jobs.sweep_job_folders()  # inputs of jobs that finished while no server ran, or of none
    if settings.run_jobs:
        jobs.start()  # the jobs worker: queued jobs (a crashed server's too) run now
    try:
        serve(app, settings, threads)  # waitress, with the checks before a body is read (web/server.py)
    except OSError as exc:
        raise _cannot_listen(settings, exc) from exc
    except KeyboardInterrupt:
        pass
    finally:
        services_of(app).overviews.close()
        _stop_jobs(jobs)
    click.echo("Stopping ...", err=True)


def _serve_processes(settings: Settings, db, threads: int, processes: int) -> None:
    """`serve --processes N`: this process binds the port, runs the job worker and keeps N serving
    processes (serving.py)."""
    from cogbrowser.app import job_queue
    from cogbrowser.ingest.images import sweep_orphans
    from cogbrowser.serving import serve_processes
    from cogbrowser.web.server import listening_sockets

    sweep_orphans(db, settings)
    jobs = job_queue(settings, db)
    jobs.sweep_job_folders()
    try:
        sockets = listening_sockets(settings.host, settings.port)
    except OSError as exc:
        raise _cannot_listen(settings, exc) from exc
    _stop_on_sigterm()
    try:
        if settings.run_jobs:
            jobs.start()
        _say_serving(settings)
        serve_processes(settings, threads, processes, sockets, echo=lambda message: click.echo(message, err=True))
    except KeyboardInterrupt:
        pass
    finally:
        for sock in sockets:
            sock.close()
        _stop_jobs(jobs)
    click.echo("Stopping ...", err=True)


def _say_serving(settings: Settings) -> None:
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    click.echo(f"cogbrowser {__version__} serving {settings.data_dir}", err=True)
    click.echo(f"Open http://{shown_host}:{settings.port}/  (Ctrl-C stops the server and the database)", err=True)
    if not settings.run_jobs:
        click.echo("No job worker here (--no-worker): `cogbrowser worker` processes run uploads and exports",
                   err=True)


def _cannot_listen(settings: Settings, exc: OSError) -> CogbrowserError:
    return CogbrowserError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc} "
                           f"(is another server using it? try --port)")


def _stop_jobs(jobs) -> None:  # noqa: ANN001 (jobs.JobQueue, imported lazily)
    """Stop this process's job worker: its running jobs stop at their next step and are queued again.
    A second Ctrl-C while it waits stops the process at once, as a crash would: its running job is
    taken up by another worker (or the next start) once its heartbeat is stale."""
    try:
        jobs.stop()
    except KeyboardInterrupt:
        click.echo("Stopped at once: the running job runs again on another worker, or at the next start", err=True)
        os._exit(130)


def _stop_on_sigterm() -> None:
    """A service manager's SIGTERM stops us as cleanly as Ctrl-C does."""
    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


@cli.command()
@click.option("--jobs", "--workers", "jobs_at_once", type=click.IntRange(1, 64), envvar="COGBROWSER_JOB_WORKERS",
              default=None, help="Jobs run at once [env COGBROWSER_JOB_WORKERS; default 2].")
@click.pass_obj
def worker(obj: Context, jobs_at_once: int | None) -> None:
    """Run background jobs (uploads' ingests, large exports, timelapses) until Ctrl-C; serves no HTTP.

    \b
    Any number of workers, on any machine that reaches the catalog and the data, share the queue of
    the catalog given by --database-url (a PostgreSQL server); without one, the data dir's embedded
    database (started if no server of the data dir runs). `serve` runs a worker itself unless
    --no-worker. A job whose worker dies (even kill -9) runs again on another worker after 10 s.
    """
    from cogbrowser.app import job_queue
    from cogbrowser.ingest.images import sweep_orphans

    settings = obj.settings(job_workers=jobs_at_once)
    with open_catalog(settings) as db:
        sweep_orphans(db, settings)
        jobs = job_queue(settings, db)
        jobs.sweep_job_folders()  # the inputs this machine fetched for jobs that have finished since
        _stop_on_sigterm()
        try:
            jobs.start()
            click.echo(f"Running jobs of {_catalog_name(settings)}, {settings.job_workers} at once "
                       "(Ctrl-C stops)", err=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            _stop_jobs(jobs)
    click.echo("Stopping ...", err=True)


def _catalog_name(settings: Settings) -> str:
    """The catalog as a message names it: the server of the URL (no password), or the data dir."""
    from cogbrowser.catalog.database import redacted

    return redacted(settings.database_url) if settings.database_url else str(settings.data_dir)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-c", "--collection", metavar="ID", help="Add the images to this collection (created if new).")
@click.option("-r", "--recursive", is_flag=True, help="Look for rasters in sub-folders of the folders given.")
@click.option("--in-place", is_flag=True,
              help="Reference valid COGs where they are instead of copying them into the storage: files, or "
                   "URLs of objects (swift://container/key, s3://bucket/key) or of any HTTP server.")
@click.option("--id", "image_id", metavar="ID", help="Image id (one file only; default: the file's stem, made unique).")
@click.option("--acquired-at", metavar="TIME", help="Acquisition time when the file does not say (ISO 8601).")
@click.option("--cloud-cover", type=click.FloatRange(0, 100), help="Cloud cover in percent when the file does not say.")
@click.option("--nodata", type=float, help="Value to treat as nodata (e.g. an untagged 0 fill).")
@click.option("--compress", type=click.Choice(["DEFLATE", "ZSTD", "LZW"], case_sensitive=False), default="DEFLATE",
              show_default=True, help="Compression of the COGs written.")
@click.option("--overview-resampling", type=click.Choice(["auto", "average", "nearest", "bilinear", "cubic", "mode"]),
              default="auto", show_default=True,
              help="How overviews are computed; auto = nearest for paletted rasters, average otherwise.")
@click.pass_obj
def ingest(obj: Context, paths: tuple[str, ...], collection: str | None, recursive: bool, in_place: bool,
           image_id: str | None, acquired_at: str | None, cloud_cover: float | None, nodata: float | None,
           compress: str, overview_resampling: str) -> None:
    """Add rasters to the catalog as Cloud Optimized GeoTIFFs.

    Any GDAL-readable georeferenced raster is converted to a valid COG in the storage (the data dir,
    or --storage; a file that already is one is copied as it is, or referenced with --in-place, as
    are COGs at URLs: swift://, s3://, https://). Files already in the catalog
    are skipped. A bad file is reported on one line and leaves nothing behind; the others go on, and
    the command exits with status 1 if any file failed.
    """
    from cogbrowser.catalog.queries import valid_id
    from cogbrowser.ingest.images import IngestRequest, expand_paths, ingest_file, register_url
    from cogbrowser.ingest.workfiles import sweep_dead_work_files
    from cogbrowser.raster.cog import CogOptions
    from cogbrowser.storage.locations import is_url

    urls = [text for text in paths if is_url(text)]
    if urls and not in_place:
        raise click.UsageError(f"{urls[0]} is a URL: give --in-place to register COGs where they are "
                               "(to copy one into the storage, download it and ingest the file)")
    files_found, missing = expand_paths([Path(text) for text in paths if not is_url(text)], recursive)
    files: list[Path | str] = [*files_found, *urls]
    if image_id and len(files) != 1:
        raise click.UsageError("--id names one image: give exactly one file")
    if collection and not valid_id(collection):
        raise click.BadParameter(f"{collection!r} is not URL-safe (use letters, digits, . _ -)",
                                 param_hint="--collection")
    when = _parse_time(acquired_at)
    options = CogOptions(compress=compress.upper(), overview_resampling=overview_resampling)
    failed: list[tuple[Path | str, str]] = [(path, reason) for path, reason in missing]
    for bad, reason in missing:
        click.echo(f"FAILED  {bad}: {reason}", err=True)
    counts = {"added": 0, "skipped": 0, "failed": len(missing)}
    settings = obj.settings()
    started = time.perf_counter()
    with open_catalog(settings) as db:
        sweep_dead_work_files(settings)  # what a killed ingest left (a 53 MB *.ovr.tmp) goes now
        status = {"text": ""}
        with click.progressbar(files, label="Ingesting", file=sys.stderr, show_pos=True,
                               item_show_func=lambda _path: status["text"]) as bar:
            for path in bar:
                def show(stage: str, path: Path | str = path) -> None:
                    status["text"] = f"{Path(path).name}: {stage}"
                    bar.render_progress()

                request = IngestRequest(path=Path(path), collection=collection, image_id=image_id, in_place=in_place,
                                        acquired_at=when, cloud_cover=cloud_cover, nodata=nodata)
                result = (register_url(db, settings, path, request, progress=show) if isinstance(path, str)
                          else ingest_file(db, settings, request, options=options, progress=show))
                status["text"] = ""
                counts[result.status] += 1
                if result.status == "failed":
                    failed.append((path, result.message))
                label = {"added": "added  ", "skipped": "skipped", "failed": "FAILED "}[result.status]
                # On a terminal, clear the bar's line first so the result stands on a line of its own.
                prefix = "" if bar.hidden else "\r\x1b[2K"
                click.echo(f"{prefix}{label} {path}: {result.message} ({result.seconds:.1f} s)", err=True)
    total = time.perf_counter() - started
    click.echo(f"{counts['added']} added, {counts['skipped']} skipped, {counts['failed']} failed "
               f"in {total:.1f} s", err=True)
    if failed:
        sys.exit(1)


@cli.group()
def detections() -> None:
    """Import detections (targets found on images)."""


@detections.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--skip-invalid", is_flag=True,
              help="Import the valid rows even when some rows are invalid (those are listed and skipped).")
@click.option("--image-id", metavar="ID", help="Image for rows that do not name one.")
@click.pass_obj
def detections_import(obj: Context, file: Path, skip_invalid: bool, image_id: str | None) -> None:
    """Import detections from a CSV or GeoJSON FILE.

    \b
    CSV columns: image_id, target_class, target_name, score (0..1), optional detected_at, and a box
    either in WGS84 (lon_min, lat_min, lon_max, lat_max) or in pixels of the image
    (px_min, py_min, px_max, py_max; column/row, origin top-left).
    GeoJSON: a FeatureCollection of Polygon/MultiPolygon/Point features in WGS84 whose properties
    hold image_id, target_class, target_name, score and optional detected_at.

    \b
    All or nothing: the file is imported in one transaction. If any row is invalid (unknown image,
    bad geometry, bad score ...) every bad row is listed with its line number and NOTHING is
    imported, unless --skip-invalid is given: then the valid rows are imported (still in one
    transaction) and the bad ones are listed and skipped.
    """
    from cogbrowser.ingest.detections import import_detections

    settings = obj.settings()
    with open_catalog(settings) as db:
        report = import_detections(db, file, skip_invalid=skip_invalid, default_image_id=image_id)
    for problem in report.problems[:200]:
        click.echo(f"{file.name}:{problem.where}: {problem.message}", err=True)
    if report.invalid > 200:
        click.echo(f"... and {report.invalid - 200} more invalid rows", err=True)
    if report.invalid and not skip_invalid:
        click.echo(f"Nothing imported: {report.invalid} invalid row(s) of {report.rows_read} "
                   f"(fix them, or use --skip-invalid).", err=True)
        sys.exit(1)
    click.echo(f"Imported {report.imported} detection(s) from {file}"
               + (f"; skipped {report.invalid} invalid row(s)" if report.invalid else "") + ".", err=True)


@cli.group()
def token() -> None:
    """API tokens: writes over HTTP need one (`Authorization: Bearer <token>`)."""


@token.command("create")
@click.argument("name")
@click.pass_obj
def token_create(obj: Context, name: str) -> None:
    """Make a token called NAME and print it (once: only its hash is kept)."""
    from cogbrowser.catalog import queries
    from cogbrowser.web.tokens import hash_token, new_token

    if not queries.TOKEN_NAME.match(name):
        raise click.BadParameter(f"{name!r}: use letters, digits, '.', '_' or '-' (at most 64)", param_hint="NAME")
    secret = new_token()
    with open_catalog(obj.settings()) as db, db.connection() as conn:
        created = queries.create_token(conn, name, hash_token(secret))
    if created is None:
        raise CogbrowserError(f"a token called {name!r} exists; revoke it first (cogbrowser token revoke {name})")
    click.echo(secret)
    click.echo(f"Token {name!r} created. Keep it: it is not shown again. Send it as "
               f"'Authorization: Bearer <token>'.", err=True)


@token.command("revoke")
@click.argument("name")
@click.pass_obj
def token_revoke(obj: Context, name: str) -> None:
    """Revoke the token called NAME: requests with it are refused from now on."""
    from cogbrowser.catalog import queries

    with open_catalog(obj.settings()) as db, db.connection() as conn:
        revoked = queries.revoke_token(conn, name)
    if not revoked:
        raise CogbrowserError(f"no active token called {name!r} (cogbrowser token list shows them)")
    click.echo(f"Token {name!r} revoked.", err=True)


@token.command("list")
@click.pass_obj
def token_list(obj: Context) -> None:
    """The tokens: name, created, last used, revoked."""
    from cogbrowser.catalog import queries

    with open_catalog(obj.settings()) as db, db.connection() as conn:
        rows = queries.list_tokens(conn)
    if not rows:
        click.echo("No tokens (cogbrowser token create NAME makes one).", err=True)
    for row in rows:
        created = f"{row.created_at:%Y-%m-%d %H:%M}"
        used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "-"
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(f"{row.name}\tcreated {created}\tlast used {used}\t{state}")


@cli.command()
@click.option("--platform", "platform_name", required=True, type=click.Choice(list(bundle_kit.PLATFORMS)),
              help="The air-gapped machine's system: Windows x64, Linux x86-64 (glibc 2.28+) or Apple silicon.")
@click.option("--python", "python_version", required=True, type=click.Choice(bundle_kit.PYTHONS),
              help="The Python version that will run cogbrowser there.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="New (or empty) folder for the kit.")
@click.option("--source", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="cogbrowser's source tree (default: the one this installation runs from, or the current folder).")
def bundle(platform_name: str, python_version: str, output: Path, source: Path | None) -> None:
    """Make an offline install kit (run on a connected machine).

    \b
    The kit holds a wheel of cogbrowser and of every runtime dependency for that platform and
    Python, install scripts (install.bat / install.ps1 on Windows, install.sh elsewhere) that
    install them with pip --no-index, README-OFFLINE.md and SHA256SUMS. Copy the folder across,
    run the install script, then `cogbrowser demo` or `cogbrowser serve`.
    """
    kit = bundle_kit.make_kit(bundle_kit.Target.of(platform_name, python_version), output, source=source,
                              echo=lambda message: click.echo(message, err=True))
    click.echo(f"Kit for {kit.target.describe()}: {kit.path} (cogbrowser {kit.version}, {len(kit.wheels)} wheels, "
               f"{bundle_kit.describe_size(kit.size)}). Copy the folder across and run its install script; "
               f"README-OFFLINE.md says how.", err=True)


def main() -> None:
    """Entry point: run the CLI, turning our errors into one-line messages."""
    try:
        cli.main(prog_name="cogbrowser", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except CogbrowserError as exc:
        click.echo(f"cogbrowser: error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: say so on one line; --verbose shows the traceback
        if "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]:
            raise
        click.echo(f"cogbrowser: internal error: {type(exc).__name__}: {exc} (run with --verbose for details)",
                   err=True)
        sys.exit(70)
