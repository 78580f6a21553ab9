"""Large exports and timelapses are jobs: made by a jobs worker, not in a request thread; so are the
statistics and time series a page asks for.

What a user notices: an export or timelapse larger than the server makes while a client waits
(COGBROWSER_SYNC_RENDER_PIXELS), or one asked with `Prefer: respond-async`, answers 202 with the job
(`Location`); once it has succeeded, its `result_url` is the very file a waiting request would have
got (the same GeoTIFF values, the same GIF frames), with a file name, an ETag and Range. A cancelled
or failed job has no file (409, saying why); a job accepted before a crash is made after the restart,
and its file outlives further restarts. Reads that need a token need it for the file too, and the
token never goes into the job.
"""

from __future__ import annotations

import io
import time
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
import pytest
import rasterio
import requests
from PIL import Image, ImageSequence
from rasterio.io import MemoryFile

from cogbrowser.api.jobs import MAX_UNFINISHED_RENDERS
from cogbrowser.catalog import queries
from cogbrowser.web.tokens import hash_token
from helpers import free_port, ingest_images, interrupt, serving, start, wait_for

UTC = timezone.utc
IMAGES = [("cog1", "titiler/cog1.tif", "landsat", datetime(2020, 1, 1, tzinfo=UTC), None),
          ("cog2", "titiler/cog2.tif", "landsat", datetime(2020, 2, 1, tzinfo=UTC), None)]
SYNC_PIXELS = 100_000  # these tests' sync limit: a 300 x 300 export is made at once, the whole 779 x 790 COG is a job
ASYNC = {"Prefer": "respond-async"}
# ~500 expression nodes on 4096 x 4096: seconds of band math, with the cancel checked between chunks
HEAVY = {"expression": "+".join(["b1", "b2", "b3"] * 83), "width": "4096", "height": "4096"}
# ~500 nodes again, each power ~10x an addition: surely past a 1 s time limit (HEAVY on cog1's
# 770 x 781 pixels took about 1 s once reads were faster, and sometimes finished within it)
HEAVIER = {"expression": "+".join(["b1**1.5", "b2**1.5", "b3**1.5"] * 41), "width": "4096", "height": "4096"}
TOKEN = "cgb_export-jobs-tests-0123456789abcdefghijklmnop"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def landsat(db, settings):
    """Two dated Landsat COGs in a collection, a token, and the settings of a server (one job worker)
    whose sync limit is small."""
    with db.connection() as conn:
        queries.upsert_collection(conn, "landsat", "Landsat")
        queries.create_token(conn, "tests", hash_token(TOKEN))
    ingest_images(db, settings, IMAGES)
    return replace(settings, sync_render_pixels=SYNC_PIXELS, job_workers=1)


def until_finished(location: str, timeout: float = 60, **kwargs) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(location, timeout=30, **kwargs).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, f"job still {job['state']} ({job['stage']}) after {timeout} s"
        time.sleep(0.1)


def until_running(location: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (state := requests.get(location, timeout=30).json()["state"]) != "running":
        assert state == "queued" and time.monotonic() < deadline, state
        time.sleep(0.02)


def tiff(content: bytes):
    memory = MemoryFile(content)
    return memory.open()


def test_a_large_export_becomes_a_job_whose_geotiff_is_the_one_a_waiting_client_gets(landsat, db):
    with serving(landsat, db) as url:
        answer = requests.get(f"{url}/api/v1/images/cog1/export", timeout=30)  # the whole COG: 779 x 790 pixels
        assert answer.status_code == 202, answer.text
        job = answer.json()
        assert answer.headers["Location"] == f"{url}/api/v1/jobs/{job['id']}" and job["kind"] == "export"
        assert "Preference-Applied" not in answer.headers, "nothing was asked: the size decided"
        assert job["state"] in ("queued", "running") and job["result_url"] is None
        assert job["filename"] == "cog1_EPSG32618_779x790.tif"
        done = until_finished(answer.headers["Location"])
        assert done["state"] == "succeeded", done
        assert done["result_url"] == f"{url}/api/v1/jobs/{job['id']}/result" and done["result"] == "file"
        assert {"rel": "enclosure", "href": done["result_url"], "type": "image/tiff"}.items() <= \
            next(link for link in done["links"] if link["rel"] == "enclosure").items()
        result = requests.get(done["result_url"], timeout=30)
        assert result.status_code == 200 and result.headers["Content-Type"] == "image/tiff"
        assert result.headers["Content-Disposition"] == "attachment; filename=cog1_EPSG32618_779x790.tif"
        assert done["result_bytes"] == len(result.content)
        part = requests.get(done["result_url"], headers={"Range": "bytes=0-99"}, timeout=30)
        assert part.status_code == 206 and part.content == result.content[:100]
        again = requests.get(done["result_url"], headers={"If-None-Match": result.headers["ETag"]}, timeout=30)
        assert again.status_code == 304

    with serving(replace(landsat, sync_render_pixels=10**9), db) as url:  # the same request, made while it waits
        waited = requests.get(f"{url}/api/v1/images/cog1/export", timeout=60)
        assert waited.status_code == 200, waited.text
    with tiff(result.content) as made, tiff(waited.content) as expected, \
            rasterio.open(landsat.cog_dir / "cog1.tif") as source:
        assert (made.width, made.height, made.count) == (779, 790, 3) == (source.width, source.height, source.count)
        assert made.crs == source.crs and made.bounds == pytest.approx(source.bounds)
        assert made.profile["dtype"] == expected.profile["dtype"] and made.nodata == expected.nodata
        assert np.array_equal(made.read(), expected.read()), "the job made the very GeoTIFF of a waiting request"
    assert list((landsat.jobs_dir / job["id"]).iterdir()) == [landsat.jobs_dir / job["id"] / done["filename"]], \
        "the result, whole, and nothing else is kept"


def test_prefer_respond_async_and_a_timelapse_over_the_limit_make_jobs(landsat, db):
    with serving(landsat, db) as url:
        small = requests.get(f"{url}/api/v1/images/cog2/export", headers=ASYNC, timeout=30,
                             params={"format": "png", "width": "64", "rescale": "0,20000"})
        assert small.status_code == 202 and small.headers["Preference-Applied"] == "respond-async", small.text
        assert requests.get(f"{url}/api/v1/images/cog2/export", timeout=30,
                            params={"format": "png", "width": "64", "rescale": "0,20000"}).status_code == 200, \
            "below the limit and not asked: made at once, as before"
        picture = requests.get(until_finished(small.headers["Location"])["result_url"], timeout=30)
        assert picture.headers["Content-Type"] == "image/png" and Image.open(io.BytesIO(picture.content)).width == 64

        box = "-74.0,45.6,-73.4,46.1"  # over both images; 256 px across, 2 dates: over 100,000 pixels x frames
        gif = requests.get(f"{url}/api/v1/collections/landsat/timelapse.gif", timeout=30,
                           params={"bbox": box, "width": "256", "rescale": "0,20000"})
        assert gif.status_code == 202 and "Preference-Applied" not in gif.headers, gif.text
        assert gif.json()["kind"] == "timelapse" and gif.json()["filename"] == "landsat-timelapse.gif"
        done = until_finished(gif.headers["Location"])
        assert done["state"] == "succeeded" and "2 dates" in done["message"], done
        result = requests.get(done["result_url"], timeout=30)
        assert result.headers["Content-Type"] == "image/gif"
        assert result.headers["Content-Disposition"] == "inline; filename=landsat-timelapse.gif"
        frames = list(ImageSequence.Iterator(Image.open(io.BytesIO(result.content))))
        assert len(frames) == 2 and frames[0].size[0] == 256

        with db.connection() as conn:  # a day later ...
            conn.execute("UPDATE jobs SET finished_at = finished_at - interval '25 hours' WHERE id = %s", (done["id"],))
        assert requests.get(f"{url}/api/v1/images/cog2/export", headers=ASYNC, timeout=30,
                            params={"width": "32"}).status_code == 202  # ... the next job clears expired files
        gone = requests.get(done["result_url"], timeout=30)
        assert gone.status_code == 410 and "24 h" in gone.json()["detail"], gone.text
        assert requests.get(gif.headers["Location"], timeout=30).json()["result_url"] is None
        assert not (landsat.jobs_dir / done["id"]).exists()

        refused = requests.get(f"{url}/api/v1/images/cog1/export", headers=ASYNC, timeout=30, params=HEAVY)
        assert refused.status_code == 400 and "COGBROWSER_RENDER_BUDGET" in refused.json()["detail"], \
            "over the render budget: refused at once, never a job"
        with db.connection() as conn:  # as many renders waiting as the server queues: the next is turned away
            for number in range(MAX_UNFINISHED_RENDERS):
                queries.insert_job(conn, f"waiting{number}", "export", "waiting.tif", 0, {})
        busy = requests.get(f"{url}/api/v1/images/cog2/export", headers=ASYNC, params={"width": "64"}, timeout=30)
        assert busy.status_code == 503 and int(busy.headers["Retry-After"]) > 0, busy.text
        api = requests.get(f"{url}/api/v1/openapi.json", timeout=30).json()["paths"]
        assert "202" in api["/api/v1/images/{image_id}/export"]["get"]["responses"]
        assert "202" in api["/api/v1/collections/{collection_id}/timelapse.gif"]["get"]["responses"]
        assert {"200", "409", "410"} <= set(api["/api/v1/jobs/{job_id}/result"]["get"]["responses"])


def test_cancelled_and_failed_export_jobs_have_no_file(landsat, db):
    heavy = replace(landsat, render_budget=10**11)
    with serving(heavy, db) as url:
        running = requests.get(f"{url}/api/v1/images/cog1/export", params=HEAVY, timeout=30)
        queued = requests.get(f"{url}/api/v1/images/cog2/export", params={"width": "64"}, headers=ASYNC, timeout=30)
        assert (running.status_code, queued.status_code) == (202, 202), running.text
        until_running(running.headers["Location"])
        early = requests.get(f"{running.headers['Location']}/result", timeout=30)
        assert early.status_code == 409 and "not made yet" in early.json()["detail"] and early.headers["Retry-After"]

        cancelled = requests.delete(queued.headers["Location"], headers=AUTH, timeout=30)
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled", cancelled.text
        asked = requests.delete(running.headers["Location"], headers=AUTH, timeout=30)
        assert asked.status_code in (200, 202) and asked.json()["cancel_requested"], asked.text
        stopped = until_finished(running.headers["Location"], timeout=20)
        assert stopped["state"] == "cancelled" and stopped["error"]["status"] == 409, stopped
        for job in (stopped, cancelled.json()):
            result = requests.get(f"{url}/api/v1/jobs/{job['id']}/result", timeout=30)
            assert result.status_code == 409 and "cancelled" in result.json()["detail"], result.text
            assert result.headers["Content-Type"] == "application/problem+json"
            assert not (landsat.jobs_dir / job["id"]).exists(), "nothing of a cancelled job is kept"
        assert requests.get(f"{url}/api/v1/jobs/{'0' * 32}/result", timeout=30).status_code == 404

    with serving(replace(heavy, job_time_limit=1), db) as url:  # the job's deadline is its time limit
        late = requests.get(f"{url}/api/v1/images/cog1/export", params=HEAVIER, timeout=30)
        failed = until_finished(late.headers["Location"], timeout=20)
        assert failed["state"] == "failed" and "COGBROWSER_JOB_TIME_LIMIT" in failed["error"]["detail"], failed
        result = requests.get(failed["links"][0]["href"] + "/result", timeout=30)
        assert result.status_code == 409 and "COGBROWSER_JOB_TIME_LIMIT" in result.json()["detail"]
        assert not (landsat.jobs_dir / failed["id"]).exists()


def test_the_file_needs_the_read_access_and_the_job_keeps_no_token(landsat, db):
    with serving(replace(landsat, read_access="token"), db) as url:
        answer = requests.get(f"{url}/api/v1/images/cog2/export", timeout=30,
                              params={"width": "64", "access_token": TOKEN}, headers=ASYNC)
        assert answer.status_code == 202, answer.text
        location = answer.headers["Location"]
        assert TOKEN not in answer.text and TOKEN not in location
        done = until_finished(location, headers=AUTH)
        assert done["state"] == "succeeded", done
        assert requests.get(done["result_url"], timeout=30).status_code == 401
        assert requests.get(done["result_url"], params={"access_token": TOKEN}, timeout=30).status_code == 200
    with db.connection() as conn:
        assert TOKEN not in str(queries.get_job(conn, done["id"])), "the job's parameters hold no token"


def test_an_accepted_export_job_is_made_after_a_crash_and_its_file_outlives_restarts(landsat, tmp_path):
    port = free_port()
    env = {"COGBROWSER_DATABASE_URL": landsat.database_url, "COGBROWSER_JOB_WORKERS": "1",
           "COGBROWSER_SYNC_RENDER_PIXELS": str(SYNC_PIXELS), "COGBROWSER_RENDER_BUDGET": str(10**11)}
    url = f"http://127.0.0.1:{port}"

    def serve():
        process = start(["serve", "--port", str(port)], landsat.data_dir, log=tmp_path / "serve.log", **env)
        wait_for(f"{url}/api/v1/health", process, 60)
        return process

    server = serve()
    first = requests.get(f"{url}/api/v1/images/cog1/export", params=HEAVY, timeout=30)  # runs ...
    second = requests.get(f"{url}/api/v1/images/cog2/export", timeout=30)  # ... while this one waits
    assert (first.status_code, second.status_code) == (202, 202), first.text
    server.kill()  # kill -9: no goodbye
    server.wait()

    server = serve()
    try:
        made = until_finished(second.headers["Location"], timeout=30)
        assert made["state"] == "succeeded", made
        # the one that was running is not lost: it is taken up again once its dead worker's heartbeat is
        # stale (jobs.STALLED_SECONDS; tests/http/test_jobs_durable.py waits for that), so on a slow
        # machine it may already be made again
        kept = requests.get(first.headers["Location"], timeout=30).json()
        assert kept["state"] in ("queued", "running", "succeeded"), kept
    finally:
        interrupt(server)
    server = serve()  # the start-up sweep keeps the files still offered
    try:
        result = requests.get(made["result_url"], timeout=30)
        assert result.status_code == 200
        with tiff(result.content) as geotiff:
            assert (geotiff.width, geotiff.height) == (770, 781)
    finally:
        interrupt(server)


def test_statistics_and_time_series_asked_async_are_jobs_whose_json_is_the_waiting_answer(landsat, db):
    box = {"bbox": "-74.0,45.6,-73.4,46.1"}
    zone = {"type": "Polygon", "coordinates": [[[-74.0, 45.6], [-73.4, 45.6], [-73.4, 46.1], [-74.0, 45.6]]]}
    with serving(landsat, db) as url:
        reads = {
            "statistics": ("GET", f"{url}/api/v1/images/cog1/statistics", {**box, "bands": "2", "bins": "16"}, None),
            "posted statistics": ("POST", f"{url}/api/v1/images/cog2/statistics", {"expression": "b1-b2"}, zone),
            "series": ("GET", f"{url}/api/v1/collections/landsat/timeseries", {**box, "expression": "b3/b1"}, None),
            "csv series": ("GET", f"{url}/api/v1/collections/landsat/timeseries", {**box, "f": "csv"}, None),
        }
        for what, (method, address, params, body) in reads.items():
            waited = requests.request(method, address, params=params, json=body, timeout=30)
            assert waited.status_code == 200, (what, waited.text)
            asked = requests.request(method, address, params=params, json=body, headers=ASYNC, timeout=30)
            assert asked.status_code == 202, (what, asked.text)
            assert asked.headers["Preference-Applied"] == "respond-async"
            job = asked.json()
            assert job["kind"] == ("timeseries" if "series" in what else "statistics"), job
            done = until_finished(asked.headers["Location"])
            assert done["state"] == "succeeded", (what, done)
            result = requests.get(done["result_url"], timeout=30)
            assert result.headers["Content-Type"].split(";")[0] == waited.headers["Content-Type"].split(";")[0], what
            if what == "csv series":
                assert result.text == waited.text and "attachment" in result.headers["Content-Disposition"]
                assert result.text.count("\r\n") == 3, "a header and the two dates"
            else:
                assert result.json() == waited.json(), f"the job's {what} are the very answer of a waiting client"
                assert result.headers["Content-Disposition"].startswith("inline")

        outside = requests.get(f"{url}/api/v1/images/cog1/statistics", headers=ASYNC, timeout=30,
                               params={"bbox": "10,10,11,11"})
        assert outside.status_code == 404 and "outside the extent" in outside.json()["detail"], \
            "an area off the image is refused at once, never a job"
        api = requests.get(f"{url}/api/v1/openapi.json", timeout=30).json()["paths"]
        assert "202" in api["/api/v1/collections/{collection_id}/timeseries"]["get"]["responses"]
    with serving(replace(landsat, render_budget=10_000), db) as url:
        costly = requests.get(f"{url}/api/v1/collections/landsat/timeseries", headers=ASYNC, timeout=30,
                              params={**box, "expression": "b1*b2+b3"})
        assert costly.status_code == 400 and "COGBROWSER_RENDER_BUDGET" in costly.json()["detail"], \
            "a series over the render budget is refused at once, never a job"
    with db.connection() as conn:
        kinds = sorted(row["kind"] for row in conn.execute("SELECT kind FROM jobs"))
    assert kinds == ["statistics"] * 2 + ["timeseries"] * 2, "no job was queued for a refused read"
