"""A background job's files, its input (an uploaded file) and its result (an export, a timelapse),
kept where every server and worker of the catalog reaches them.

With the local storage they live in DATA_DIR/jobs/<job id>/ (one machine, or machines sharing the
data dir). With an object store (`--storage`), the job's folder is only the working copy of the
process at hand: the input is uploaded to `<prefix>jobs/<job id>/<name>` when the job is queued,
fetched by the worker that runs it (on any machine), and a result is uploaded there too, so that
any server answers its download (fetching it once into its own folder). Removing a job's files
removes both.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cogbrowser.config import Settings
from cogbrowser.storage.stores import ObjectStore, open_store

JOBS_PREFIX = "jobs/"  # under the storage's prefix; managed COGs lie directly under it, never in here


class JobFiles:
    """Where the files of jobs are, for one process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.location = settings.storage

    @property
    def _store(self) -> ObjectStore | None:
        return open_store(self.location) if self.location is not None else None

    def folder(self, job_id: str) -> Path:
        """The job's folder on this machine."""
        return self.settings.jobs_dir / job_id

    @property
    def _root(self) -> str:
        assert self.location is not None
        return f"{self.location.prefix}{JOBS_PREFIX}"

    def _key(self, job_id: str, name: str = "") -> str:
        return f"{self._root}{job_id}/{name}"

    def share(self, job_id: str) -> None:
        """Make the input in the job's folder reachable by every worker (uploaded to the store; the
        local copy goes). Nothing to do with the local storage."""
        store = self._store
        if store is None:
            return
        folder = self.folder(job_id)
        for path in sorted(folder.iterdir()):
            if path.is_file():
                store.put_file(path, self._key(job_id, path.name))
        shutil.rmtree(folder, ignore_errors=True)

    def fetch(self, job_id: str) -> Path:
        """The job's folder with its input in it, fetched from the store if it is not here."""
        folder = self.folder(job_id)
        store = self._store
        if store is None or folder.is_dir():
            return folder
        entries = list(store.listing(self._key(job_id)))
        if entries:
            folder.mkdir(parents=True, exist_ok=True)
            for entry in entries:
                name = entry.key.rsplit("/", 1)[1]
                partial = folder / f".{name}.part"
                store.download(entry.key, partial)
                os.replace(partial, folder / name)
        return folder

    def keep_result(self, job_id: str, name: str) -> None:
        """Offer a result file made in the job's folder to every server (its input goes)."""
        store = self._store
        if store is None:
            return
        for entry in list(store.listing(self._key(job_id))):
            store.delete(entry.key)
        store.put_file(self.folder(job_id) / name, self._key(job_id, name))

    def result(self, job_id: str, name: str) -> Path | None:
        """The result file, here (fetched once from the store when another process made it)."""
        path = self.folder(job_id) / name
        if path.is_file() or self._store is None:
            return path if path.is_file() else None
        store = self._store
        if store.head(self._key(job_id, name)) is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.parent / f".{name}.{os.getpid()}.part"
        store.download(self._key(job_id, name), partial)
        os.replace(partial, path)
        return path

    def remove(self, job_id: str) -> None:
        """The job's files, everywhere."""
        shutil.rmtree(self.folder(job_id), ignore_errors=True)
        store = self._store
        if store is not None:
            for entry in list(store.listing(self._key(job_id))):
                store.delete(entry.key)

    def stored_job_ids(self) -> set[str]:
        """Jobs that have files in the store (for the sweep of what no unfinished job owns)."""
        store = self._store
        if store is None:
            return set()
        start = len(self._root)
        return {entry.key[start:].split("/", 1)[0] for entry in store.listing(self._root)}
