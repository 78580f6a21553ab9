"""The render budget and deadline of the raster core (raster/budget.py), and their settings."""

from __future__ import annotations

import pytest

from cogbrowser.config import DEFAULT_RENDER_BUDGET, DEFAULT_RENDER_DEADLINE, Settings
from cogbrowser.errors import InvalidInput
from cogbrowser.raster.budget import (
    RenderDeadlineExceeded,
    RenderTooCostly,
    check_cost,
    check_deadline,
    current_limits,
    render_limits,
)
from cogbrowser.raster.render_spec import parse_render_spec
from cogbrowser.raster.zonal import zonal_pixels, zonal_statistics
from helpers import REAL_DATA

B2 = REAL_DATA / "rio-pansharpen/LC81070352015122LGN00_B2.tif"


def test_settings_read_the_budget_and_deadline(tmp_path, monkeypatch):
    assert (Settings.from_env(data_dir=tmp_path).render_budget, Settings.from_env(data_dir=tmp_path).render_deadline) \
        == (DEFAULT_RENDER_BUDGET, DEFAULT_RENDER_DEADLINE)
    monkeypatch.setenv("COGBROWSER_RENDER_BUDGET", "5000")
    monkeypatch.setenv("COGBROWSER_RENDER_DEADLINE", "2.5")
    settings = Settings.from_env(data_dir=tmp_path)
    assert (settings.render_budget, settings.render_deadline) == (5000, 2.5)
    monkeypatch.setenv("COGBROWSER_RENDER_DEADLINE", "0")
    with pytest.raises(InvalidInput, match="COGBROWSER_RENDER_DEADLINE"):
        Settings.from_env(data_dir=tmp_path)


def test_the_refusal_names_the_budget_and_the_figures():
    check_cost(7, 4096 * 4096)  # NDVI at the largest GetMap fits the default
    with pytest.raises(RenderTooCostly) as refused:
        check_cost(598, 2048 * 2048, what="this map")
    assert str(refused.value).startswith("this map would cost 2,508,193,792 (598 expression nodes x 4,194,304 "
                                         "pixels), above the render budget of 1,000,000,000")
    with render_limits(100, None), pytest.raises(RenderTooCostly, match=r"3 bands x 64 pixels x 2 images"):
        parse_render_spec({}, ["r", "g", "b"]).check_cost(64, frames=2)


def test_limits_nest_and_the_deadline_is_theirs():
    assert current_limits().deadline is None
    check_deadline()  # outside a request: no deadline
    with render_limits(10, 60):
        with render_limits(10, 1e-9):
            with pytest.raises(RenderDeadlineExceeded, match="deadline of 1e-09 s"):
                check_deadline()
        check_deadline()  # the outer limits are back
    assert current_limits().budget == DEFAULT_RENDER_BUDGET


def test_zonal_pixels_are_what_statistics_read_and_are_counted_before_reading():
    spec = parse_render_spec({"bands": ["1"]}, ["b1"])
    planned = zonal_pixels(B2, None)
    shape = zonal_statistics(B2, spec, None).shape
    assert planned == shape[0] * shape[1] == 1550 * 1578
    refused = r"statistics of the area .*\(1 band x 2,445,900 pixels\)"
    with render_limits(planned - 1, None), pytest.raises(RenderTooCostly, match=refused):
        zonal_statistics(B2, spec, None)
