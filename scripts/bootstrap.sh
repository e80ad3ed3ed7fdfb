#!/usr/bin/env bash
# Installs what Spacecast needs on a fresh Debian/Ubuntu machine: system tools (ffmpeg, espeak-ng,
# curl, jq), a virtualenv in .venv and the project with its dev extras. Safe to run again: it only
# does what is missing or out of date.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
# The API walk-through (docs/api.md) is curl and jq in a shell.
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v jq >/dev/null 2>&1 || need_apt+=(jq)
# The default cover art draws the show title with DejaVu Sans.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || need_apt+=(fonts-dejavu-core)
for extra in "$@"; do
  case "$extra" in
    # Real recorded speech with known transcripts, for the tests: LibriVox clips (pocketsphinx
    # test data) and Asterisk's recorded prompts with their texts.
    test)
      [ -d /usr/share/pocketsphinx/test/data/librivox ] || need_apt+=(pocketsphinx-testdata)
      [ -f /usr/share/asterisk/sounds/en_US_f_Allison/demo-echotest.wav ] || need_apt+=(asterisk-core-sounds-en-wav)
      [ -f /usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz ] || need_apt+=(asterisk-core-sounds-en)
      # libfaketime: the sweeper's clock-jump tests run `spacecast sweep` with its clock moved.
      command -v faketime >/dev/null 2>&1 || need_apt+=(faketime)
      ;;
    # The browser tests drive Debian's chromium and inject axe-core, installed with npm.
    chromium)
      command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
      command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
      ;;
  esac
done
if ((${#need_apt[@]})); then
  echo "bootstrap: installing ${need_apt[*]} with apt-get" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

python_bin=${SPACECAST_PYTHON:-}
if [ -z "$python_bin" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python_bin=$candidate
      break
    fi
  done
fi
[ -n "$python_bin" ] || { echo "bootstrap: Python 3.11 or newer is required" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $python_bin" >&2
  "$python_bin" -m venv .venv
fi

# Reinstall only when the dependency list changed.
stamp=.venv/.spacecast-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing Python packages into .venv" >&2
  log=.venv/install.log
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -e ".[dev]"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "bootstrap: pip install failed (log above, also in $log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi

# axe-core for the browser tests, at the version tests/web/package-lock.json pins.
for extra in "$@"; do
  if [ "$extra" = chromium ]; then
    axe_stamp=tests/web/node_modules/.spacecast-installed
    axe_want=$(sha256sum tests/web/package-lock.json | cut -d' ' -f1)
    if [ ! -f "$axe_stamp" ] || [ "$(cat "$axe_stamp")" != "$axe_want" ]; then
      echo "bootstrap: installing axe-core into tests/web/node_modules with npm" >&2
      npm ci --prefix tests/web --no-audit --no-fund --loglevel=error >/dev/null
      echo "$axe_want" > "$axe_stamp"
    fi
  fi
done
