#!/usr/bin/env bash
# The whole test suite against real ffmpeg, faster-whisper, an S3 server, PostgreSQL, Redis and
# RabbitMQ, and the web pages in Debian's chromium. Starts any local service that is not answering.
# Arguments go to pytest. `scripts/test.sh --fast` is the inner loop: the tests that start no
# service and run no Whisper (pure pipeline logic, docs and layering checks), under three minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fast" ]; then
  shift
  scripts/bootstrap.sh test
  exec .venv/bin/python -m pytest -m "not slow and not services" "$@"
fi
scripts/bootstrap.sh test chromium
scripts/services.sh
# Two test processes, each running whole groups of tests (tests/conftest.py says which); a
# shuffled run (--random-order) is one process, so every process would see the same order.
case " $* " in
  *" --random-order "*|*" -n "*|*" -p no:xdist "*) exec .venv/bin/python -m pytest "$@" ;;
  *) exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@" ;;
esac
