"""Errors meant for people: the CLI prints them as one line and exits 2, without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input: a config key, a data line, a reward parameter, a path.

    `where` is "file", "file:line" or "file:line: key" (whatever is known), printed first.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def at(self, where: str) -> UserError:
        """The same error located more precisely by an outer layer (only if it had no place)."""
        return self if self.where else UserError(self.message, where=where)
