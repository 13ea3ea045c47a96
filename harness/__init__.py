"""Tools that tests and benchmarks share: a real gunicorn server, a bounded load generator, digit
images and numbers as people send them, and the reliability scenarios. A development package:
not in the wheel, imported from the project's root as `benchmarks` is."""
