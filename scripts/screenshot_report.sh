#!/bin/sh
# Renders an HTML report (or any HTML/SVG file) to a PNG with headless Chromium, so a report
# can be checked as a browser shows it.
#
#   scripts/screenshot_report.sh runs/compare/report.html report.png [WIDTH] [HEIGHT]
#
# Needs the Debian package `chromium` (apt-get install chromium). The page is loaded from
# disk with networking disabled, so a report that needs external assets shows it.
set -eu
if [ $# -lt 2 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH] [HEIGHT]" >&2
    exit 2
fi
input=$1
output=$2
width=${3:-1280}
height=${4:-}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    echo "chromium not found: install it with 'apt-get install chromium'" >&2
    exit 1
fi
[ -f "$input" ] || { echo "no file at $input" >&2; exit 1; }
abs_input=$(cd "$(dirname "$input")" && pwd)/$(basename "$input")
case "$output" in /*) abs_output=$output ;; *) abs_output=$(pwd)/$output ;; esac
if [ -z "$height" ]; then
    # Tall enough for the whole report: ~ one pixel per 22 bytes of SVG/HTML, clamped.
    bytes=$(wc -c < "$abs_input")
    height=$(( bytes / 22 ))
    [ "$height" -lt 1000 ] && height=1000
    [ "$height" -gt 9000 ] && height=9000
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
    --proxy-server="127.0.0.1:9" --proxy-bypass-list="<-loopback>" \
    --window-size="$width,$height" --screenshot="$abs_output" "file://$abs_input" >/dev/null 2>&1
[ -s "$abs_output" ] || { echo "no screenshot written" >&2; exit 1; }
echo "$abs_output (${width}x${height})"
