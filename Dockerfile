# Two images from one file, sharing their base layers (Python venv, user, numpy + pillow, shared/):
#   docker build --target trainer -t digitnet-trainer .   # `docker run ... [trainer options]`
#   docker build --target service -t digitnet-service .   # gunicorn serving /models
# BASE_IMAGE only needs python3 with the venv module: the official image, or a local one where
# Docker Hub is unreachable (see the README).
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS base
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    MODEL_DIR=/models \
    MODEL_NAME=mnist
# One UID in both images, so both can use the models volume. A named volume copies the
# ownership of its mount point from the image on first use, hence the directories made here.
RUN groupadd --gid 10001 digitnet \
 && useradd --uid 10001 --gid digitnet --create-home --shell /usr/sbin/nologin digitnet \
 && mkdir -p /models /data/mnist \
 && chown digitnet:digitnet /models /data/mnist
# Dependencies before code, each list in its own layer: rebuilt only when the pins change.
# A venv because some base images have no pip outside one. The lock files (`make lock`) pin every
# package, transitive ones included, with their hashes: pip installs exactly those files or fails.
COPY requirements/lock/base.txt /tmp/requirements/
RUN python3 -m venv /opt/venv && pip install --require-hashes --no-deps -r /tmp/requirements/base.txt
WORKDIR /app
COPY shared/ shared/

FROM base AS trainer
COPY requirements/lock/train.txt /tmp/requirements/
RUN pip install --require-hashes --no-deps -r /tmp/requirements/train.txt && rm -rf /tmp/requirements
COPY trainer/ trainer/
USER digitnet
# MNIST is downloaded into /data/mnist when it is empty and the machine is online.
ENV MNIST_DIR=/data/mnist \
    MPLBACKEND=Agg
ENTRYPOINT ["python3", "-m", "trainer"]

FROM base AS service
COPY requirements/lock/serve.txt /tmp/requirements/
RUN pip install --require-hashes --no-deps -r /tmp/requirements/serve.txt && rm -rf /tmp/requirements
COPY service/ service/
USER digitnet
ENV HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000
# Healthy = ready to answer predictions (a model is loaded); urlopen raises on a 503.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['PORT']}/v2/health/ready\", timeout=4)"]
CMD ["gunicorn", "--config", "service/gunicorn.conf.py", "service.app:create_app()"]
