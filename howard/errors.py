"""Exceptions for expected failures.

Every error a user can cause (a bad path, unreadable media, a corrupt checkpoint) raises a
:class:`HowardError` subclass whose message says what was expected, what was found and what to
try. The command line prints that one line and exits non-zero; it never shows a traceback for
these.
"""


class HowardError(Exception):
    """Base class for every expected, user-facing failure."""

    exit_code = 1


class InputError(HowardError):
    """A subject or plate input is missing, unreadable, empty or incompatible."""

    exit_code = 2


class OutputError(HowardError):
    """The output folder cannot be used (not empty, not writable, not a folder)."""

    exit_code = 3


class WeightsError(HowardError):
    """A checkpoint is missing, corrupt, or does not fit the model."""

    exit_code = 4


class AlignmentError(HowardError):
    """A plate could not be aligned to a frame and no fallback applies."""

    exit_code = 5
