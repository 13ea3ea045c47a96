"""The KServe peer: a `kserve.Model` doing digitnet's forward pass (forward.py) on a model
exported by export.py, served by `kserve.ModelServer` over V2 REST. Runs in KServe's own
environment (venvs.py), never the project's:

    python -m harness.peers.kserve_server --model_name mnist --exported EXPORT.npz \
        --http_port PORT --workers 2

Outputs travel as JSON or, when the request asks, as binary tensors (KServe's binary extension).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import kserve
from kserve import InferOutput, InferRequest, InferResponse
from kserve.model_server import parser as kserve_parser
from kserve.utils.utils import generate_uuid

from harness.peers import forward
from harness.peers.export import load_exported

DATATYPES = {"float32": "FP32", "int64": "INT64"}


class DigitModel(kserve.Model):
    """digitnet's network, answering "probabilities" and "label" (those the request asks for)."""

    def __init__(self, name: str, exported: Path) -> None:
        super().__init__(name)
        self.exported = exported
        self.network = None
        self.load()

    def load(self) -> bool:
        self.network = load_exported(self.exported)
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers: dict | None = None,
                response_headers: dict | None = None) -> InferResponse:
        values = forward.predict(self.network, payload.inputs[0].as_numpy())
        outputs = []
        for name, value in values.items():
            output = InferOutput(name=name, shape=list(value.shape), datatype=DATATYPES[value.dtype.name])
            output.set_data_from_numpy(value, binary_data=False)
            outputs.append(output)
        # KServe answers the outputs the request names, as JSON or bytes as each asks; a response
        # needs an id, made up (as KServe's own runtimes do) when the request has none.
        return InferResponse(response_id=payload.id or generate_uuid(), model_name=self.name,
                             infer_outputs=outputs, use_binary_outputs=payload.use_binary_outputs,
                             requested_outputs=payload.request_outputs)


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve_parser])
    parser.add_argument("--exported", type=Path, required=True, help="export.py's .npz")
    args, _ = parser.parse_known_args()
    model = DigitModel(args.model_name, args.exported)
    kserve.ModelServer(workers=args.workers).start([model])


if __name__ == "__main__":
    main()
