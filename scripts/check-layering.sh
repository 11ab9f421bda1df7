#!/usr/bin/env bash
# Fails, naming file, line and include, when an #include "..." in the tree
# rooted at $1 (the repository by default) crosses the dependency direction
# of DESIGN.md §2:
#   tools -> {frontend, backend} -> {hypervisor client, xenstore client} -> common
# hypervisor/protocol/ is what crosses the hypercall boundary (Xen's public
# headers), so every domain-side room may include it; the daemons' own
# rooms (hypervisor/server, xenstore/store, xenstore/server) are theirs alone.
# Every include is written from the repository root, so a quoted include
# that names no room is an error too. tests/ may include anything.
set -euo pipefail
root=${1:-"$(dirname "$0")/.."}
cd "$root"

# The rooms a file may include from, by the room it is in (first match).
rules='
common/              common
hypervisor/protocol/ common hypervisor/protocol
hypervisor/client/   common hypervisor/protocol hypervisor/client
hypervisor/          common hypervisor/protocol hypervisor/server
xenstore/store/      common xenstore/store
xenstore/client/     common hypervisor/protocol hypervisor/client xenstore/client
xenstore/            common hypervisor/protocol hypervisor/client xenstore/store xenstore/server
frontend/            common hypervisor/protocol hypervisor/client xenstore/client frontend
backend/             common hypervisor/protocol hypervisor/client xenstore/client backend
tools/               common hypervisor/protocol hypervisor/client xenstore/client frontend backend tools
'

mapfile -t files < <(find common hypervisor xenstore frontend backend tools -type f \
    \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' -o -name '*.c' \) 2>/dev/null | sort)
if [ ${#files[@]} -eq 0 ]; then
    echo "layering: no sources under $PWD"
    exit 1
fi

{ grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "${files[@]}" || true; } |
    awk -v rules="$rules" -v count=${#files[@]} '
    BEGIN {
        n = split(rules, lines, "\n")
        for (i = 1; i <= n; i++) {
            if (split(lines[i], words, " ") < 2) continue
            rooms[++r] = words[1]
            may[r] = lines[i]
            sub(/^[[:space:]]*[^[:space:]]+[[:space:]]+/, "", may[r])
        }
    }
    {
        split($0, parts, ":")
        file = parts[1]; line = parts[2]
        target = $0; sub(/^[^"]*"/, "", target); sub(/".*$/, "", target)
        for (i = 1; i <= r; i++) if (index(file, rooms[i]) == 1) break
        split(may[i], allowed, " ")
        ok = 0
        for (a in allowed) {
            if (index(target, allowed[a] "/") == 1 || index(target, allowed[a] ".") == 1) ok = 1
        }
        if (!ok) {
            printf "%s:%s: #include \"%s\" crosses the layering (DESIGN.md §2); %s may include from: %s\n",
                   file, line, target, rooms[i], may[i]
            bad = 1
        }
    }
    END {
        if (bad) exit 1
        printf "layering: %d files include only what DESIGN.md §2 allows\n", count
    }'
