"""Interactive first (web/lanes.py): while a page's callback runs, tiles that start render fewer at
once, so the callback and its queries get a core; a tile waits for that at most INTERACTIVE_YIELD.

The real Lanes of a two-core server (two tile threads), with threads standing for requests."""

from __future__ import annotations

import threading
import time

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


def test_while_a_page_callback_runs_a_second_tile_waits_for_it():
    pool, done, started = lanes(), threading.Event(), []
    assert pool.plan[TILES].threads == 2 and tiles_beside_interactive(2) == 1
    first = start_tile(pool, started, done)
    while not started:
        time.sleep(0.001)
    with pool.interactive_turn():
        asked = time.monotonic()
        second = start_tile(pool, started, done)
        time.sleep(INTERACTIVE_YIELD / 4)
        assert len(started) == 1, "the second tile waits while the callback runs"
    second_waited = None
    for _ in range(1000):
        if len(started) == 2:
            second_waited = started[1] - asked
            break
        time.sleep(0.001)
    assert second_waited is not None and second_waited < INTERACTIVE_YIELD, \
        "the callback's end let the tile go at once"
    done.set()
    first.join()
    second.join()


def test_a_tile_waits_at_most_the_yield_however_long_the_callback_runs():
    pool, done, started = lanes(), threading.Event(), []
    first = start_tile(pool, started, done)
    while not started:
        time.sleep(0.001)
    with pool.interactive_turn():
        asked = time.monotonic()
        second = start_tile(pool, started, done)
        second_waited = None
        for _ in range(2000):
            if len(started) == 2:
                second_waited = started[1] - asked
                break
            time.sleep(0.001)
    assert second_waited is not None and INTERACTIVE_YIELD * 0.9 <= second_waited < INTERACTIVE_YIELD * 3, \
        f"waited {second_waited} s"
    done.set()
    first.join()
    second.join()


def test_without_page_callbacks_tiles_render_as_many_as_their_threads():
    pool, done, started = lanes(), threading.Event(), []
    threads = [start_tile(pool, started, done) for _ in range(2)]
    for _ in range(1000):
        if len(started) == 2:
            break
        time.sleep(0.001)
    assert len(started) == 2 and abs(started[1] - started[0]) < INTERACTIVE_YIELD / 2
    done.set()
    for thread in threads:
        thread.join()
