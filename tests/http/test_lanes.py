"""Issue 12, item 5: admission lanes. Eight parallel 4096 x 4096 GetMaps once pushed the health
check's median to 21 s (two threads served everything). Now cheap requests, tiles and heavy work
each have their own threads and a short queue (web/lanes.py): heavy work beyond its lane is
answered 503 + Retry-After at once, in the dialect of its route, and the health check and tiles go
on answering meanwhile.

Two servers: the app on real rasters with one heavy thread and no queue (real 4096 x 4096 GetMaps
fill it), and the app with its export and page callbacks made to take a set time — slowness
injected on purpose, to show the waiting rules exactly.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
import requests
from flask import Flask, Response, request
from lxml import etree

from cogbrowser.catalog import queries
from cogbrowser.ui.export import CRS
from cogbrowser.ui.visualization import HISTOGRAM_DATA
from cogbrowser.web.context import mark_heavy_callbacks
from helpers import ingest_images, serving, shared_catalog

IMAGE = ("l8_b2", "rio-pansharpen/LC81070352015122LGN00_B2.tif", None,
         datetime(2015, 5, 2, tzinfo=timezone.utc), None)
REFUSED_WITHIN = 1.0  # seconds: a request its lane cannot take is answered at once
HEALTHY_WITHIN = 1.0  # seconds: the health check while the heavy lane is full


def at_once(calls: list[Callable[[], requests.Response]]) -> list[tuple[requests.Response, float]]:
    """Make the calls in parallel; each answer with the seconds it took."""
    answers: list[tuple[requests.Response, float] | None] = [None] * len(calls)

    def run(i: int) -> None:
        started = time.monotonic()
        response = calls[i]()
        answers[i] = (response, time.monotonic() - started)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(answer is not None for answer in answers), "every request was answered"
    return answers  # type: ignore[return-value]


@contextmanager
def health_checks(url: str) -> Iterator[list[float]]:
    """Ask the health check every 0.1 s while the block runs; yields the seconds each took."""
    times: list[float] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            started = time.monotonic()
            assert requests.get(f"{url}/api/v1/health", timeout=30).status_code == 200
            times.append(time.monotonic() - started)
            time.sleep(0.1)

    thread = threading.Thread(target=ask)
    thread.start()
    try:
        yield times
    finally:
        stop.set()
        thread.join()


# ---------------------------------------------------------------- the app, real renders

@pytest.fixture(scope="module")
def one_heavy_thread(postgres, tmp_path_factory) -> Iterator[tuple[str, tuple[float, ...]]]:
    """The app on a Landsat band with one heavy thread and no queue: (its URL, the image's box)."""
    with shared_catalog(postgres, tmp_path_factory.mktemp("lanes")) as (settings, db):
        ingest_images(db, settings, [IMAGE])
        with db.connection() as conn:
            bbox = tuple(queries.get_image(conn, "l8_b2").bbox)
        with serving(dataclasses.replace(settings, heavy_threads=1, heavy_queue=0), db) as url:
            yield url, bbox


def big_getmap(url: str, bbox: tuple[float, ...], shift: int, version: str) -> Callable[[], requests.Response]:
    west, south, east, north = bbox
    step = (east - west) / 1000 * shift  # each a little apart: none answered from the cache
    box = (west + step, south, east + step, north)
    axis = {"1.1.1": ("SRS", box), "1.3.0": ("CRS", (box[1], box[0], box[3], box[2]))}[version]
    params = {"SERVICE": "WMS", "VERSION": version, "REQUEST": "GetMap", "LAYERS": "l8_b2", "STYLES": "",
              axis[0]: "EPSG:4326", "BBOX": ",".join(f"{v:.6f}" for v in axis[1]), "WIDTH": "4096",
              "HEIGHT": "4096", "FORMAT": "image/png", "EXPRESSION": "b1*2-b1/3+b1*b1/7000", "RESCALE": "0,40000"}
    return lambda: requests.get(f"{url}/wms", params=params, timeout=120)


def test_getmaps_beyond_the_heavy_lane_are_turned_away_at_once_while_health_and_tiles_answer(one_heavy_thread):
    url, bbox = one_heavy_thread
    tile = f"{url}/tiles/l8_b2/WebMercatorQuad/0/0/0.png"
    with health_checks(url) as times:
        answers = at_once([big_getmap(url, bbox, shift, version) for shift, version in
                           enumerate(["1.1.1", "1.3.0", "1.1.1", "1.3.0"])] + [lambda: requests.get(tile, timeout=30)])
    *maps, (tile_answer, tile_seconds) = answers
    drawn = [(r, s) for r, s in maps if r.status_code == 200]
    refused = [(r, s) for r, s in maps if r.status_code == 503]
    assert len(drawn) + len(refused) == len(maps), [r.status_code for r, _ in maps]
    assert drawn and len(refused) >= 2, "one heavy thread, no queue: the others are turned away"
    for response, _ in drawn:
        assert response.headers["Content-Type"] == "image/png" and len(response.content) > 1000
    for response, seconds in refused:
        assert seconds < REFUSED_WITHIN, f"turned away after {seconds:.1f} s"
        assert int(response.headers["Retry-After"]) >= 1
        report = etree.fromstring(response.content)  # the WMS exception report of the request's version
        assert report.tag.endswith("ServiceExceptionReport"), response.text
        assert "busy" in response.text and "heavy lane" in response.text
    assert tile_answer.status_code == 200 and tile_answer.headers["Content-Type"] == "image/png"
    assert times and max(times) < HEALTHY_WITHIN, f"health checks took up to {max(times):.2f} s"


def test_an_export_beyond_the_heavy_lane_is_problem_details(one_heavy_thread):
    url, bbox = one_heavy_thread
    west, south, east, north = bbox
    export = [lambda i=i: requests.get(f"{url}/api/v1/images/l8_b2/export", timeout=120, params={
        "bbox": f"{west + i * 1e-4},{south},{east},{north}", "width": 4096, "height": 4096, "format": "png",
        "expression": "b1*2-b1/3", "rescale": "0,40000"}) for i in range(4)]
    answers = at_once(export)
    refused = [(r, s) for r, s in answers if r.status_code == 503]
    assert refused and any(r.status_code == 200 for r, _ in answers), [r.status_code for r, _ in answers]
    for response, seconds in refused:
        assert seconds < REFUSED_WITHIN and response.headers["Retry-After"]
        assert response.headers["Content-Type"] == "application/problem+json"
        assert "heavy lane" in response.json()["detail"]


# ---------------------------------------------------------------- waiting rules, slowness injected

HEAVY_SECONDS = 3.0  # how long the slowed heavy routes take
HEAVY_OUTPUT = HISTOGRAM_DATA  # a page callback's output (a made-up one is refused 400), marked heavy here
DEADLINE = 2.0  # the slowed server's render deadline: heavy work may wait a quarter of it, 0.5 s


def slow_down(app: Flask) -> None:
    """The fault injected: the app's export takes HEAVY_SECONDS, and so does a page callback that
    a tool marks heavy (the pages' own tools queue jobs instead; a tool that read pixels in its
    callback would mark it so); other callbacks answer at once."""
    views = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    mark_heavy_callbacks(app, HEAVY_OUTPUT)

    def slow_export(**_: object) -> Response:
        time.sleep(HEAVY_SECONDS)
        return Response(b"GeoTIFF", content_type="image/tiff")

    def slow_callback() -> Response:
        if HEAVY_OUTPUT in request.get_json()["output"]:
            time.sleep(HEAVY_SECONDS)
        return Response("{}", content_type="application/json")

    app.view_functions[views["/api/v1/images/<image_id>/export"]] = slow_export
    app.view_functions[views["/_dash-update-component"]] = slow_callback


@pytest.fixture(scope="module")
def slow_app(postgres, tmp_path_factory) -> Iterator[str]:
    """The app, slowed down, with one heavy thread, one place in the queue, and DEADLINE."""
    with shared_catalog(postgres, tmp_path_factory.mktemp("slow")) as (settings, db):
        settings = dataclasses.replace(settings, heavy_threads=1, heavy_queue=1, render_deadline=DEADLINE)
        with serving(settings, db, inject=slow_down) as url:
            yield url


def callback(url: str, output: str) -> Callable[[], requests.Response]:
    names = output[2:-2].split("...") if output.startswith("..") else [output]
    outputs = [dict(zip(("id", "property"), name.split("."), strict=True)) for name in names]
    body = json.dumps({"output": output, "outputs": outputs, "inputs": [], "changedPropIds": []})
    return lambda: requests.post(f"{url}/_dash-update-component", data=body, timeout=30,
                                 headers={"Content-Type": "application/json"})


def test_heavy_work_that_waited_past_the_deadline_or_found_the_lane_full_is_turned_away(slow_app):
    """Two exports and two heavy page callbacks at once, into a lane of one thread and one place:
    one runs, one waits — past the lane's limit, so it is turned away while the first still runs —
    and two find the lane full. Meanwhile the health check and a light callback answer at once."""
    heavy = [lambda: requests.get(f"{slow_app}/api/v1/images/a/export", timeout=30),
             callback(slow_app, f"{HEAVY_OUTPUT}.data"),
             lambda: requests.get(f"{slow_app}/api/v1/images/b/export", timeout=30),
             callback(slow_app, f"{HEAVY_OUTPUT}.data")]
    with health_checks(slow_app) as times:
        answers = at_once([*heavy, callback(slow_app, f"{CRS}.options")])
    *heavy_answers, (light, light_seconds) = answers
    statuses = sorted(r.status_code for r, _ in heavy_answers)
    assert statuses == [200, 503, 503, 503], [(r.status_code, r.text[:200]) for r, _ in heavy_answers]
    details = sorted(r.json()["detail"] for r, _ in heavy_answers if r.status_code == 503)
    assert sum("waited" in d for d in details) == 1 and sum("lane is full (1 running, 1 waiting)" in d
                                                          for d in details) == 2, details
    waited = next(s for r, s in heavy_answers if r.status_code == 503 and "waited" in r.json()["detail"])
    assert DEADLINE / 4 < waited < HEAVY_SECONDS - 0.5, "turned away once it waited too long, not when its turn came"
    assert all(r.headers["Retry-After"] for r, _ in heavy_answers if r.status_code == 503)
    assert light.status_code == 200 and light_seconds < 0.5, "a light callback waits for no heavy work"
    assert times and max(times) < 0.5, times
