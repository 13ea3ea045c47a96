"""gunicorn settings for the service: `gunicorn -c service/gunicorn.conf.py "service.app:create_app()"`.

The server's settings (HOST, PORT, WEB_CONCURRENCY, GUNICORN_THREADS, GUNICORN_WORKER_CLASS,
LOG_LEVEL) are fields of the app's one `Settings` (service/config.py), read here from the
environment; the table of every variable is docs/reference/environment.md.

Why these choices:
- Predictions are CPU-bound NumPy: processes, one per core, give parallelism.
- The default worker class, gevent, serves each connection in a greenlet: no hand-over between
  a thread and the main loop per request, so less CPU per request than `gthread` (a pool of
  GUNICORN_THREADS threads, GUNICORN_WORKER_CLASS=gthread); docs/serving-performance.md has
  both measured. Both keep client connections alive, which the `sync` worker cannot. A greenlet
  whose client sent its next request at once would keep the worker from every other connection
  (a socket read with data waiting never yields), so after each request it waits for the loop
  to serve what else is ready.
- NumPy's BLAS gets one thread per worker: with a worker per core, more threads only fight.
- The app is preloaded: the master imports the code and loads the models once, and forked
  workers share those pages. Threads do not survive fork, so each worker starts its own model
  watcher after it is initialised (`post_worker_init`; under gevent, a greenlet).
- Prometheus multiprocess mode needs its directory set before prometheus_client is imported,
  emptied when the server starts, and told when a worker dies.
- Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads new connections
  over them. With one shared socket, whichever worker wakes first accepts: a client opening 16
  keep-alive connections at once often had all of them land on one worker, which then served
  alone at a third of the machine's throughput while the other idled.
- A request gunicorn cannot parse (a malformed request line, headers over its limits...) never
  reaches the app: gunicorn answers it, by default with an HTML page. It gets a JSON error body
  like every other error of the service instead, and a lingering close: closing a socket with
  unread bytes (the rest of an over-long request line) resets the connection, and the client
  could lose the answer before reading it.
- gunicorn writes a response's head and its body with two sends; service/response.py makes it
  one when the body is a single chunk of known length, as every answer of the app is.
- Each worker tells glibc's malloc to keep the memory a request frees (service/malloc.py):
  otherwise every large body parsed into arrays is paged in from the kernel afresh.
- gunicorn's access log is off: the app writes one JSON line per request, with its request id.
  gunicorn's own messages (start, workers, refused requests) are JSON lines too, so the whole
  log has one shape.
"""

import errno
import json
import os
import secrets
import shutil
import socket
import tempfile
import time

import gunicorn.util
from gunicorn.glogging import Logger

# Before NumPy is imported by the preloaded app.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def read_settings():
    """The app's settings; a bad value stops the server with the message naming it. Imported
    here, not at the top: after the variables above are set, as the settings' module imports
    NumPy."""
    from service.config import Settings

    try:
        return Settings.from_env()
    except ValueError as e:
        raise SystemExit(f"digitnet: {e}") from None


# Before the metrics folder is made: a bad setting stops the server with nothing to clean.
_settings = read_settings()

# Before prometheus_client is imported; emptied now, at master start (a restart must not add up
# the previous run's counters).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(_metrics_dir, exist_ok=True)
    for _name in os.listdir(_metrics_dir):
        if _name.endswith(".db"):
            os.unlink(os.path.join(_metrics_dir, _name))
    _own_metrics_dir = False
else:
    _metrics_dir = tempfile.mkdtemp(prefix="digitnet-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
    _own_metrics_dir = True

_host, _port = _settings.host, _settings.port
bind = f"[{_host}]:{_port}" if ":" in _host else f"{_host}:{_port}"  # IPv6 needs its brackets
workers = _settings.workers or len(os.sched_getaffinity(0))
worker_class = _settings.worker_class
threads = _settings.threads
preload_app = True
reuse_port = True
timeout = 30            # a worker silent this long is killed and replaced
graceful_timeout = 20   # on SIGTERM, in-flight requests get this long to finish
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"  # the heartbeat file: never on a slow or overlay disk
# gunicorn's control socket (~/.gunicorn/gunicorn.ctl) is unused here: it fails on a read-only
# root filesystem, and every server of one user on a host would share that one path.
control_socket_disable = True


class JsonLogger(Logger):
    """gunicorn's logger, writing its messages with the app's JSON formatter."""

    def setup(self, cfg):
        super().setup(cfg)
        from service.log import JsonFormatter  # the app's package: importable once gunicorn runs

        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())


logger_class = JsonLogger


def write_json_error(sock, status_int, reason, mesg):
    """gunicorn's own error answer (`gunicorn.util.write_error`), as JSON, with a request id like
    every answer of the app (a new one: the client's headers could not be read)."""
    body = json.dumps({"error": f"{reason}: {mesg}" if mesg else reason}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            "Content-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n"
            f"X-Request-ID: {secrets.token_hex(16)}\r\nContent-Length: {len(body)}\r\n\r\n")
    gunicorn.util.write_nonblock(sock, head.encode("latin-1") + body)
    linger(sock)


# What a lingering close reads and drops, at most, before gunicorn closes the socket.
LINGER_BYTES = 256 * 1024
LINGER_SECONDS = 1.0


def linger(sock):
    """Tell the client the answer is complete (a half close), then read what it is still sending
    until it closes too, up to LINGER_BYTES or LINGER_SECONDS, as nginx's lingering_close does."""
    deadline = time.monotonic() + LINGER_SECONDS
    received = 0
    try:
        sock.shutdown(socket.SHUT_WR)
        while received < LINGER_BYTES and (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += len(chunk)
    except OSError:
        pass  # the client is gone, or too slow: closing is all there is left to do


gunicorn.util.write_error = write_json_error  # gunicorn 27 calls it through the module


def _install_single_write_response():
    """Each answer's head and body in one send (service/response.py). Imported here, not at the
    top: the app's package, importable once gunicorn runs, as in JsonLogger."""
    from service.response import install

    install()


_install_single_write_response()


def on_starting(server):
    """Refuse to start when the port is taken. With SO_REUSEPORT, binding would succeed beside a
    server already running there, and the two would quietly share the traffic."""
    tcp = [address for address in server.cfg.address if isinstance(address, tuple)]  # not unix:
    for host, port in tcp:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As gunicorn's own sockets: connections of a stopped server in TIME_WAIT do not count.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise SystemExit(f"{host}:{port} is already in use: is another server "
                                     "running? Stop it or choose another PORT.") from None
                raise


def when_ready(server):
    # gunicorn's "Listening at" names the master's sockets: with a socket per worker, none.
    urls = [f"http://{address}" for address in server.cfg.bind if not address.startswith("unix:")]
    server.log.info("serving on %s (%d workers)", ", ".join(urls), server.num_workers)


def post_fork(server, worker):
    from service.malloc import keep_freed_memory

    keep_freed_memory()  # see service/malloc.py; where the C library is not glibc, as it was


def post_worker_init(worker):
    worker.wsgi.extensions["digitnet.registry"].start_watcher()


def post_request(worker, req, environ, resp):
    # The class running, which gunicorn's command line (`-k`, as bench-serve's) may have chosen.
    if worker.cfg.worker_class_str == "gevent":
        import gevent  # imported by gevent workers only

        gevent.idle()  # the other connections' ready requests first (see the top)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
