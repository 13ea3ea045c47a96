"""The BentoML peer: a `bentoml.service` running digitnet's forward pass (forward.py) on a model
exported by export.py. Runs in BentoML's own environment (venvs.py), never the project's:

    DIGITNET_EXPORTED=EXPORT.npz DIGITNET_BENTOML_WORKERS=2 \
        bentoml serve harness.peers.bentoml_service:Digits --host 127.0.0.1 --port PORT

BentoML has no Open Inference Protocol; its API takes a JSON object's keys as its arguments, so
one API at the V2 inference path takes a V2 JSON body's "inputs" and "outputs" and answers in
V2's form: the part of the protocol the peer benchmark sends (one input, named outputs, JSON).
"""

from __future__ import annotations

import os
from pathlib import Path

import bentoml
import numpy as np

from harness.peers import forward
from harness.peers.export import load_exported

DATATYPES = {"float32": "FP32", "int64": "INT64"}
WORKERS = int(os.environ.get("DIGITNET_BENTOML_WORKERS", "1"))


@bentoml.service(workers=WORKERS)
class Digits:
    """digitnet's network, answering "probabilities" and "label" (those the request asks for)."""

    def __init__(self) -> None:
        self.network = load_exported(Path(os.environ["DIGITNET_EXPORTED"]))

    @bentoml.api(route="/v2/models/mnist/infer")
    def infer(self, inputs: list[dict], outputs: list[dict] | None = None) -> dict:
        tensor = inputs[0]
        pixels = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
        values = forward.predict(self.network, pixels)
        names = [o["name"] for o in outputs] if outputs else list(values)
        return {"model_name": "mnist",
                "outputs": [{"name": name, "datatype": DATATYPES[values[name].dtype.name],
                             "shape": list(values[name].shape), "data": values[name].ravel().tolist()}
                            for name in names]}
