"""Schemathesis against the API's own OpenAPI description, on a real server with real images.

Hypothesis generates requests from the description (valid ones and, for the negative phase,
invalid ones): none may answer 5xx, every answer must have a status, media type and body the
description declares, and invalid requests must be refused. The number of examples is bounded so
the suite stays quick (COGBROWSER_FUZZ_EXAMPLES raises it for a longer hunt).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.config import SchemathesisConfig

from cogbrowser.catalog import queries
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
        for image_id, path, collection in (("cog1", "titiler/cog1.tif", "landsat"), ("tci", "titiler/TCI.tif", None)):
            assert ingest_file(db, config, IngestRequest(path=REAL_DATA / path, image_id=image_id,
                                                         collection=collection)).status == "added"
        with serving(config, db) as url:
            yield url


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
