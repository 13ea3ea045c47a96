"""Schema-driven fuzzing with schemathesis: every operation of the served /openapi.json.

For each operation, hypothesis mixes cases from three sources: the document's own examples, values
its schemas allow (schemathesis' positive mode) and values they forbid (negative mode: wrong types,
out-of-range numbers, missing fields, other path segments...). Every answer must pass the checks:
not a server error, a status the operation documents, a content type and headers documented for
that status, a body that matches the documented schema, valid data accepted and invalid data
refused (schemathesis.toml says which refusals OpenAPI cannot express). So the document is
tested as much as the server: an answer it does not describe is a failure.

Used with a few hundred cases per operation by tests/reliability/test_schema.py and with 1,000 by
`make reliability` (benchmarks/reliability.py). Each operation also has a time budget: past it, no
more requests are sent and the tally says it was cut short.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

# Every check of `schemathesis run --checks all` that judges one answer (the stateful ones need
# the CLI's stateful phase); the two data checks are configured in schemathesis.toml.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection,
          positive_data_acceptance, missing_required_header, unsupported_method,
          allow_header_conformance]
CONFIG = Path(__file__).resolve().parents[2] / "schemathesis.toml"
REQUEST_TIMEOUT_SECONDS = 60


@dataclass
class Tally:
    """What one operation's fuzzing sent and what came back."""

    operation: str
    cases: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)  # each check failure, with a curl to replay it
    seconds: float = 0.0
    cut_short: bool = False  # the time budget ran out before every case was sent

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def describe_statuses(self) -> str:
        return ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))

    def failure_kinds(self) -> list[str]:
        """The failures' titles (`ST108 Response violates schema`, `no answer: ...`), each once."""
        return sorted({line.removeprefix("- ") for failure in self.failures for line in failure.splitlines()
                       if line.startswith(("- ST", "no answer"))})


def load_schema(url: str) -> schemathesis.BaseSchema:
    """The document the server serves. Loaded as a document rather than from its URL: from a URL,
    schemathesis leaves out the operation that serves the document itself."""
    document = requests.get(f"{url}/openapi.json", timeout=30)
    document.raise_for_status()
    return schemathesis.openapi.from_dict(document.json(), config=SchemathesisConfig.from_path(CONFIG))


def operations(schema: schemathesis.BaseSchema) -> list[schemathesis.APIOperation]:
    return [result.ok() for result in schema.get_all_operations()]


def fuzz_operation(operation: schemathesis.APIOperation, url: str, examples: int, max_seconds: float,
                   derandomize: bool = False) -> Tally:
    """Send `examples` generated cases to `operation` (fewer if `max_seconds` runs out) and check
    every answer against the document."""
    tally = Tally(operation.label)
    cases = st.one_of(*operation.get_strategies_from_examples(),
                      operation.as_strategy(GenerationMode.POSITIVE),
                      operation.as_strategy(GenerationMode.NEGATIVE))
    started = time.monotonic()
    deadline = started + max_seconds

    with requests.Session() as session:
        @settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=cases)
        def send(case: schemathesis.Case) -> None:
            if time.monotonic() > deadline:
                tally.cut_short = True
                return
            tally.cases += 1
            try:
                response = case.call(base_url=url, session=session, timeout=REQUEST_TIMEOUT_SECONDS)
            except requests.RequestException as e:
                tally.failures.append(f"no answer: {e!r}\n{case.as_curl_command()}")
                return
            tally.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as failure:
                tally.failures.append(str(failure))

        send()
    tally.seconds = time.monotonic() - started
    return tally
