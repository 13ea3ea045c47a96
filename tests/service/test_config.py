"""The settings: one object read from the environment, and the page that documents it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from service.config import Settings, environment_variables, markdown_page
from shared import limits

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reference" / "environment.md"


def test_the_environment_page_is_generated_from_the_settings():
    assert PAGE.read_text() == markdown_page(), (
        "docs/reference/environment.md differs from the settings: regenerate it with "
        "`python -m service.config --markdown > docs/reference/environment.md`")


def test_the_command_prints_the_page():
    printed = subprocess.run([sys.executable, "-m", "service.config", "--markdown"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60, check=True).stdout
    assert printed == markdown_page()
    assert printed.startswith("# Environment variables\n")


def test_every_field_has_one_variable_and_a_description():
    names = environment_variables()
    assert len(names) == len(set(names)) == len(fields(Settings))
    assert all(f.metadata["description"] for f in fields(Settings))


def test_defaults_are_the_shared_limits():
    settings = Settings.from_env({})
    assert settings == Settings()
    assert (settings.max_content_length, settings.max_batch, settings.max_image_pixels,
            settings.max_request_pixels, settings.deadline_seconds) == (
        limits.MAX_CONTENT_LENGTH, limits.MAX_BATCH, limits.MAX_IMAGE_PIXELS,
        limits.MAX_REQUEST_PIXELS, limits.REQUEST_DEADLINE_SECONDS)


def test_variables_are_read_into_typed_fields(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    settings = Settings.from_env({
        "MODEL_DIR": str(tmp_path), "MODEL_NAME": "digits", "MODEL_POLL_SECONDS": "0.5",
        "MAX_BATCH": "16", "LOG_LEVEL": "debug", "API_TOKEN_FILE": str(token_file),
        "HEALTH_PUBLIC": "no", "CORS_ALLOW_ORIGINS": " https://a.example/, https://b.example ",
        "PORT": "9000", "WEB_CONCURRENCY": "3", "MAX_IMAGE_PIXELS": "",
        "GUNICORN_WORKER_CLASS": " Gevent "})
    assert settings.model_dir == tmp_path and settings.model_name == "digits"
    assert settings.poll_seconds == 0.5 and settings.max_batch == 16 and settings.log_level == "DEBUG"
    assert settings.api_token == "from-a-file" and settings.health_public is False
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert (settings.port, settings.workers) == (9000, 3)
    assert settings.worker_class == "gevent"
    assert settings.max_image_pixels == limits.MAX_IMAGE_PIXELS  # empty: the default


@pytest.mark.parametrize("env,message", [
    ({"MAX_BATCH": "many"}, "MAX_BATCH='many' is not a int"),
    ({"MODEL_POLL_SECONDS": "0"}, "must be positive"),
    ({"MODEL_NAME": "../etc"}, "not a valid model name"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ({"GUNICORN_WORKER_CLASS": "sync"}, "GUNICORN_WORKER_CLASS='sync': use gthread or gevent"),
    ({"API_TOKEN_FILE": "/nonexistent/token"}, "cannot read"),
])
def test_a_bad_value_names_its_variable(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)
