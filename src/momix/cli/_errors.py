"""The error of a command-line mistake, shared by every module of :mod:`momix.cli`."""

from __future__ import annotations


class UsageError(Exception):
    """A mistake on the command line; reported in one line with exit status 2."""
