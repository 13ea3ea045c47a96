"""The errors of the bundle format: one for a bundle that cannot be written or read, one for a
manifest that does not follow its schema (a manifest error is a bundle error)."""


class BundleError(Exception):
    """A bundle could not be written or is not a valid, whole bundle."""


class ManifestError(BundleError):
    """A manifest that does not follow its schema (shared/manifest.py). The message says which
    section is wrong and why; the bundle's reader adds the file's path."""
