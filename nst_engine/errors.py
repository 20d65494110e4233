"""Errors the engine raises. Every message is written for a person to act on."""


class NSTError(Exception):
    """Base class for every error the engine raises on purpose."""


class InputError(NSTError, ValueError):
    """The caller's input cannot be used (wrong size, unreadable file, bad option)."""


class TooLarge(InputError):
    """The working size asked for does not fit in the device's free memory; `fits` is the
    largest long side that does."""

    def __init__(self, message: str, fits: int) -> None:
        super().__init__(message)
        self.fits = fits


class WeightsUnavailable(NSTError, RuntimeError):
    """The requested feature-extractor weights cannot be found or verified."""


class Cancelled(NSTError):
    """The job was cancelled through its cancel callback."""
