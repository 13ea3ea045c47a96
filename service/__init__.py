"""The inference service: a thin Flask layer over `shared` models, run under gunicorn.

Read in this order:

    app.py            create_app(): settings, registry, blueprints, request id and log line
    config.py         the environment variables the app reads
    registry.py       loaded model versions, the directory watcher, atomic swaps (no HTTP)
    inference.py      what both protocols share: choosing a version, checking pixels, predicting
    predict.py        POST /predict: JSON, multipart uploads and raw images
    v2.py             the Open Inference Protocol (KServe V2) endpoints
    binary.py         V2's binary tensor data extension: tensors as bytes after the JSON
    openapi.py        GET /openapi.json (service/openapi.yaml, the API's description) and /docs
    models.py         GET /models
    metrics.py        Prometheus metrics and GET /metrics (multiprocess mode)
    errors.py         every failure as {"error": "..."} with a 4xx status
    jsonio.py         orjson as Flask's JSON provider, and body parsing
    log.py            JSON log lines
    ui.py, static/    the drawing page at /
    gunicorn.conf.py  the server: workers, threads, preload, hooks

Images are brought to MNIST form by shared/preprocess.py; the forward pass is shared/model.py.
"""
