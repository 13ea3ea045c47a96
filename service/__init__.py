"""The inference service: a thin Flask layer over `shared` models, run under gunicorn."""
