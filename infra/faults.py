"""Which dependency a transient error comes from (object store, database, queue, a full scratch
disk): those are
worth retrying and are told to people as such; anything else is a bug, logged in full and
described without its internals."""

from __future__ import annotations

import errno


def dependency_unavailable(exc: BaseException) -> str | None:
    """Which dependency a transient error comes from (object store, database, queue), if any:
    the client may retry those; anything else is a bug."""
    from boto3.exceptions import RetriesExceededError, S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "scratch disk"
    # boto3's transfers (upload_file, download_file) wrap what ran out of tries in their own.
    if isinstance(exc, BotoCoreError | RetriesExceededError | S3UploadFailedError):
        return "object store"
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return "object store" if status >= 500 else None
    if isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or type(exc.orig).__name__ == "OperationalError"
    ):
        return "database"
    if type(exc).__module__.startswith("dramatiq") and "Connection" in type(exc).__name__:
        return "queue"
    return None


def describe_transient(exc: BaseException) -> str:
    """A message fit for a host's page about an error a stage will retry."""
    which = dependency_unavailable(exc)
    if which == "scratch disk":
        return "the scratch disk was full; the stage is retried"
    if which:
        return f"the {which} was unavailable; the stage is retried"
    return f"internal error ({type(exc).__name__}); it was logged and the stage is retried"
