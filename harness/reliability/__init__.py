"""Reliability scenarios that the tests assert and `make reliability` reports: broken bundles,
bad and hostile input, faults under load, a soak, schema fuzzing."""
