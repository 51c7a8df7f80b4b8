#!/usr/bin/env bash
# Runs the benchmark scenarios against two libraft.so builds, alternately, in
# the same run, and prints a table of ratios A/B (pass ours as A, upstream as
# B: a ratio below 1 means A is cheaper).
#
#   bench/compare.sh LIB_A_DIR LIB_B_DIR
#
# Per scenario:
#   * CPU time of the measured section (the bench's own clock), native runs
#     A,B,A,B,... (REPS each), best of each;
#   * instructions executed inside libraft.so itself during the measured
#     section, under callgrind (--toggle-collect=bench_measured), at smaller
#     sizes; also the whole process's instructions in that section;
#   * peak RSS and messages sent (native runs).
# Env: REPS (default 3), CALLGRIND=0 to skip callgrind, TOP=n hot functions of A
# listed per scenario (default 10), ONLY=regex of scenario
# names, OUT=dir for raw outputs (kept; callgrind files for profiles),
# BENCH=path to the bench binary (default: next to this script).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 2 ] || { echo "usage: $0 LIB_A_DIR LIB_B_DIR" >&2; exit 2; }
A=$(cd "$1" && pwd); B=$(cd "$2" && pwd)
for d in "$A" "$B"; do
    [ -e "$d/libraft.so" ] || { echo "no libraft.so in $d" >&2; exit 2; }
done
BENCH=${BENCH:-$here/bench}
[ -x "$BENCH" ] || { echo "build the benchmark first: make -C $here" >&2; exit 2; }
REPS=${REPS:-3}
CALLGRIND=${CALLGRIND:-1}
ONLY=${ONLY:-.}
OUT=${OUT:-$(mktemp -d /tmp/bench-compare.XXXXXX)}
mkdir -p "$OUT"
# The binary asks for whatever soname it was linked against (libraft.so.0
# for ours, libraft.so for upstream's): give each library both names in a
# directory of its own so LD_LIBRARY_PATH really picks it.
for side in A B; do
    src=$A; [ $side = B ] && src=$B
    mkdir -p "$OUT/lib-$side"
    ln -sf "$src/libraft.so" "$OUT/lib-$side/libraft.so"
    ln -sf "$src/libraft.so" "$OUT/lib-$side/libraft.so.0"
done
SRC_A=$A SRC_B=$B
A=$OUT/lib-A B=$OUT/lib-B

# Scenarios: name | native arguments | callgrind arguments (scenarios.txt).
mapfile -t SCENARIOS < <(grep -v '^[[:space:]]*\(#\|$\)' "$here/scenarios.txt")

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# run LIBDIR LOGFILE ARGS... -> the RESULT line (dies if verification fails)
run() {
    local lib=$1 log=$2; shift 2
    local line
    if ! LD_LIBRARY_PATH=$lib "$BENCH" "$@" >"$log" 2>&1; then
        echo "FAILED: LD_LIBRARY_PATH=$lib $BENCH $*  (see $log)" >&2
        tail -5 "$log" >&2
        return 1
    fi
    line=$(grep '^RESULT' "$log")
    case "$line" in *" lib=$lib/libraft.so"*) ;; *) echo "wrong library loaded (want $lib): $line" >&2; return 1;; esac
    echo "$line"
}

# cg LIBDIR OUTFILE ARGS... -> "<lib Ir> <total Ir> <units>"
# (valgrind names objects by their resolved path, hence readlink -f)
cg() {
    local lib=$1 out=$2; shift 2
    LD_LIBRARY_PATH=$lib valgrind --tool=callgrind --toggle-collect=bench_measured \
        --callgrind-out-file="$out" "$BENCH" "$@" >"$out.log" 2>&1 ||
        { echo "FAILED under callgrind: $*  (see $out.log)" >&2; return 1; }
    local units
    units=$(sed -n 's/^RESULT.* units=\([0-9]*\).*/\1/p' "$out.log")
    grep -q '^RESULT.* verify=ok' "$out.log" || { echo "verification failed under callgrind: $*" >&2; return 1; }
    awk -f "$here/libir.awk" "$out" |
        awk -v lib="$(readlink -f "$lib/libraft.so")" -v u="$units" \
            '$2 == lib { l += $1 } $1 == "TOTAL" { t = $2 } END { printf "%.0f %.0f %.0f\n", l, t, u }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else printf "n/a" }'; }
per() { awk -v a="$1" -v u="$2" 'BEGIN { if (u > 0) printf "%.1f", a / u; else printf "n/a" }'; }

echo "A = $SRC_A/libraft.so"
echo "B = $SRC_B/libraft.so"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1); $(date -u '+%F %T UTC')"
echo "raw outputs: $OUT"
echo
printf '%-12s %-8s | %12s %12s %7s | %11s %11s %7s | %9s %9s %6s | %9s %9s %6s | %8s %8s %6s\n' \
    scenario unit "A libIr/u" "B libIr/u" ratio "A totIr/u" "B totIr/u" ratio \
    "A ns/u" "B ns/u" ratio "A rss_kb" "B rss_kb" ratio "A msg/u" "B msg/u" ratio
fail=0
for s in "${SCENARIOS[@]}"; do
    IFS='|' read -r name nargs cargs <<<"$s"
    name=$(echo $name)
    [[ $name =~ $ONLY ]] || continue
    best_a=; best_b=; la=; lb=
    for ((i = 0; i < REPS; i++)); do
        for side in A B; do
            lib=$A; [ $side = B ] && lib=$B
            line=$(run "$lib" "$OUT/$name.$side.$i.log" $nargs) || { fail=1; continue 3; }
            cpu=$(field ns_per_unit "$line")
            if [ $side = A ]; then
                la=$line; best_a=$(awk -v x="$cpu" -v y="${best_a:-$cpu}" 'BEGIN{print (x<y)?x:y}')
            else
                lb=$line; best_b=$(awk -v x="$cpu" -v y="${best_b:-$cpu}" 'BEGIN{print (x<y)?x:y}')
            fi
        done
    done
    unit=$(field unit "$la")
    ira=n/a; irb=n/a; ta=n/a; tb=n/a; ri=n/a; rt=n/a
    if [ "$CALLGRIND" = 1 ]; then
        read -r la_ir ta_ir units_c < <(cg "$A" "$OUT/$name.A.cg" $cargs) || { fail=1; continue; }
        read -r lb_ir tb_ir units_b < <(cg "$B" "$OUT/$name.B.cg" $cargs) || { fail=1; continue; }
        [ "$units_c" = "$units_b" ] || { echo "$name: units differ ($units_c vs $units_b)" >&2; fail=1; }
        ira=$(per "$la_ir" "$units_c"); irb=$(per "$lb_ir" "$units_c"); ri=$(ratio "$la_ir" "$lb_ir")
        ta=$(per "$ta_ir" "$units_c"); tb=$(per "$tb_ir" "$units_c"); rt=$(ratio "$ta_ir" "$tb_ir")
    fi
    ra=$(field rss_kb "$la"); rb=$(field rss_kb "$lb")
    ma=$(field msgs_per_unit "$la"); mb=$(field msgs_per_unit "$lb")
    printf '%-12s %-8s | %12s %12s %7s | %11s %11s %7s | %9s %9s %6s | %9s %9s %6s | %8s %8s %6s\n' \
        "$name" "$unit" "$ira" "$irb" "$ri" "$ta" "$tb" "$rt" \
        "$best_a" "$best_b" "$(ratio "$best_a" "$best_b")" "$ra" "$rb" "$(ratio "$ra" "$rb")" \
        "$ma" "$mb" "$(ratio "$ma" "$mb")"
done
if [ "$CALLGRIND" = 1 ]; then
    # Where A spends its instructions: the top functions per scenario.
    for f in "$OUT"/*.A.cg; do
        [ -e "$f" ] || continue
        echo
        echo "== A's hottest functions in $(basename "$f" .A.cg) (self Ir, inlined code included)"
        awk -v lib="$(readlink -f "$A/libraft.so")" -v top="${TOP:-10}" -f "$here/hotfns.awk" "$f" |
            sed -e 's/<impl [^>]*<[^>]*>>:://g' -e 's/raft::core::server::[a-z_]*:://g'
    done >"$OUT/profile-A.txt"
    cat "$OUT/profile-A.txt"
fi
echo
echo "libIr/u: instructions inside libraft.so per unit (callgrind, measured section only);"
echo "totIr/u: whole process (harness + libc + library); ns/u: best CPU time of $REPS native runs;"
echo "rss_kb: peak RSS of the native run; msg/u: messages the library sent per unit. Ratios are A/B."
exit $fail
