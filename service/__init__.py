"""The inference service: a thin Flask layer over `shared` models, run under gunicorn.

Read in this order:

    app.py            create_app(): settings, registry, blueprints, request id and log line
    config.py         Settings: every environment variable, typed, read once
    registry.py       the model repository: every model's loaded versions and labels, the
                      directory watcher, atomic swaps (no HTTP)
    policy.py         a model's policy.json: version policy, labels, default (no HTTP)
    inference.py      what both protocols share: choosing a model and version, checking the
                      input against the bundle's contract, predicting
    predict.py        POST /predict: JSON, multipart uploads and raw images
    v2.py             the Open Inference Protocol (KServe V2) endpoints
    binary.py         V2's binary tensor data extension: tensors as bytes after the JSON
    models.py         GET /models, POST /v2/repository/index
    openapi.py        GET /openapi.json (service/openapi.yaml, the API's description) and /docs
    metrics.py        Prometheus metrics and GET /metrics (multiprocess mode)
    errors.py         every failure as {"error": "..."} with a 4xx status
    jsonio.py         orjson as Flask's JSON provider, and body parsing
    jsonarrays.py     a batch's numbers read from JSON by simdjson straight into an array
    log.py            JSON log lines
    response.py       gunicorn's response, writing head and body in one send
    ui.py, static/    the drawing page at /
    gunicorn.conf.py  the server: workers (gevent or threads), preload, hooks

Images are brought to each model's form by the recipe its bundle names (shared/recipes.py); the
forward pass is shared/model.py.
"""
