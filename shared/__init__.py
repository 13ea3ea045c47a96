"""What the trainer and the service must agree on: the forward pass (model.py), the bundle
(manifest.py: its typed manifest; bundle.py: the .npz file; repository.py: versions on disk;
storage.py: atomic writes; errors.py) and the image preprocessing (preprocess.py, recipes.py,
segment.py, lines.py). One implementation, so the service can never disagree with the trainer."""

__version__ = "0.1.0"  # the project's version: pyproject.toml reads it from here
