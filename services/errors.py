"""Business refusals, as named errors a user can act on; ``api.errors`` maps each to its HTTP
status in one table."""

from __future__ import annotations

from pipeline.errors import SpacecastError


class NotFound(SpacecastError):
    """The object does not exist, or is not the caller's to see (answered the same way)."""


class Forbidden(SpacecastError):
    """The caller may not do this, whatever the object's state."""


class Conflict(SpacecastError):
    """The object's state refuses this now (already decided, answered by someone else, ...)."""


class Gone(SpacecastError):
    """It existed, and is no longer available (withdrawn, taken down, used up)."""


class Invalid(SpacecastError):
    """The request is well formed but its values are not acceptable (a range outside the
    episode, ids not unique, ...); the message names the field."""
