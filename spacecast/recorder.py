"""The room recorder's side of live ingest: stream an audio file to Spacecast in chunks, in real
time or faster, as a recorder follows a live room. Each chunk carries its sequence number, its
place on the track and its SHA-256; a chunk is resent until it is acknowledged (the network, the
API or its storage may be away for a while); a resumed run skips what was acknowledged before;
finishing asks Spacecast to assemble the track and check the checksum of the whole."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pipeline.chunks import RATE_HZ, pcm_chunks

RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class RecorderError(Exception):
    """Spacecast refused something the recorder cannot fix by sending it again."""


@dataclass
class RecordingReport:
    chunks: int = 0
    sent: int = 0  # chunks acknowledged during this run
    skipped: int = 0  # acknowledged by an earlier run
    resent: int = 0  # attempts repeated after an error or a refusal
    samples: int = 0
    sha256: str = ""
    track: dict | None = None
    acknowledged: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "chunks": self.chunks,
            "sent": self.sent,
            "skipped": self.skipped,
            "resent": self.resent,
            "seconds": round(self.samples / RATE_HZ, 3),
            "sha256": self.sha256,
            "track": self.track,
        }


class Recorder:
    """Sends one participant's audio to one space."""

    def __init__(
        self,
        client: httpx.Client,
        space_id: str,
        participant: str,
        *,
        give_up_after_s: float = 300.0,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.client = client
        self.base = f"/spaces/{space_id}/participants/{participant}/chunks"
        self.assemble_url = f"/spaces/{space_id}/participants/{participant}/track/assemble"
        self.participant = participant
        self.give_up_after_s = give_up_after_s
        self.log = log
        self.retries = 0  # requests repeated after a transport error or a transient status

    def _request(self, method: str, url: str, what: str, **kwargs) -> httpx.Response:
        """Retry transport errors and transient statuses with backoff; return the response."""
        deadline = time.monotonic() + self.give_up_after_s
        delay = 0.2
        while True:
            try:
                response = self.client.request(method, url, **kwargs)
                if response.status_code not in RETRY_STATUSES:
                    return response
                problem = f"{response.status_code} {response.text[:200]}"
                wait = float(response.headers.get("retry-after", delay))
            except httpx.TransportError as exc:
                problem, wait = repr(exc), delay
            if time.monotonic() + wait > deadline:
                raise RecorderError(
                    f"{what}: gave up after {self.give_up_after_s:.0f} s: {problem}"
                )
            self.log(f"{what}: {problem}; retrying in {wait:.1f} s")
            self.retries += 1
            time.sleep(wait)
            delay = min(delay * 2, 5.0)

    def acknowledged(self) -> dict[int, dict]:
        response = self._request("GET", self.base, "listing acknowledged chunks")
        if response.status_code != 200:
            raise RecorderError(f"listing chunks: {response.status_code} {response.text[:300]}")
        return {c["seq"]: c for c in response.json()["chunks"]}

    def send_chunk(self, seq: int, start_sample: int, data: bytes) -> dict:
        """Send until acknowledged; a refused checksum (the bytes changed on the way) is resent."""
        sha = hashlib.sha256(data).hexdigest()
        for _ in range(5):
            response = self._request(
                "PUT",
                f"{self.base}/{seq}",
                f"chunk {seq}",
                params={"start_sample": start_sample, "sha256": sha},
                content=data,
                headers={"content-type": "application/octet-stream"},
            )
            if response.status_code in (200, 201):
                return response.json()
            if response.status_code == 422 and "sha256 mismatch" in response.text:
                self.log(f"chunk {seq}: {response.json()['detail']}")
                self.retries += 1
                continue
            raise RecorderError(f"chunk {seq}: {response.status_code} {response.text[:300]}")
        raise RecorderError(f"chunk {seq}: refused five times: {response.text[:300]}")

    def finish(self, chunks: int, sha256: str) -> dict:
        response = self._request(
            "POST",
            self.assemble_url,
            "finishing the track",
            json={"chunks": chunks, "sha256": sha256},
            # Assembly streams the whole track through ffmpeg before answering.
            extensions={"timeout": httpx.Timeout(60, read=600).as_dict()},
        )
        if response.status_code not in (200, 201):
            raise RecorderError(f"finishing: {response.status_code} {response.text[:300]}")
        return response.json()

    def stream(
        self,
        path: Path | list[tuple[Path, float]],
        *,
        chunk_s: float = 5.0,
        speed: float | None = 1.0,
        finish: bool = True,
        on_chunk: Callable[[int, dict], None] | None = None,
    ) -> RecordingReport:
        """Send a participant's audio as chunks 0, 1, 2, ... and assemble the track.

        ``path`` is one file starting at track second 0, or segments ``[(file, at_s), ...]``:
        a participant who left and came back is one file per stretch in the room, each placed
        at the track second it started (the gaps become silence). ``speed`` 1.0 paces chunks as
        a live room produces them, 4.0 four times faster, None as fast as the API acknowledges.
        Chunks acknowledged by an earlier run are checked against the file and skipped at once;
        pacing starts with the first chunk sent.
        """
        segments = [(path, 0.0)] if isinstance(path, Path) else list(path)
        report = RecordingReport()
        done = self.acknowledged()
        digest = hashlib.sha256()
        # Pacing starts at the first chunk this run sends: chunks an earlier run had
        # acknowledged are checked and skipped without waiting.
        started: float | None = None
        origin_sample = 0
        seq = 0
        for segment, at_s in segments:
            at_sample = round(at_s * RATE_HZ)
            for position, data in pcm_chunks(
                segment, chunk_s=chunk_s, timeout_s=3600.0, label=str(segment.name)
            ):
                samples = len(data) // 2
                start_sample = at_sample + position
                sha = hashlib.sha256(data).hexdigest()
                digest.update(data)
                earlier = done.get(seq)
                if earlier is not None and earlier["sha256"] == sha:
                    report.skipped += 1
                    ack = earlier
                elif earlier is not None:
                    raise RecorderError(
                        f"chunk {seq} was acknowledged with other audio than {segment.name} "
                        "holds there"
                    )
                else:
                    if speed:  # a live room has this chunk only once its last sample was spoken
                        if started is None:
                            started, origin_sample = time.monotonic(), start_sample
                        due = started + (start_sample + samples - origin_sample) / RATE_HZ / speed
                        time.sleep(max(0.0, due - time.monotonic()))
                    ack = self.send_chunk(seq, start_sample, data)
                    report.sent += 1
                report.acknowledged.append(ack)
                if on_chunk is not None:
                    on_chunk(seq, ack)
                report.chunks += 1
                report.samples += samples
                seq += 1
        report.sha256 = digest.hexdigest()
        if finish:
            report.track = self.finish(seq, report.sha256)
        report.resent = self.retries
        return report


def main_record(args) -> int:
    """``spacecast record``: stream a file as one participant's live track."""
    import json

    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    log = (
        (lambda line: None)
        if args.quiet
        else (lambda line: print(f"record: {line}", file=sys.stderr, flush=True))
    )
    with httpx.Client(base_url=args.api, headers=headers, timeout=60) as client:
        recorder = Recorder(client, args.space, args.participant, log=log)
        report = recorder.stream(
            [_segment(value) for value in args.file],
            chunk_s=args.chunk_s,
            speed=None if args.speed == 0 else args.speed,
            finish=not args.no_finish,
            on_chunk=lambda seq, ack: log(
                f"chunk {seq} at {ack['start_s']:.3f} s acknowledged"
                + ("" if ack.get("stored", True) else " (already stored)")
            ),
        )
    print(json.dumps(report.as_dict()))
    return 0


def _segment(value: str) -> tuple[Path, float]:
    """``FILE`` or ``FILE@SECONDS`` (the track second the file starts at)."""
    name, _, at = value.rpartition("@")
    if name and at.replace(".", "", 1).isdigit():
        return Path(name), float(at)
    return Path(value), 0.0
