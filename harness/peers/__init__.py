"""The peer model servers that `make bench-peers` (benchmarks/peers.py) compares digitnet with:
KServe's, MLServer's and BentoML's, each in its own virtual environment, serving the same
bundle's weights.

    venvs.py            the peers' virtual environments, made on first use with pinned versions
    export.py           a bundle's model as plain arrays any peer can read (NumPy only)
    forward.py          the KServe and BentoML models' prediction: digitnet's own forward pass
    kserve_server.py    the KServe model server (runs in the KServe environment)
    bentoml_service.py  the BentoML service (runs in the BentoML environment)
    sklearn_transfer.py the weights on scikit-learn's MLPClassifier, saved for MLServer
    servers.py          starting and stopping each server, tuned for the machine's cores
    v2.py               where each server's V2 model is, its requests (JSON, binary), its answers
    answers.py          the answer check: every server answers what digitnet's forward pass does
"""
