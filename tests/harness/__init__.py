"""Tests of the harness's own tools (harness/)."""
