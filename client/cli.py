"""`digitnet`: the command line of the client (installed with the project).

    digitnet predict FILE|FOLDER... [--url URL] [--model NAME] [--version N|LABEL] [--top-k K] [--json]
    digitnet read FILE|FOLDER... [--url URL] [--model NAME] [--version N|LABEL] [--json]
    digitnet models [NAME] [--url URL] [--json]
    digitnet health [--url URL] [--json]

The service is --url, else $DIGITNET_URL, else http://127.0.0.1:8000. The token comes from
$API_TOKEN only: a command-line argument would show in `ps`. A folder stands for the image files
in it. On a terminal, `predict` and `read` show a progress bar; they print a table, or with --json
one JSON object per line and per input, in order, errors included, as the answers come. `read`
reads each image as a whole number: its text, confidence and every digit with its box.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from client.api import DEFAULT_URL, Client, Outcome, Retries
from client.errors import ApiError, ConnectionFailed, ServerError, ServiceUnavailable
from shared.limits import IMAGE_FORMAT_NAMES, IMAGE_SUFFIXES

EXIT_CODES = """exit codes:
  0  done: every input predicted; the service live and ready
  1  some inputs could not be predicted (unreadable, not an image, no ink, too large): the others were
  2  wrong usage (an unknown option, a missing argument)
  3  the service could not be reached
  4  the service refused the request: a missing or wrong token (401), an unknown model (404), ...
  5  the service is not ready (no model loaded: 503) or failed (5xx)
"""
OK, SOME_FAILED, USAGE, UNREACHABLE, REFUSED, UNAVAILABLE = 0, 1, 2, 3, 4, 5
PROGRESS_FROM = 2  # inputs: a bar for one file is noise


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        with Client(args.url, token=os.environ.get("API_TOKEN") or None, timeout=args.timeout,
                    retries=Retries(args.retries)) as client:
            return args.command(client, args)
    except ConnectionFailed as e:
        return fail(str(e), UNREACHABLE)
    except (ServiceUnavailable, ServerError) as e:
        return fail(str(e), UNAVAILABLE)
    except ApiError as e:
        return fail(str(e), REFUSED)
    except KeyboardInterrupt:
        return 130


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("DIGITNET_URL") or DEFAULT_URL,
                        help="the service (default: $DIGITNET_URL, else %(default)s)")
    common.add_argument("--json", action="store_true", help="JSON out: one object per line")
    common.add_argument("--timeout", type=float, default=60.0, help="seconds per request (%(default)s)")
    common.add_argument("--retries", type=int, default=3,
                        help="retries after a connection error or a 502/503/504 (%(default)s)")

    top = argparse.ArgumentParser(
        prog="digitnet", description="Read handwritten digits with a digitnet service. The token, "
        "when the service needs one, comes from $API_TOKEN.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(required=True, metavar="COMMAND")

    predict = commands.add_parser("predict", parents=[common], help="read the digit in each image",
                                  epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    predict.add_argument("inputs", nargs="+", metavar="FILE",
                         help=f"image files ({IMAGE_FORMAT_NAMES}), or folders of them")
    predict.add_argument("--model", help="the model that must answer (default: the service's)")
    predict.add_argument("--version", metavar="N|LABEL",
                         help="the version that must answer, by number or by label such as 'stable' "
                              "(default: the model's default version)")
    predict.add_argument("--top-k", type=positive_int,
                         help="how many probable labels to list (service default: 3)")
    predict.set_defaults(command=run_predict)

    read = commands.add_parser("read", parents=[common], help="read each image as a whole number",
                               epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    read.add_argument("inputs", nargs="+", metavar="FILE",
                      help=f"image files ({IMAGE_FORMAT_NAMES}), or folders of them")
    read.add_argument("--model", help="the model that must answer (default: the service's)")
    read.add_argument("--version", metavar="N|LABEL", help="the version that must answer")
    read.set_defaults(command=run_read)

    models = commands.add_parser("models", parents=[common],
                                 help="the models served: input, version policy, labels, versions loaded")
    models.add_argument("name", nargs="?", help="only this model")
    models.set_defaults(command=run_models)
    health = commands.add_parser("health", parents=[common], help="is the service live and ready?")
    health.set_defaults(command=run_health)
    return top


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


@dataclass(frozen=True)
class Layout:
    """How a command shows its outcomes: a table's headers and row, or a JSON line."""

    headers: list[str]
    to_json: Callable[[Outcome], dict]
    to_row: Callable[[Outcome], list[str]]


def run_predict(client: Client, args: argparse.Namespace) -> int:
    paths = expand(args.inputs)
    outcomes = client.predict_each(paths, top_k=args.top_k, model=args.model, version=args.version)
    return report(outcomes, len(paths), args.json, PREDICTIONS)


def run_read(client: Client, args: argparse.Namespace) -> int:
    paths = expand(args.inputs)
    outcomes = client.read_each(paths, model=args.model, version=args.version)
    return report(outcomes, len(paths), args.json, READINGS)


def report(outcomes: Iterable[Outcome], count: int, as_lines: bool, layout: Layout) -> int:
    """Print each outcome as it comes (a JSON line each, or a table at the end) with a progress
    bar on a terminal; SOME_FAILED when some inputs failed."""
    rows, failed = [], 0
    with tqdm(total=count, unit="image", file=sys.stderr, dynamic_ncols=True,
              disable=None if count >= PROGRESS_FROM else True) as progress:
        for outcome in outcomes:
            failed += outcome.error is not None
            if as_lines:
                print(json.dumps(layout.to_json(outcome)), flush=True)
            else:
                rows.append(layout.to_row(outcome))
            progress.update()
    if not as_lines:
        print_table(layout.headers, rows)
    if failed:
        return fail(f"{failed} of {count} inputs could not be predicted", SOME_FAILED)
    return OK


def expand(inputs: list[str]) -> list[str]:
    """Each argument, a folder standing for the image files in it (sorted by name)."""
    paths = []
    for given in inputs:
        folder = Path(given)
        if folder.is_dir():
            paths += sorted(str(p) for p in folder.iterdir()
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            paths.append(given)
    return paths


def error_json(outcome: Outcome) -> dict:
    error = outcome.error
    return {"file": outcome.source, "error": getattr(error, "message", str(error)),
            "status": getattr(error, "status", None), "request_id": getattr(error, "request_id", None)}


def as_json(outcome: Outcome) -> dict:
    if outcome.error is not None:
        return error_json(outcome)
    p = outcome.prediction
    return {"file": p.source, "label": p.label, "confidence": p.confidence,
            "confidence_threshold": p.confidence_threshold, "sure": p.sure, "digit": p.is_digit,
            "digit_score": p.digit_score,
            **({"digits_found": p.digits_found} if p.digits_found else {}),
            "top_k": [{"label": label, "probability": probability} for label, probability in p.top_k],
            "model_name": p.model_name, "model_version": p.model_version}


def as_row(outcome: Outcome) -> list[str]:
    if outcome.error is not None:
        return [outcome.source, "-", "-", f"error: {outcome.error}"]
    p = outcome.prediction
    several = f" ({p.digits_found} digits: try `digitnet read`)" if p.digits_found else ""
    mark = "" if p.sure else " (not sure)" if p.is_digit else " (not a digit)"
    return [p.source, str(p.label) + several, f"{p.confidence:.3f}" + mark,
            ", ".join(f"{label} {probability:.3f}" for label, probability in p.top_k)]


def reading_json(outcome: Outcome) -> dict:
    if outcome.error is not None:
        return error_json(outcome)
    r = outcome.prediction
    return {"file": r.source, "text": r.text, "confidence": r.confidence, "sure": r.sure,
            "digits": [{"label": d.label, "confidence": d.confidence, "box": list(d.box)}
                       for d in r.digits],
            "model_name": r.model_name, "model_version": r.model_version}


def reading_row(outcome: Outcome) -> list[str]:
    if outcome.error is not None:
        return [outcome.source, "-", "-", f"error: {outcome.error}"]
    r = outcome.prediction
    return [r.source, r.text, f"{r.confidence:.3f}" + ("" if r.sure else " (not sure)"),
            ", ".join(f"{d.label} {d.confidence:.3f}" for d in r.digits)]


PREDICTIONS = Layout(["file", "label", "confidence", "top k"], as_json, as_row)
READINGS = Layout(["file", "text", "confidence", "digits"], reading_json, reading_row)


def run_models(client: Client, args: argparse.Namespace) -> int:
    """Every model (or the one named): a line on its contract and policy, a row per loaded version."""
    if args.name is not None:
        models = [client.model(args.name)]
        default_model = None
    else:
        answer = client.models()
        models, default_model = answer["models"], answer["default_model"]
    if args.json:
        for model in models:
            print(json.dumps(model))
        return OK
    for i, model in enumerate(models):
        if i:
            print()
        print(describe_model(model, model["model_name"] == default_model))
        print_table(["version", "default", "labels", "created", "layers", "test accuracy"], [
            [v["version"], "yes" if v["default"] else "", ", ".join(v["labels"]) or "-",
             v["created_at"] or "-", "-".join(map(str, v["layer_sizes"])),
             _figure(v["metrics"].get("test_accuracy"))]
            for v in model["versions"]])
    return OK


def describe_model(model: dict, is_default: bool) -> str:
    """"model mnist (the default model): 28x28 values 0-255, images read as mnist; policy latest 2;
    labels stable = 3; default version 3"."""
    labels = ", ".join(f"{label} = {version}" for label, version in model["labels"].items()) or "none"
    return (f"model {model['model_name']}{' (the default model)' if is_default else ''}: "
            f"{_takes(model['input'])}; policy {_policy(model['policy']['version_policy'])}; "
            f"labels {labels}; default version {model['default_version'] or 'none'}")


def _takes(contract: dict | None) -> str:
    """What the model takes, from its input contract."""
    if contract is None:
        return "no version loaded"
    shape = "x".join(map(str, contract["image_shape"] or contract["shape"]))
    low, high = contract["range"]
    recipe = contract["preprocessing"]
    return f"{shape} values {low:g}-{high:g}, " + (
        f"images read as {recipe['recipe']}" if recipe else "no images (numbers only)")


def _policy(rule: dict) -> str:
    """The version policy in words: "latest 2", "all", "specific 3, 5"."""
    (kind, setting), = rule.items()
    if kind == "all":
        return kind
    return f"{kind} {', '.join(map(str, setting)) if isinstance(setting, list) else setting}"


def run_health(client: Client, args: argparse.Namespace) -> int:
    health = client.health()
    if args.json:
        print(json.dumps({"live": health.live, "ready": health.ready, "error": health.error}))
    else:
        print(f"live: {'yes' if health.live else 'no'}, ready: {'yes' if health.ready else 'no'}"
              + (f" ({health.error})" if health.error else ""))
    return OK if health.live and health.ready else UNAVAILABLE


def _figure(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-"


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def fail(message: str, code: int) -> int:
    print(f"digitnet: {message}", file=sys.stderr)
    return code
