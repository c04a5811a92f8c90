# Resident memory of a running server by kind of mapping, for docs/performance.md:
#   awk -f tests/load/smaps.awk /proc/$(pgrep -f 'healthcare serve')/smaps | sort -rn
# "binary" is the executable's own pages (code and constants, read from the file), "malloc
# arenas" the anonymous mappings glibc's allocator carves from its 64 MB-aligned heaps (one
# per thread that allocated, up to 8 per core), "thread stacks" the touched part of each
# thread's stack (2 MB or 8 MB mappings). Needs gawk (strtonum).
/^[0-9a-f]+-[0-9a-f]+ / {
    split($1, range, "-")
    kib = (strtonum("0x" range[2]) - strtonum("0x" range[1])) / 1024
    file = $6
    stack = (kib == 2048 || kib == 8192)
}
/^Rss:/ {
    if (file ~ /healthcare/) kind = "binary"
    else if (file == "[heap]") kind = "main heap"
    else if (file != "") kind = file
    else if (stack) kind = "thread stacks"
    else kind = "malloc arenas and other anonymous"
    rss[kind] += $2
    maps[kind]++
    total += $2
}
END {
    for (kind in rss) if (rss[kind] >= 100) printf "%8d kB  %4d mappings  %s\n", rss[kind], maps[kind], kind
    printf "%8d kB  total\n", total
}
