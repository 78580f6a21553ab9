"""Interactive first (web/lanes.py): while a page's callback runs, tiles that start render fewer at
once, so the callback and its queries get a core; a tile waits for that at most INTERACTIVE_YIELD.

The real Lanes of a two-core server (two tile threads), with threads standing for requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from cogbrowser.web.lanes import INTERACTIVE_YIELD, TILES, plan_lanes, tiles_beside_interactive
from cogbrowser.web.server import Lanes


def lanes() -> Lanes:
    return Lanes(plan_lanes(threads=2, heavy_threads=1, heavy_queue=4, render_deadline=20))


def start_tile(pool: Lanes, started: list[float], done: threading.Event) -> threading.Thread:
    """A tile request: notes when it began rendering, renders until `done`."""
    def render() -> None:
        with pool.tile_turn():
            started.append(time.monotonic())
            done.wait(10)
    thread = threading.Thread(target=render)
    thread.start()
    return thread


def waited_until_rendering(started: list[float], since: float, timeout: float = 2.0) -> float | None:
    """Seconds from `since` until the second tile began rendering (None: not within `timeout`)."""
    for _ in range(int(timeout * 1000)):
        if len(started) == 2:
            return started[1] - since
        time.sleep(0.001)
    return None


@contextmanager
def one_tile_rendering() -> Iterator[tuple[Lanes, list[float], threading.Event, list[threading.Thread]]]:
    """The lanes with one tile rendering (until `done`); tiles started meanwhile go in the list."""
    pool, done, started = lanes(), threading.Event(), []
    tiles = [start_tile(pool, started, done)]
    while not started:
        time.sleep(0.001)
    try:
        yield pool, started, done, tiles
    finally:
        done.set()
        for tile in tiles:
            tile.join()


def test_while_a_page_callback_runs_a_second_tile_waits_for_it():
    assert tiles_beside_interactive(2) == 1
    with one_tile_rendering() as (pool, started, done, tiles):
        assert pool.plan[TILES].threads == 2
        with pool.interactive_turn():
            asked = time.monotonic()
            tiles.append(start_tile(pool, started, done))
            time.sleep(INTERACTIVE_YIELD / 4)
            assert len(started) == 1, "the second tile waits while the callback runs"
        second_waited = waited_until_rendering(started, asked)
    assert second_waited is not None and second_waited < INTERACTIVE_YIELD, \
        "the callback's end let the tile go at once"


def test_a_tile_waits_at_most_the_yield_however_long_the_callback_runs():
    with one_tile_rendering() as (pool, started, done, tiles), pool.interactive_turn():
        asked = time.monotonic()
        tiles.append(start_tile(pool, started, done))
        second_waited = waited_until_rendering(started, asked)
    assert second_waited is not None and INTERACTIVE_YIELD * 0.9 <= second_waited < INTERACTIVE_YIELD * 3, \
        f"waited {second_waited} s"


def test_without_page_callbacks_tiles_render_as_many_as_their_threads():
    pool, done, started = lanes(), threading.Event(), []
    threads = [start_tile(pool, started, done) for _ in range(2)]
    assert waited_until_rendering(started, time.monotonic()) is not None
    assert abs(started[1] - started[0]) < INTERACTIVE_YIELD / 2
    done.set()
    for thread in threads:
        thread.join()
