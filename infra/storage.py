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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


class RangeNotSatisfiable(Exception):
    """The requested byte range lies outside the object."""


@dataclass(frozen=True)
class RangeRead:
    body: BinaryIO
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
        try:
            response = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        except ClientError as exc:
            # rclone's S3 server answers NoSuchUpload when the bucket has none in progress.
            if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
                return []
            raise
        return [upload["Key"] for upload in response.get("Uploads", [])]

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
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def list_keys(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def delete_many(self, keys: list[str]) -> dict[str, str]:
        """Delete ``keys`` in batches (DeleteObjects takes at most 1,000); return the errors the
        endpoint reported, per key."""
        errors: dict[str, str] = {}
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            for error in response.get("Errors", []):
                errors[error["Key"]] = f"{error.get('Code')}: {error.get('Message')}"
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

    def read_range(self, key: str, range_header: str | None) -> RangeRead:
        """Open an object for streaming, honouring an HTTP Range header (one range)."""
        params = {"Bucket": self.bucket, "Key": key}
        if range_header:
            params["Range"] = range_header
        try:
            response = self.client.get_object(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
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
