"""What the trainer and the service must agree on: the forward pass, the bundle format and the
image preprocessing. One implementation, so the service can never disagree with the trainer."""

__version__ = "0.1.0"  # the project's version: pyproject.toml reads it from here
