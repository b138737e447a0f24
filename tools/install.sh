#!/usr/bin/env bash
# Install sktimbre and what it needs on a fresh machine.
#   bash tools/install.sh          the package, to run it
#   bash tools/install.sh --dev    plus the test and docs tools and a browser
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# torch first and pinned: an unpinned torch pulls several GB of CUDA wheels,
# while 2.13.0 resolves to the CPU build here and satisfies setup.py's range.
"$PY" -m pip install -q torch==2.13.0
# tinysoundfont renders the default data; its declared pyaudio dependency is
# only for live playback (unused here) and does not build without PortAudio.
"$PY" -m pip install -q --no-deps "tinysoundfont>=0.3"

if [ "${1:-}" = "--dev" ]; then
  "$PY" -m pip install -q -e ".[dev]"
  # Headless Chromium opens the demo page in a browser test.
  if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] \
      && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq chromium >/dev/null) \
      || echo "chromium could not be installed; the browser test will skip"
  fi
  # The second soundfont of load_default(source="csound") and its tests.
  if [ ! -f /usr/share/sounds/sf2/sf_GMbank.sf2 ] && [ "$(id -u)" = 0 ] \
      && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq csound-soundfont >/dev/null) \
      || echo "csound-soundfont could not be installed; its tests will skip"
  fi
else
  "$PY" -m pip install -q -e .
fi
