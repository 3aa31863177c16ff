"""The one error hierarchy of fedctl.

Every error a user can see derives from ``FedctlError`` and says what was wrong, where,
and what to do. Third-party exceptions are wrapped where they are caught.
"""

from __future__ import annotations


class FedctlError(Exception):
    """Base of all fedctl errors. ``str(err)`` is a complete, user-facing message."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class InputError(FedctlError):
    """Bad user input (a YAML file, a flag). Carries file, line and field path."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.path = path
        super().__init__(message, hint=hint)

    @property
    def location(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return where

    def __str__(self) -> str:
        parts = [self.location]
        if self.path:
            parts.append(self.path)
        text = ": ".join(parts) + ": " + self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class InputErrors(FedctlError):
    """Several input errors found in one pass; nothing was loaded."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class ToolchainError(FedctlError):
    """A required tool (Go, a built binary) is missing or failed."""


class FleetError(FedctlError):
    """The local fleet could not be started, probed or stopped."""
