"""The far store of bench/store_bench.py (tools/netem.py): a network namespace whose traffic from
this machine crosses 20 ms of round trip, removed afterwards whatever happens, and a Swift cluster
run inside it that GDAL reads across the delay."""

from __future__ import annotations

import subprocess
import time
import urllib.request

import numpy as np
import pytest
import rasterio

from helpers import REAL_DATA

pytestmark = pytest.mark.slow


def links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout


def test_the_namespace_adds_the_round_trip_asked_for_and_is_removed():
    from netem import delayed_namespace, measure_round_trip, namespace_exists

    with delayed_namespace(0) as near:
        _, no_delay = measure_round_trip(near)
    with delayed_namespace(10) as far:
        assert namespace_exists(far.name)
        connect, delayed = measure_round_trip(far)
    assert no_delay < 5, no_delay
    assert 19 <= delayed < 35, delayed
    assert connect >= 2 * 19, connect  # a new connection: the handshake's round trip, then the first byte's
    assert not namespace_exists(far.name) and "cbd" not in links()


def test_the_namespace_is_removed_when_the_block_fails():
    from netem import delayed_namespace, namespace_exists

    with pytest.raises(RuntimeError, match="on purpose"), delayed_namespace() as space:
        name = space.name
        raise RuntimeError("on purpose")
    assert not namespace_exists(name) and "cbd" not in links()


def test_gdal_reads_a_cog_from_a_swift_cluster_across_the_delay(tmp_path, monkeypatch):
    from netem import delayed_namespace
    from swift_cluster import Cluster, free_port, running

    cog = REAL_DATA / "titiler" / "cog1.tif"
    port = free_port()
    with delayed_namespace(10) as space, running(tmp_path, port, host=space.inside,
                                                  wrap=space.command([])), space.reach(port) as (host, near):
        cluster = Cluster(f"http://{host}:{near}")
        storage, token = cluster.token()
        for path, data in (("/cogs", None), ("/cogs/cog1.tif", cog.read_bytes())):
            urllib.request.urlopen(urllib.request.Request(storage + path, data=data, method="PUT",
                                                          headers={"X-Auth-Token": token}), timeout=60).close()
        request = urllib.request.Request(storage + "/cogs/cog1.tif", method="HEAD", headers={"X-Auth-Token": token})
        t0 = time.perf_counter()
        urllib.request.urlopen(request, timeout=10).close()  # a new connection: two round trips at least
        assert time.perf_counter() - t0 >= 0.038
        for name, value in cluster.environment.items():
            monkeypatch.setenv(name, value)
        with rasterio.open("/vsiswift/cogs/cog1.tif") as remote, rasterio.open(cog) as local:
            assert np.array_equal(remote.read(1), local.read(1))
