#!/usr/bin/env bash
# The whole test suite against real ffmpeg, faster-whisper, an S3 server, PostgreSQL, Redis and
# RabbitMQ, and the web pages in Debian's chromium. Starts any local service that is not answering.
# Arguments go to pytest. `scripts/test.sh --fast` is the inner loop: the tests that start no
# service and run no Whisper (pure pipeline logic, docs and layering checks), under a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fast" ]; then
  shift
  scripts/bootstrap.sh test
  exec .venv/bin/python -m pytest -m "not slow and not services" "$@"
fi
scripts/bootstrap.sh test chromium
scripts/services.sh
exec .venv/bin/python -m pytest "$@"
