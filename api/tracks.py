"""Receiving a participant's raw track over HTTP: the request body streamed to disk under a size
cap with its SHA-256 (``services.ingest`` probes, stores and records it)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from infra.settings import Settings
from pipeline.errors import InvalidTrack

# OpenAPI for endpoints whose request body is raw audio bytes (whole tracks, live chunks).
BINARY_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


class UploadTooLarge(InvalidTrack):
    pass


async def receive_to_file(
    chunks: AsyncIterator[bytes], *, max_bytes: int, settings: Settings
) -> tuple[Path, str, int]:
    """Write the request body to a temporary file; return (path, sha256, size)."""
    digest = hashlib.sha256()
    size = 0
    handle, name = tempfile.mkstemp(prefix="spacecast-upload-", dir=settings.work_dir)
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(
                        f"upload is larger than the limit of {max_bytes / 1024**2:.0f} MiB"
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size
