#!/bin/sh
# Fill fuzz/corpus/parse/ with one file per distinct record line of the shared corpus (../shared/corpus,
# beside the repository), as the seeds of the `parse` target.  Run from anywhere: paths are relative to
# this script.  Usage: fuzz/seed.sh [MAX_SEEDS]   (default 5000)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
corpus="$here/../../shared/corpus"
out="$here/corpus/parse"
max=${1:-5000}
[ -d "$corpus" ] || { echo "seed.sh: no shared corpus at $corpus" >&2; exit 1; }
mkdir -p "$out"
find "$corpus" -type f -size -4M -print0 \
    | xargs -0 grep -ah 'type=[A-Za-z0-9_]' 2>/dev/null \
    | awk 'length($0) < 8192 && !seen[$0]++' \
    | head -n "$max" \
    | split -l 1 -a 5 - "$out/line-"
echo "seed.sh: $(ls "$out" | wc -l) seeds in $out"
