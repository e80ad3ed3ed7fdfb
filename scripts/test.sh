#!/usr/bin/env bash
# The whole test suite against real ffmpeg, faster-whisper, an S3 server, PostgreSQL, Redis and
# RabbitMQ, and the web pages in Debian's chromium. Starts any local service that is not answering.
# Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test chromium
scripts/services.sh
exec .venv/bin/python -m pytest "$@"
