"""The peer model servers that `make bench-peers` (benchmarks/peers.py) compares digitnet with:
KServe's and MLServer's, each in its own virtual environment, serving the same bundle's weights.

    venvs.py            the peers' virtual environments, made on first use with pinned versions
    export.py           a bundle's model as plain arrays any peer can read (NumPy only)
    forward.py          the KServe model's prediction: digitnet's own forward pass (no kserve import)
    kserve_server.py    the KServe model server (runs in the KServe environment)
    sklearn_transfer.py the weights on scikit-learn's MLPClassifier, saved for MLServer
    servers.py          starting and stopping each server, and how its V2 requests look
    answers.py          the answer check: every server answers what digitnet's forward pass does
"""
