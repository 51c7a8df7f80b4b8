# Sums callgrind self cost (first event, Ir) per object file.
# Usage: awk -f libir.awk callgrind.out  ->  "<Ir> <object>" lines and "TOTAL <Ir>".
# Names are compressed: "(id) name" defines an id (in ob= or cob=), "(id)" reuses it.
function obname(s,    id, rest) {
    if (!match(s, /^\([0-9]+\)/)) return s
    id = substr(s, 1, RLENGTH); rest = substr(s, RLENGTH + 2)
    if (rest != "") name[id] = rest
    return name[id]
}
/^ob=/  { cur = obname(substr($0, 4)); next }
/^cob=/ { obname(substr($0, 5)); next }
/^calls=/ { skip = 1; next }           # the next cost line is a call's inclusive cost
/^[0-9+*-]/ {
    if (skip) { skip = 0; next }
    cost[cur] += $2; total += $2; next
}
END {
    for (o in cost) printf "%.0f %s\n", cost[o], o
    printf "TOTAL %.0f\n", total
}
