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


USER_ERRORS = (ConfigError, ArtefactError, RecordError, MediaError, FileNotFoundError)
