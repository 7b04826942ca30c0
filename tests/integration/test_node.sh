#!/usr/bin/env bash
# The node runtime's promises (engine/node.c, dataplane/): one clear stderr line and a
# non-zero exit for every bad flag, an unreadable key and a port in use; loud warnings for
# --bench-skip-verify and --role validator; a subscribe is acknowledged (echoed); garbage and
# malformed frames are counted per reason; an idle relay uses ~no CPU; SIGTERM exits 0 with a
# final stats line.
#
#   python (client) --SUBSCRIBE--> relay 127.0.0.1:$port --echo--> python
#   python --garbage / bad frames--> relay            (counted in "stats: final:")
set -euo pipefail
bin=${DCHAT_BIN:?DCHAT_BIN must point at the dchat binary}
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    for f in "$tmp"/*.log; do [[ -e $f ]] && tail -n 5 "$f" >&2; done
    exit 1
}

port=$((21000 + RANDOM % 20000))
rpc=$((port + 1))
common=(--role relay --listen "127.0.0.1:$port" --rpc "127.0.0.1:$rpc" --data-dir "$tmp/data"
        --bootstrap-nodes "")

# 1. bad input: one line on stderr, exit 2 (usage) or 1 (cannot run)
expect_error() {
    local want_rc=$1 pattern=$2
    shift 2
    local rc=0
    "$bin" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    [[ $rc == "$want_rc" ]] || fail "'$*' exited $rc, want $want_rc"
    [[ $(wc -l <"$tmp/err") -eq 1 ]] ||
        fail "'$*' printed $(wc -l <"$tmp/err") lines: $(cat "$tmp/err")"
    grep -q -- "$pattern" "$tmp/err" || fail "'$*' error lacks '$pattern': $(cat "$tmp/err")"
}
expect_error 2 "--role is required" --listen 127.0.0.1:1
expect_error 2 "unknown value 'router'" --role router
expect_error 2 "unknown flag '--frobnicate'" --role relay --frobnicate
expect_error 2 "bad address '127.0.0.1:99999'" --role relay --listen 127.0.0.1:99999
expect_error 2 "bad address 'nohost'" --role relay --peers 127.0.0.1:5,nohost
expect_error 2 "'0' is not a number" --role relay --verify-workers 0
expect_error 2 "'x' is not a number" --role relay --mtu x
expect_error 2 "bad core range" --role relay --cores 3-1
expect_error 2 "core 999 is not available" --role relay --cores 0,999
expect_error 2 "unknown value 'lazy'" --role relay --poll lazy
expect_error 2 "needs a value" --role relay --listen
expect_error 2 "takes no value" --role relay --bench-skip-verify=yes
expect_error 1 "cannot use '$tmp/missing.key'" "${common[@]}" --key "$tmp/missing.key"
echo "garbage" >"$tmp/bad.key"
expect_error 1 "cannot use '$tmp/bad.key'" "${common[@]}" --key "$tmp/bad.key"
"$bin" --role relay --help | grep -q -- '--bench-skip-verify' || fail "--help lacks a flag"

# 2. a relay with warnings; wait until it listens
"$bin" keygen --out "$tmp/node.key" >/dev/null
"$bin" "${common[@]}" --key "$tmp/node.key" --bench-skip-verify --role validator \
    --stats-interval 1 2>"$tmp/relay.log" &
pids+=($!)
relay=$!
deadline=$((SECONDS + 15))
until grep -q 'listening' "$tmp/relay.log"; do
    kill -0 "$relay" 2>/dev/null || fail "relay exited at start"
    ((SECONDS < deadline)) || fail "relay did not start"
    sleep 0.1
done
grep -q 'SIGNATURES ARE NOT CHECKED' "$tmp/relay.log" || fail "no loud skip-verify warning"
grep -q 'consensus is not wired' "$tmp/relay.log" || fail "no validator warning"

# 3. the same port again: one line, exit 1
expect_error 1 "address already in use" --role relay --listen "127.0.0.1:$port" \
    --rpc "127.0.0.1:$((port + 2))" --data-dir "$tmp/data2" --bootstrap-nodes ""

# 3b. without --key the node makes one fresh identity, and discovery and RPC speak for it
"$bin" --role relay --listen "127.0.0.1:$((port + 3))" --rpc "127.0.0.1:$((port + 4))" \
    --data-dir "$tmp/data3" --bootstrap-nodes "" 2>"$tmp/nokey.log" &
pids+=($!)
deadline=$((SECONDS + 15))
until grep -q 'listening' "$tmp/nokey.log"; do
    ((SECONDS < deadline)) || fail "keyless relay did not start"
    sleep 0.1
done
logged=$(grep -o 'relay [0-9a-f]\{16\} listening' "$tmp/nokey.log" | awk '{print $2}')
served=$(curl -s --max-time 5 "http://127.0.0.1:$((port + 4))/node/info" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"][:16])')
[[ -n $logged && $logged == "$served" ]] ||
    fail "keyless node logs id '$logged' but its RPC serves '$served'"
kill "${pids[-1]}"

# 4. idle: a relay nobody talks to uses (almost) no CPU: < 0.1 s over 3 s, all threads
ticks() { awk '{print $14 + $15}' "/proc/$relay/stat"; }
t0=$(ticks)
sleep 3
t1=$(ticks)
hz=$(getconf CLK_TCK)
(( (t1 - t0) * 10 < hz )) || fail "idle relay used $((t1 - t0)) ticks of $((3 * hz)) in 3 s"

# 5. subscribe is echoed; garbage and bad frames are counted
python3 - "$port" <<'PY' || fail "subscribe/garbage client failed"
import socket, struct, sys, time
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(0.2)
def frame(recs, version=1):
    out = bytes([0x64, 0x43, version, 0]) + struct.pack(">HH", len(recs), 0)
    for t, b in recs:
        out += bytes([t, 0]) + struct.pack(">H", len(b)) + b
    return out
sub = bytes([1, 0, 0, 0]) + bytes(32)
deadline = time.time() + 10
acked = False
while time.time() < deadline and not acked:
    s.sendto(frame([(2, sub)]), ("127.0.0.1", port))
    try:
        data, _ = s.recvfrom(65536)
    except socket.timeout:
        continue
    # the echo carries the address cookie: flag 0x02 and 16 bytes after the channel
    acked = (len(data) == 8 + 4 + 52 and data[8:12] == bytes([2, 0, 0, 52]) and
             data[12:16] == bytes([1, 2, 0, 0]) and data[16:48] == bytes(32))
if not acked:
    sys.exit("no subscribe echo with a cookie")
cookie = data[48:64]
proven = sub[:1] + bytes([2]) + sub[2:] + cookie
s.sendto(frame([(2, proven)]), ("127.0.0.1", port))   # proves the address
for i in range(7):
    s.sendto(b"\xff" * (20 + i), ("127.0.0.1", port))       # bad magic
for i in range(5):
    s.sendto(frame([(2, sub)], version=9), ("127.0.0.1", port))  # bad version
for i in range(3):
    s.sendto(frame([(1, b"short")]), ("127.0.0.1", port))   # a MSG body that does not parse
s.sendto(frame([(1, bytes(200))])[:50], ("127.0.0.1", port))  # truncated
PY

# 5b. a stopped relay's socket overflows: the kernel's drops show in the relay's counters
kill -STOP "$relay"
python3 - "$port" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(40000):   # ~56 MB: far more than the socket's receive queue holds
    s.sendto(b"\xee" * 1400, ("127.0.0.1", int(sys.argv[1])))
PY
kill -CONT "$relay"
deadline=$((SECONDS + 15))
until grep -Eq 'rx_kernel_drops=[1-9]' "$tmp/relay.log"; do
    ((SECONDS < deadline)) || fail "kernel drops were not counted"
    sleep 0.2
done

# 6. SIGTERM: exit 0 and a final line with the counters
deadline=$((SECONDS + 15))
until grep -q 'bad_msg=3' "$tmp/relay.log"; do  # the periodic line shows the last datagrams
    ((SECONDS < deadline)) || fail "bad records were not counted"
    sleep 0.2
done
kill -TERM "$relay"
rc=0
wait "$relay" || rc=$?
[[ $rc == 0 ]] || fail "relay exited $rc on SIGTERM"
final=$(grep 'stats: final:' "$tmp/relay.log") || fail "no final stats line"
for want in bad_frame_magic= bad_frame_version=5 bad_msg=3 bad_frame_truncated=1 \
    rx_subscribes= subscribers=1; do
    grep -q "$want" <<<"$final" || fail "final stats lack $want: $final"
done

# 7. settings from a config file, overridden by the environment (DCHAT_PORT), as documented
cat >"$tmp/node.toml" <<TOML
[node]
role = "relay"
data_dir = "$tmp/data3"
[network]
listen_addrs = ["/ip4/127.0.0.1/udp/$((port + 3))"]
bootstrap_nodes = []
[rpc]
listen = "127.0.0.1:$((port + 4))"
[dataplane]
verify_workers = 2
TOML
DCHAT_PORT=$((port + 5)) "$bin" --config "$tmp/node.toml" 2>"$tmp/conf.log" &
pids+=($!)
deadline=$((SECONDS + 15))
until grep -q 'listening' "$tmp/conf.log"; do
    kill -0 "${pids[-1]}" 2>/dev/null || fail "relay from a config file exited at start"
    ((SECONDS < deadline)) || fail "relay from a config file did not start"
    sleep 0.1
done
grep -q "udp 127.0.0.1:$((port + 5))\|udp /ip4/127.0.0.1/udp/$((port + 5))" "$tmp/conf.log" ||
    fail "DCHAT_PORT did not replace the file's port: $(grep listening "$tmp/conf.log")"
grep -q '2 verify workers' "$tmp/conf.log" || fail "verify_workers from the file not applied"
kill -TERM "${pids[-1]}"
wait "${pids[-1]}" || fail "relay from a config file did not exit cleanly"
echo "ok"
