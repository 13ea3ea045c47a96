"""schemathesis against the real gunicorn: every operation of /openapi.json, generated cases
(examples, schema-valid and schema-violating values), zero answers the document does not describe.

RELIABILITY_SCHEMA_EXAMPLES sets the cases per operation: 300 by default here, so `make test`
stays within minutes; `make reliability` runs 1,000 per operation.
"""

from __future__ import annotations

import os

import pytest

from harness.reliability.schema import fuzz_operation, load_schema
from service.config import Settings
from service.openapi import build_document

EXAMPLES = int(os.environ.get("RELIABILITY_SCHEMA_EXAMPLES", 300))
MAX_SECONDS = 600  # per operation: far above what any takes here; a server that slow is a failure
OPERATIONS = [(method.upper(), path) for path, item in build_document(Settings())["paths"].items()
              for method in item if method != "parameters"]


@pytest.fixture(scope="module")
def schema(url):
    return load_schema(url)


@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_answer_is_one_the_document_describes(schema, url, method, path):
    tally = fuzz_operation(schema[path][method], url, EXAMPLES, MAX_SECONDS, derandomize=True)
    assert tally.failures == [], "\n\n".join(tally.failures[:3])
    assert tally.server_errors == 0 and not tally.cut_short
    assert tally.cases >= EXAMPLES, f"only {tally.cases} distinct cases ({tally.describe_statuses()})"
