#!/usr/bin/env bash
# Shared by the integration tests that run `dchat testnet` (sourced, not run).
#
#   testnet_pick_base "UDP OFFSETS" "TCP OFFSETS": a port base (12000..30999) where no UDP
#     socket listens on base+each UDP offset and no TCP socket on base+each TCP offset
#     (tests and engineers share the machine); fails after 50 tries.
#   testnet_kill_children DIR: SIGKILLs the nodes `dchat testnet --dir DIR` started, by the pid
#     files in DIR/run, only when that pid still runs a command naming DIR (pid files of
#     nodes that already exited may be stale).

testnet_pick_base() {
  local udp=$1 tcp=$2 try b off used
  for try in $(seq 50); do
    b=$((12000 + RANDOM % 19000)) used=0
    for off in $udp; do ss -Hlun "sport = :$((b + off))" | grep -q . && used=1; done
    for off in $tcp; do ss -Hltn "sport = :$((b + off))" | grep -q . && used=1; done
    ((used)) || { echo "$b"; return 0; }
  done
  echo "no free port range found" >&2
  return 1
}

testnet_kill_children() {
  local dir=$1 f p
  for f in "$dir"/run/*.pid; do
    [[ -f $f ]] || continue
    p=$(cat "$f")
    grep -qs "$dir" "/proc/$p/cmdline" && kill -9 "$p" 2>/dev/null || true
  done
}
