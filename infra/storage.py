"""S3-compatible object storage through boto3, and the bucket's key layout.

Key layout (every part is a server-generated id, never user text):

    raw/{space_id}/{participant_id}/{track_id}     raw participant tracks (the retention vault)
    raw/{space_id}/{participant_id}/chunks/{seq}   live chunks, until assembled into the track
    raw/{space_id}/review/transcript-*.json        review transcripts, made for moderators
    work/{space_id}/{stage}-{fingerprint}.{ext}    intermediate stage results (mix, transcripts)
    media/{space_id}/{render_id}/{file}            published episode audio and transcripts
    clips/{space_id}/{clip_id}/{render_id}/{file}  clip audio, transcript excerpt, audiogram
    shows/{show_id}/{file}                         show artwork
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from infra.settings import Settings

_TRANSFER = TransferConfig(multipart_threshold=64 * 1024**2, multipart_chunksize=16 * 1024**2)


def raw_track_key(space_id: str, participant_id: str, track_id: str) -> str:
    return f"raw/{space_id}/{participant_id}/{track_id}"


def chunks_prefix(space_id: str, participant_id: str) -> str:
    return f"raw/{space_id}/{participant_id}/chunks/"


def chunk_key(space_id: str, participant_id: str, seq: int) -> str:
    return f"{chunks_prefix(space_id, participant_id)}{seq:08d}"


def vault_prefix(space_id: str) -> str:
    """Everything kept for moderators of one space: raw tracks, chunks, review transcripts."""
    return f"raw/{space_id}/"


def review_transcript_key(space_id: str, participant_id: str, track_sha256: str) -> str:
    return f"raw/{space_id}/review/transcript-{participant_id}-{track_sha256[:16]}.json"


def clip_key(space_id: str, clip_id: str, render_id: str, name: str) -> str:
    return f"clips/{space_id}/{clip_id}/{render_id}/{name}"


def work_key(space_id: str, name: str) -> str:
    return f"work/{space_id}/{name}"


def media_key(space_id: str, render_id: str, name: str) -> str:
    return f"media/{space_id}/{render_id}/{name}"


def show_key(show_id: str, name: str) -> str:
    return f"shows/{show_id}/{name}"


def host_audio_key(show_id: str, audio_id: str) -> str:
    """A show's own audio: under the show, outside every room's vault (the sweep never sees it)."""
    return show_key(show_id, f"audio/{audio_id}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


class RangeNotSatisfiable(Exception):
    """The requested byte range lies outside the object."""


# ASCII digits only: str.isdigit() also accepts superscripts (a Latin-1 header byte 0xB2 is
# "²"), Arabic-Indic and fullwidth digits, which int() then refuses or reads differently.
_RANGE = re.compile(r"[ \t]*bytes[ \t]*=[ \t]*([0-9]*)-([0-9]*)[ \t]*")


def byte_range(header: str) -> tuple[int | None, int | None] | None:
    """A single ``bytes=START-END`` range as its two ends (either may be left out, not both),
    or None when the header is not one."""
    match = _RANGE.fullmatch(header)
    if match is None:
        return None
    start, end = (int(end) if end else None for end in match.groups())
    if (start is None and end is None) or (start is not None and end is not None and start > end):
        return None
    return start, end


def byte_span(header: str, total: int) -> tuple[int, int]:
    """The first and last byte a valid range header asks of an object of ``total`` bytes, as
    :meth:`ObjectStore.read_range` answers a ranged GET (RFC 9110 section 14.1.2): an end past
    the object is cut to it, ``-N`` is the last N bytes (all of them when the object is
    shorter); a start past the end, ``-0`` and any range of an empty object are unsatisfiable."""
    start, end = byte_range(header) or (None, None)
    if total == 0:
        raise RangeNotSatisfiable(header)
    if start is None:
        if not end:
            raise RangeNotSatisfiable(header)
        return max(0, total - end), total - 1
    if start >= total:
        raise RangeNotSatisfiable(header)
    return start, total - 1 if end is None else min(end, total - 1)


@dataclass(frozen=True)
class RangeRead:
    body: BinaryIO | None  # None when only the headers were asked for
    status: int  # 200 or 206
    length: int
    total: int
    content_range: str | None
    content_type: str


def s3_client(
    settings: Settings, *, max_attempts: int, connect_timeout_s: float, read_timeout_s: float
):
    """A boto3 S3 client for the configured endpoint: SigV4, the configured addressing style,
    checksums only where the endpoint requires them, and the given retries and timeouts."""
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": settings.s3_addressing_style},
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


class ObjectStore:
    """One bucket on any S3 endpoint (AWS S3, MinIO, R2, rclone serve s3)."""

    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
        self.client = s3_client(
            settings,
            max_attempts=settings.s3_max_attempts,
            connect_timeout_s=5,
            read_timeout_s=settings.s3_read_timeout_s,
        )
        self._versioned: bool | None = None

    def ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
            self.client.create_bucket(Bucket=self.bucket)

    def put_file(
        self, key: str, path: Path, *, content_type: str, sha256: str | None = None
    ) -> None:
        extra: dict = {"ContentType": content_type}
        if sha256:
            extra["Metadata"] = {"sha256": sha256}
        self.client.upload_file(str(path), self.bucket, key, ExtraArgs=extra, Config=_TRANSFER)

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str, sha256: str | None = None
    ) -> None:
        extra = {"Metadata": {"sha256": sha256}} if sha256 else {}
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **extra
        )

    def get_file(self, key: str, dest: Path) -> Path:
        self.client.download_file(self.bucket, key, str(dest), Config=_TRANSFER)
        return dest

    def get_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def iter_object(self, key: str, block_bytes: int = 1024 * 1024) -> Iterator[bytes]:
        """An object's bytes in blocks, without holding the whole object in memory."""
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(block_bytes)
        finally:
            body.close()

    def pending_multipart_uploads(self, prefix: str = "") -> list[str]:
        """Keys of multipart uploads started and neither completed nor aborted."""
        return [key for key, _ in self._uploads(prefix)]

    def _uploads(self, prefix: str) -> list[tuple[str, str]]:
        try:
            response = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        except ClientError as exc:
            # rclone's S3 server answers NoSuchUpload when the bucket has none in progress.
            if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
                return []
            raise
        return [(u["Key"], u["UploadId"]) for u in response.get("Uploads", [])]

    def head(self, key: str) -> dict | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def recorded_sha256(self, key: str) -> str | None:
        """The SHA-256 stored with the object at upload (metadata key case varies by server)."""
        head = self.head(key)
        metadata = {k.lower(): v for k, v in (head or {}).get("Metadata", {}).items()}
        return metadata.get("sha256")

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def delete(self, key: str) -> None:
        """Delete the object, and on a versioned bucket every version and delete marker of it:
        a deleted recording must not stay behind as a noncurrent version."""
        self.client.delete_object(Bucket=self.bucket, Key=key)
        self._delete_versions(v for v in self.versions(key) if v[0] == key)

    def versioned(self) -> bool:
        """Whether the bucket keeps versions (versioning enabled, or suspended after it was):
        asked once. An endpoint without versioning (rclone serve s3) says nothing or answers
        NotImplemented."""
        if self._versioned is None:
            try:
                status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NotImplemented":
                    raise
                status = None
            self._versioned = status in ("Enabled", "Suspended")
        return self._versioned

    def versions(self, prefix: str) -> list[tuple[str, str]]:
        """(key, version id) of every version and delete marker under ``prefix``; none on a
        bucket without versioning (where listing the keys is the whole proof)."""
        if not self.versioned():
            return []
        found: list[tuple[str, str]] = []
        paginator = self.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                found.append((item["Key"], item["VersionId"]))
        return found

    def delete_versions(self, prefix: str, keep: set[str] = frozenset()) -> int:
        """Delete every version and delete marker under ``prefix`` but those of ``keep``
        (nothing on a bucket without versioning); returns how many."""
        versions = [v for v in self.versions(prefix) if v[0] not in keep]
        self._delete_versions(versions)
        return len(versions)

    def _delete_versions(self, versions) -> None:
        versions = list(versions)
        for start in range(0, len(versions), 1000):
            batch = [{"Key": k, "VersionId": v} for k, v in versions[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def abort_uploads(self, prefix: str, keys: set[str] | None = None) -> int:
        """Abort every unfinished multipart upload under ``prefix`` (only those of ``keys`` when
        given): its parts are stored, billed and never listed as objects. Returns how many."""
        uploads = [(k, u) for k, u in self._uploads(prefix) if keys is None or k in keys]
        for key, upload_id in uploads:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        return len(uploads)

    def remains(
        self, keys: list[str], prefix: str | None = None, keep: set[str] = frozenset()
    ) -> dict[str, str]:
        """What is left in the bucket of deleted ``keys``, and with ``prefix`` of anything under
        it but ``keep``: per key, "object", "version <id>" or "unfinished multipart upload".
        Empty is the proof that nothing of them can be read back."""
        wanted = set(keys)
        left: dict[str, str] = {}
        if prefix is not None:
            current = set(self.list_keys(prefix)) & wanted
        else:
            current = {k for k in wanted if self.exists(k)}
        left.update((k, "object") for k in current)
        folders = {k.rsplit("/", 1)[0] + "/" for k in wanted}
        for base in [prefix] if prefix is not None else sorted(folders):
            for key, version in self.versions(base):
                if key in wanted or (prefix is not None and key not in keep):
                    left.setdefault(key, f"version {version}")
            for key, _ in self._uploads(base):
                if key in wanted or prefix is not None:
                    left.setdefault(key, "unfinished multipart upload")
        return left

    def list_keys(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def delete_many(self, keys: list[str]) -> dict[str, str]:
        """Delete ``keys`` in batches (DeleteObjects takes at most 1,000), and on a versioned
        bucket every version and delete marker of them; return the errors the endpoint
        reported, per key."""
        errors: dict[str, str] = {}
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            for error in response.get("Errors", []):
                errors[error["Key"]] = f"{error.get('Code')}: {error.get('Message')}"
        if self.versioned():
            wanted = set(keys)
            for prefix in sorted({k.rsplit("/", 1)[0] + "/" for k in keys}):
                self._delete_versions(v for v in self.versions(prefix) if v[0] in wanted)
        return errors

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list_keys(prefix)
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
        return len(keys)

    def presigned_get(self, key: str, *, expires_s: int = 900) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )

    def read_range(self, key: str, range_header: str | None, *, body: bool = True) -> RangeRead:
        """Open an object for streaming, honouring an HTTP Range header (one valid range); with
        ``body=False`` only what its headers say, from the object's metadata (for a HEAD)."""
        if not body:
            return self._range_of(key, range_header)
        params = {"Bucket": self.bucket, "Key": key}
        parsed = byte_range(range_header) if range_header else (0, None)
        if parsed is None:
            raise RangeNotSatisfiable(range_header)
        start, end = parsed
        if range_header:  # as the bucket reads it, whatever spaces HTTP allowed around it
            params["Range"] = f"bytes={'' if start is None else start}-{'' if end is None else end}"
        try:
            response = self.client.get_object(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "InvalidRange":
                raise
            if start is not None or not end:
                raise RangeNotSatisfiable(range_header) from None
            # The last N bytes of an object shorter than N are all of it (RFC 9110 section
            # 14.1.2); some S3 servers refuse that range instead.
            try:
                response = self.client.get_object(**{**params, "Range": "bytes=0-"})
            except ClientError as again:
                if again.response.get("Error", {}).get("Code") == "InvalidRange":
                    raise RangeNotSatisfiable(range_header) from None
                raise
        content_range = response.get("ContentRange")
        total = int(content_range.rsplit("/", 1)[1]) if content_range else response["ContentLength"]
        return RangeRead(
            body=response["Body"],
            status=206 if content_range else 200,
            length=response["ContentLength"],
            total=total,
            content_range=content_range,
            content_type=response.get("ContentType", "application/octet-stream"),
        )

    def _range_of(self, key: str, range_header: str | None) -> RangeRead:
        head = self.client.head_object(Bucket=self.bucket, Key=key)
        total = head["ContentLength"]
        content_type = head.get("ContentType", "application/octet-stream")
        if not range_header:
            return RangeRead(None, 200, total, total, None, content_type)
        first, last = byte_span(range_header, total)
        content_range = f"bytes {first}-{last}/{total}"
        return RangeRead(None, 206, last - first + 1, total, content_range, content_type)


def bucket_probe(settings: Settings, timeout_s: float) -> Callable[[], None]:
    """A check that the bucket answers, made once: one attempt per call, each network wait
    bounded by ``timeout_s`` (the store's own client retries for minutes, which a readiness
    probe must not)."""
    client = s3_client(
        settings, max_attempts=1, connect_timeout_s=timeout_s, read_timeout_s=timeout_s
    )

    def probe() -> None:
        client.head_bucket(Bucket=settings.s3_bucket)

    return probe
