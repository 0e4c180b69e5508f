#!/usr/bin/env bash
# Start the frozen app offscreen, take a screenshot of every tab, run the CLI; fail on any error.
# Usage: packaging/smoke_test.sh [dist/musiclab]
set -euo pipefail
APP=${1:-dist/musiclab}
OUT=$(mktemp -d)
export QT_QPA_PLATFORM=offscreen MUSICLAB_SETTINGS="$OUT/settings.ini"
for tab in live composer stitcher emotion; do
  "$APP/musiclab" --screenshot "$OUT/$tab.png" --tab "$tab" --timeout 120
  test -s "$OUT/$tab.png"
done
"$APP/musiclab-cli" --help >/dev/null
echo "smoke test passed: screenshots in $OUT"
