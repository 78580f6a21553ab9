"""Schemathesis against the API's own OpenAPI description, on a real server with real images.

Hypothesis generates requests from the description (valid ones and, for the negative phase,
invalid ones): none may answer 5xx, every answer must have a status, media type and body the
description declares, and invalid requests must be refused. The number of examples is bounded so
the suite stays quick (COGBROWSER_FUZZ_EXAMPLES raises it for a longer hunt).

Beyond the description: any token (any text, in the header or the URL) is accepted or refused, never
a 5xx; and WMS and WMTS, whose KVP grammars are not in the description, are fuzzed with Hypothesis
over their parameters (names in any case, values plausible or not, layers that exist, do not, or
have lost their file).
"""

from __future__ import annotations

import os
from urllib.parse import urlencode

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.config import SchemathesisConfig

from cogbrowser.catalog import queries
from cogbrowser.catalog.files import image_file
from cogbrowser.ingest.images import IngestRequest, ingest_file
from cogbrowser.web.tokens import hash_token
from helpers import REAL_DATA, serving, shared_catalog

TOKEN = "cgb_fuzz-token-0123456789abcdefghijklmnopqrstuv"
EXAMPLES = int(os.environ.get("COGBROWSER_FUZZ_EXAMPLES", "12"))
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.negative_data_rejection]
# An invalid request may be refused before the app sees it: a query string past the server's header
# limit (several values one past their maxLength, in multibyte characters) gets the front's 431,
# which every operation declares. That is a rejection too.
REJECTED = [*SchemathesisConfig().projects.default.checks.negative_data_rejection.expected_statuses, "431"]
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTED}}})


@pytest.fixture(scope="module")
def fuzzed_server(postgres, tmp_path_factory):
    with shared_catalog(postgres, tmp_path_factory.mktemp("fuzz")) as (config, db):
        with db.connection() as conn:
            queries.upsert_collection(conn, "landsat", "Landsat", presets=[{"name": "natural", "bands": [1, 2, 3]}])
            assert queries.create_token(conn, "fuzz", hash_token(TOKEN))
        for image_id, path, collection in (("cog1", "titiler/cog1.tif", "landsat"), ("tci", "titiler/TCI.tif", None),
                                           ("lost", "titiler/B01.tif", None)):
            assert ingest_file(db, config, IngestRequest(path=REAL_DATA / path, image_id=image_id,
                                                         collection=collection)).status == "added"
        with db.connection() as conn:
            image_file(config, queries.get_image(conn, "lost")).unlink()  # its file is gone: 410, never 500
        with serving(config, db) as url:
            yield url


def test_every_operation_of_the_description_is_fuzzed(fuzzed_server):
    """The walk below covers the whole description: the API, STAC, /cogs, /tiles and the health check."""
    schema = schemathesis.openapi.from_url(f"{fuzzed_server}/api/v1/openapi.json", config=CONFIG)
    walked = {result.ok().path for result in schema.get_all_operations()}
    document = requests.get(f"{fuzzed_server}/api/v1/openapi.json").json()
    assert walked == set(document["paths"]) - {"/api/v1/openapi.json"}, "schemathesis reads the description itself"
    assert {"/cogs/{image_id}.tif", "/tiles/{layer}/{tileMatrixSetId}/{z}/{x}/{y}.{format}",
            "/tiles/{layer}/{tileMatrixSetId}/tilejson.json", "/api/v1/health"} <= walked


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_server_errors_and_answers_as_described(fuzzed_server, mode):
    """Every operation of the description, EXAMPLES requests each (Schemathesis' pytest plugin does
    not run on this pytest, so the operations are walked here with Hypothesis itself)."""
    schema = schemathesis.openapi.from_url(f"{fuzzed_server}/api/v1/openapi.json", config=CONFIG)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, "the description lists the API"
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS, timeout=60)

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request can be made"
            continue  # nothing of it can be made invalid (no parameters, no body)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # (groups of) failures: collect them all, one report lists every operation
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)


# ---------------------------------------------------------------- tokens

LATIN1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80)
ANY_TEXT = st.text(max_size=80)


@given(header=LATIN1, parameter=ANY_TEXT)
@settings(max_examples=EXAMPLES * 4, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_any_token_is_accepted_or_refused_never_a_server_error(fuzzed_server, header, parameter):
    """A write with whatever a client puts where a token goes: 401 (or, for the real token, the
    write's own answer), never a 5xx."""
    for headers, params in (({"Authorization": f"Bearer {header}"}, {}), ({}, {"access_token": parameter})):
        answer = requests.post(f"{fuzzed_server}/api/v1/collections", params=params, headers=headers,
                               json={"id": "fuzzed", "title": "Fuzzed"}, timeout=60)
        assert answer.status_code == 401, (headers, params, answer.status_code, answer.text[:300])


# ---------------------------------------------------------------- WMS and WMTS

LAYERS = st.sampled_from(["cog1", "tci", "landsat", "lost", "nope", "", "cog1,tci", "landsat,lost", "\x00"])
NUMBER = st.one_of(st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str))
VALUE = st.one_of(NUMBER, ANY_TEXT)
WMS_VALUES = {
    "SERVICE": st.sampled_from(["WMS", "wms", "WMTS"]), "VERSION": st.sampled_from(["1.3.0", "1.1.1", "2.0", ""]),
    "REQUEST": st.sampled_from(["GetMap", "GetFeatureInfo", "GetLegendGraphic", "GetCapabilities", "Nope"]),
    "LAYERS": LAYERS, "QUERY_LAYERS": LAYERS, "LAYER": LAYERS, "STYLES": st.sampled_from(["", "default", "x"]),
    "CRS": st.sampled_from(["EPSG:3857", "EPSG:4326", "CRS:84", "EPSG:32618", "EPSG:0", "nope"]),
    "SRS": st.sampled_from(["EPSG:3857", "EPSG:4326"]),
    "BBOX": st.one_of(st.sampled_from(["-8300000,5600000,-8000000,5900000", "44,-76,47,-71", "-76,44,-71,47",
                                       "1,1,1,1", "0,0"]), st.lists(NUMBER, min_size=4, max_size=4).map(",".join),
                      ANY_TEXT),
    "WIDTH": st.one_of(st.integers(-5, 5000).map(str), ANY_TEXT), "HEIGHT": st.one_of(st.integers(-5, 5000).map(str)),
    "FORMAT": st.sampled_from(["image/png", "image/jpeg", "image/webp", "image/tiff", "text/html", ""]),
    "INFO_FORMAT": st.sampled_from(["application/json", "text/plain", "text/html", "x"]),
    "I": VALUE, "J": VALUE, "X": VALUE, "Y": VALUE, "FEATURE_COUNT": VALUE, "TIME": VALUE,
    "TRANSPARENT": st.sampled_from(["TRUE", "FALSE", "maybe"]), "BGCOLOR": VALUE,
    "EXCEPTIONS": st.sampled_from(["XML", "INIMAGE", "BLANK", "application/vnd.ogc.se_inimage", "x"]),
    "expression": st.sampled_from(["b1", "b1*2", "1", "b9", "min(b1,b2)", "(", ""]), "rescale": VALUE,
    "colormap": st.sampled_from(["viridis", "nope", "{", ""]), "nodata": VALUE, "bands": VALUE,
}
WMTS_VALUES = {
    "SERVICE": st.sampled_from(["WMTS", "WMS"]), "VERSION": st.sampled_from(["1.0.0", "2"]),
    "REQUEST": st.sampled_from(["GetTile", "GetFeatureInfo", "GetCapabilities", "Nope"]),
    "LAYER": LAYERS, "STYLE": st.sampled_from(["default", "", "x"]),
    "FORMAT": st.sampled_from(["image/png", "image/jpeg", "image/webp", "x"]),
    "TILEMATRIXSET": st.sampled_from(["WebMercatorQuad", "WorldCRS84Quad", "nope"]),
    "TILEMATRIX": st.one_of(st.integers(-1, 25).map(str), ANY_TEXT),
    "TILEROW": st.one_of(st.integers(-1, 1 << 25).map(str), ANY_TEXT),
    "TILECOL": st.one_of(st.integers(-1, 1 << 25).map(str), ANY_TEXT),
    "I": VALUE, "J": VALUE, "INFOFORMAT": st.sampled_from(["application/json", "text/plain", "x"]), "TIME": VALUE,
    "expression": st.sampled_from(["b1", "1", "b9", ""]), "rescale": VALUE, "nodata": VALUE,
}


def kvp(values: dict) -> st.SearchStrategy[dict]:
    """Some of the parameters (any subset), each a plausible or an arbitrary value."""
    return st.fixed_dictionaries({}, optional=values)


@pytest.mark.parametrize(("path", "values"), [("/wms", WMS_VALUES), ("/wmts", WMTS_VALUES)], ids=["wms", "wmts"])
def test_ogc_services_never_answer_a_server_error(fuzzed_server, path, values):
    @given(params=kvp(values))
    @settings(max_examples=EXAMPLES * 8, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(params) -> None:
        url = f"{fuzzed_server}{path}?{urlencode(params)}"
        answer = requests.get(url, timeout=60)
        assert answer.status_code < 500, (url, answer.status_code, answer.text[:300])

    run()
