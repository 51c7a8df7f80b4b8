#!/usr/bin/env bash
# Runs every scenario of scenarios.txt once (native sizes) with whatever
# libraft.so the dynamic linker picks (set LD_LIBRARY_PATH) and prints a
# short table. Stops at the first failed verification.
#   bench/run.sh [BENCH] [ONLY-regex]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BENCH=${1:-$here/bench}
ONLY=${2:-.}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
printf '%-13s %-9s %12s %10s %10s %8s %s\n' scenario unit units ns/unit msgs/unit rss_kb verify
while IFS='|' read -r name nargs _; do
    name=$(echo $name)
    [[ -z $name || $name == \#* || ! $name =~ $ONLY ]] && continue
    line=$("$BENCH" $nargs | grep '^RESULT')
    printf '%-13s %-9s %12s %10s %10s %8s %s\n' "$name" "$(field unit "$line")" \
        "$(field units "$line")" "$(field ns_per_unit "$line")" \
        "$(field msgs_per_unit "$line")" "$(field rss_kb "$line")" "$(field verify "$line")"
done <"$here/scenarios.txt"
echo "library: $(field lib "$line")"
