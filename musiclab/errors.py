"""Typed errors with messages meant for a human."""


class MusiclabError(Exception):
    """Base class: ``str(err)`` is a complete sentence a user can read."""


class AudioFileError(MusiclabError):
    """An audio file could not be read or written."""


class ModelFileError(MusiclabError):
    """A model file is missing, broken, foreign or of the wrong kind."""


class NoAudioDeviceError(MusiclabError):
    """No audio output/input is available (no PortAudio, no device, device gone)."""


class Cancelled(MusiclabError):
    """A long job was cancelled by the user."""

    def __init__(self, message: str = "Cancelled."):
        super().__init__(message)
