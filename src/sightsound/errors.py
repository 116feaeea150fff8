"""Errors that mean "bad input", reported as one clear line by the CLI (no traceback)."""

from sightsound.config import ConfigError
from sightsound.jsonl import ArtefactError
from sightsound.schema import RecordError


class MediaError(ValueError):
    """A media file that is missing, empty, truncated or undecodable; the message names file and reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ModelLoadError(ValueError):
    """A model that cannot be loaded: missing directory, corrupt config or weights, a refused format."""


USER_ERRORS = (ConfigError, ArtefactError, RecordError, MediaError, ModelLoadError, FileNotFoundError)


def os_error_line(e: OSError) -> str:
    """An OSError (permission, disk full, a directory where a file should be) as one line naming the file."""
    where = e.filename if e.filename is not None else None
    reason = e.strerror or str(e)
    if where is None:
        return reason
    return f"{where}: {reason}" + (f" (-> {e.filename2})" if e.filename2 else "")
