"""Local copies of bucket objects a worker reads again and again, such as the mix every clip of an
episode is cut from. Objects are immutable (their keys carry a fingerprint), so a copy never goes
stale; the least recently used copies are dropped beyond SPACECAST_CACHE_MAX_BYTES."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from infra.settings import Settings
from infra.storage import ObjectStore

_lock = threading.Lock()


def cached_object(store: ObjectStore, key: str, settings: Settings) -> Path:
    root = settings.cache_dir
    root.mkdir(parents=True, exist_ok=True)
    path = root / hashlib.sha256(key.encode()).hexdigest()[:32]
    if path.exists():
        os.utime(path)  # recently used
        return path
    partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.partial")
    store.get_file(key, partial)
    os.replace(partial, path)
    _evict(root, settings.cache_max_bytes, keep=path)
    return path


def _evict(root: Path, limit: int, *, keep: Path) -> None:
    with _lock:
        entries = [p for p in root.iterdir() if p.is_file() and not p.name.endswith(".partial")]
        total = sum(p.stat().st_size for p in entries)
        for entry in sorted(entries, key=lambda p: p.stat().st_mtime):
            if total <= limit:
                break
            if entry != keep:
                total -= entry.stat().st_size
                entry.unlink(missing_ok=True)
