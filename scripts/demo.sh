#!/usr/bin/env bash
# The embedded default: a bundled sample space becomes a published episode, with no services to
# start by hand (SQLite, a local S3 server and an in-process broker). Arguments go to `spacecast demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/spacecast demo "$@"
