# Top functions by self cost (Ir) inside one object of a callgrind output,
# inlined code counted in the function it was inlined into.
# (lib matches as a prefix, so .../libraft.so also counts .../libraft.so.0)
# Usage: awk -v lib=/path/libraft.so [-v top=10] -f hotfns.awk callgrind.out
function nm(s, kind,    id, rest) {
    if (!match(s, /^\([0-9]+\)/)) return s
    id = substr(s, 1, RLENGTH); rest = substr(s, RLENGTH + 2)
    if (rest != "") names[kind, id] = rest
    return names[kind, id]
}
/^ob=/  { ob = nm(substr($0, 4), "ob"); next }
/^cob=/ { nm(substr($0, 5), "ob"); next }
/^fn=/  { fn = nm(substr($0, 4), "fn"); next }
/^cfn=/ { nm(substr($0, 5), "fn"); next }
/^calls=/ { skip = 1; next }
/^[0-9+*-]/ {
    if (skip) { skip = 0; next }
    if (index(ob, lib) == 1) { cost[fn] += $2; total += $2 }
    next
}
END {
    if (top == "") top = 10
    n = 0
    for (f in cost) { n++; fs[n] = f }
    for (i = 1; i <= n && i <= top; i++) {       # selection of the top entries
        b = i
        for (j = i + 1; j <= n; j++) if (cost[fs[j]] > cost[fs[b]]) b = j
        t = fs[i]; fs[i] = fs[b]; fs[b] = t
        printf "%12.0f %5.1f%%  %s\n", cost[fs[i]], 100 * cost[fs[i]] / total, fs[i]
    }
    printf "%12.0f 100.0%%  (all of %s)\n", total, lib
}
