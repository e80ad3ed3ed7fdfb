"""`spacecast worker`: Dramatiq is started with one prefetched message per thread."""

from __future__ import annotations

import os
import subprocess
import sys

# Runs `_worker` in a fresh interpreter with Dramatiq's command line replaced by one that
# reports the prefetch the real dramatiq.worker module read when it was imported.
PROBE = """
import argparse, sys, types
fake = types.ModuleType("dramatiq.cli")
def main(ns):
    import dramatiq.worker
    print(dramatiq.worker.QUEUE_PREFETCH, ns.threads)
    return 0
class Parser:
    def parse_args(self, argv):
        return argparse.Namespace(threads=int(argv[argv.index("--threads") + 1]))
fake.main, fake.make_argument_parser = main, Parser
sys.modules["dramatiq.cli"] = fake
from spacecast.cli import _worker
_worker(argparse.Namespace(processes=2, threads=int(sys.argv[1])))
"""


def _prefetch_for(threads: int) -> list[int]:
    env = {k: v for k, v in os.environ.items() if k != "dramatiq_queue_prefetch"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(threads)],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return [int(value) for value in done.stdout.split()]


def test_workers_prefetch_one_message_per_thread() -> None:
    assert _prefetch_for(1) == [1, 1]
    assert _prefetch_for(3) == [3, 3]
