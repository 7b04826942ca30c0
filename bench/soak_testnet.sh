#!/usr/bin/env bash
# Soak and overload benchmark of `dchat testnet` (4 validators + 4 relays on loopback): the
# issue's promise "10 minutes at the highest rate the relays sustain, and a 2x overload
# burst: the chain never stalls (no /health 503, a block at least every
# empty_block_interval_ms); a full mempool refuses a new id in constant time, counts it".
# A benchmark, never part of `meson test`.
#
#   bench/soak_testnet.sh                        # 600 s soak, 30 s burst
#   SOAK_SECONDS=120 BURST=20 bench/soak_testnet.sh
#   bench/soak_testnet.sh --summary RESULTS_DIR  # print the summary of a finished run again
#
# Phases, each one dchat-bench run into relay 1 with the subscriber at relay 4 (--finality,
# so relay 4 follows the chain and reports where each message became final):
#   calibrate  CALIBRATE_MESSAGES (30000) with --window WINDOW (1000) and no rate cap: its
#              msgs_per_s is R, the rate the relays sustain (SOAK_RATE=R skips this phase)
#   load       --rate R --messages R*SOAK_SECONDS (default 600 s), no window
#   burst      --rate 2R --messages 2R*BURST (default 30 s), no window: overload
#   recovery   --rate R --messages R*RECOVERY (default 30 s)
# Throughout, a sampler asks every validator once a second for /health, /chain/status and
# /metrics and writes OUT/samples.csv: t_s, phase, then per validator i: vI_health (HTTP code,
# 000 = no answer within 2 s), vI_height, vI_ordered (messages_ordered), vI_pending
# (mempool_pending), vI_refused_full (ids_refused_total{reason="mempool_full"}), vI_round,
# vI_commits, vI_over1s and vI_over2_5s (commits whose commit latency exceeded 1 s / 2.5 s,
# from the dchat_consensus_commit_latency_seconds histogram). At the end it prints a summary:
# the longest time a validator's height did not move (lower and upper bound, from samples
# once a second), non-200 /health answers,
# the largest mempool_pending, ids refused because the mempool was full (in the burst and in
# all), slow commits, and per phase the bench's figures beside its libsodium single-core
# verify rate measured in the same run.
#
# Environment: SOAK_SECONDS, BURST, RECOVERY, SOAK_RATE, CALIBRATE_MESSAGES, WINDOW,
# SOAK_LOAD_WINDOW (a window for the load and recovery phases too; default none),
# FINAL_WAIT_MS (60000), BUILD_DIR (build), SOAK_OUT (results directory, default a new
# /tmp/dchat-soak.XXXXXX; kept: samples.csv, phases.tsv, bench-*.json/.err, summary.txt,
# metrics-end/ with every node's /metrics at the end, logs/ with the testnet's node logs).
# Exit status: 0 when the chain never stalled (no height still for more than STALL_LIMIT_S,
# default 3 s, nor a commit over 2.5 s), /health answered 200 every time, and every delivered
# message became final; 1 otherwise (each failure is a FINDING line) or when it could not run;
# 2 for bad settings. Every wait has a deadline; every process is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

main() {
    build=${BUILD_DIR:-build}
    bin=$build/engine/dchat
    bench=$build/bench/dchat-bench
    soak_s=${SOAK_SECONDS:-600}
    burst_s=${BURST:-30}
    recovery_s=${RECOVERY:-30}
    cal_msgs=${CALIBRATE_MESSAGES:-30000}
    window=${WINDOW:-1000}
    load_window=${SOAK_LOAD_WINDOW:-}
    final_wait=${FINAL_WAIT_MS:-60000}
    stall_limit=${STALL_LIMIT_S:-3}
    for v in soak_s burst_s recovery_s cal_msgs window final_wait stall_limit; do
        [[ ${!v} =~ ^[0-9]+$ ]] || { echo "soak_testnet.sh: $v='${!v}' is not a number" >&2; exit 2; }
    done
    [[ -z ${SOAK_RATE:-} || ${SOAK_RATE} =~ ^[1-9][0-9]*$ ]] ||
        { echo "soak_testnet.sh: SOAK_RATE='$SOAK_RATE' is not a rate" >&2; exit 2; }
    [[ -z $load_window || $load_window =~ ^[1-9][0-9]*$ ]] ||
        { echo "soak_testnet.sh: SOAK_LOAD_WINDOW='$load_window' is not a window" >&2; exit 2; }
    for t in jq curl ss timeout; do
        command -v "$t" >/dev/null || { echo "soak_testnet.sh: needs $t" >&2; exit 1; }
    done
    [[ -x $bin && -x $bench ]] || { echo "soak_testnet.sh: build first (ninja -C $build)" >&2; exit 1; }

    out=${SOAK_OUT:-$(mktemp -d /tmp/dchat-soak.XXXXXX)}
    mkdir -p "$out"
    tmp=$(mktemp -d /tmp/dchat-soak-tn.XXXXXX) # the testnet's data (block stores): removed
    tn=$tmp/tn
    testnet_pid="" sampler_pid="" bench_pid=""

    log() { echo "soak: $*" >&2; }

    stop_all() {
        local p f deadline
        for p in "$bench_pid" "$sampler_pid"; do
            [[ -n $p ]] && kill "$p" 2>/dev/null || true
        done
        if [[ -n $testnet_pid ]] && kill -0 "$testnet_pid" 2>/dev/null; then
            kill -TERM "$testnet_pid" 2>/dev/null || true
            deadline=$((SECONDS + 20)) # the testnet gives its children 10 s, then SIGKILL
            while kill -0 "$testnet_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
            kill -9 "$testnet_pid" 2>/dev/null || true
        fi
        for f in "$tn"/run/*.pid; do # children left if dchat testnet died; pid files may be stale
            [[ -f $f ]] || continue
            p=$(cat "$f")
            grep -qs "$tn" "/proc/$p/cmdline" && kill -9 "$p" 2>/dev/null || true
        done
        for p in "$bench_pid" "$sampler_pid" "$testnet_pid"; do
            [[ -n $p ]] && wait "$p" 2>/dev/null || true
        done
        if [[ -d $tn/logs ]]; then
            mkdir -p "$out/logs"
            cp "$tn"/logs/*.log "$out/logs/" 2>/dev/null || true
        fi
        mkdir -p "$out/logs"
        [[ -f $tmp/testnet.out ]] && cp "$tmp/testnet.out" "$out/logs/testnet.out" 2>/dev/null || true
        rm -rf "$tmp"
    }
    trap stop_all EXIT
    trap 'exit 130' INT TERM

    die() {
        log "$*"
        exit 1
    }

    # A port base whose ports nobody holds: UDP +0..3 validators, +10..13 relays; TCP +20..23
    # validators' RPC, +30..33 relays' RPC (as tests/integration/test_testnet.sh).
    pick_base() {
        local b off used
        for _ in $(seq 50); do
            b=$((12000 + RANDOM % 19000)) used=0
            for off in 0 1 2 3 10 11 12 13; do ss -Hlun "sport = :$((b + off))" | grep -q . && used=1; done
            for off in 20 21 22 23 30 31 32 33; do
                ss -Hltn "sport = :$((b + off))" | grep -q . && used=1
            done
            ((used)) || { echo "$b"; return; }
        done
        return 1
    }
    base=$(pick_base) || die "no free port range found"

    "$bin" testnet --dir "$tn" --base-port "$base" --relay-port $((base + 10)) \
        --rpc-port $((base + 20)) --status-interval 3600 >"$tmp/testnet.out" 2>&1 &
    testnet_pid=$!
    deadline=$((SECONDS + 90))
    until grep -qs 'nodes healthy' "$tmp/testnet.out"; do
        kill -0 "$testnet_pid" 2>/dev/null || die "dchat testnet exited during start-up: $(tail -n 3 "$tmp/testnet.out")"
        ((SECONDS < deadline)) || die "the testnet is not healthy after 90 s"
        sleep 0.2
    done
    log "testnet up: validators UDP $base..$((base + 3)), RPC $((base + 20))..$((base + 23));" \
        "relays UDP $((base + 10))..$((base + 13)); results in $out"

    # --- the sampler -------------------------------------------------------------------------
    t0=$EPOCHREALTIME
    echo idle >"$out/phase"
    sampler() {
        trap - EXIT INT TERM
        set +e
        local s=$out/.sample i t now next phase code url line deadline_s
        local -a codes hdr
        # bounded: never longer than every phase could take, however slow the bench
        deadline_s=$(( SECONDS + 3 * (soak_s + burst_s + recovery_s) + 3600 ))
        mkdir -p "$s"
        hdr=(t_s phase)
        for i in 1 2 3 4; do
            hdr+=("v${i}_health" "v${i}_height" "v${i}_ordered" "v${i}_pending" "v${i}_refused_full"
                  "v${i}_round" "v${i}_commits" "v${i}_over1s" "v${i}_over2_5s")
        done
        (IFS=,; echo "${hdr[*]}") >"$out/samples.csv"
        next=${EPOCHREALTIME%.*}
        while ((SECONDS < deadline_s)) && [[ ! -e $out/.stop ]]; do
            now=$EPOCHREALTIME
            local -a urls=()
            for i in 1 2 3 4; do
                rm -f "$s/h$i" "$s/s$i" "$s/m$i"
                urls+=(-o "$s/h$i" "http://127.0.0.1:$((base + 19 + i))/health"
                       -o "$s/s$i" "http://127.0.0.1:$((base + 19 + i))/chain/status"
                       -o "$s/m$i" "http://127.0.0.1:$((base + 19 + i))/metrics")
            done
            codes=(000 000 000 000)
            while read -r url code; do # "URL CODE" per transfer, in completion order
                [[ $url =~ :([0-9]+)/health$ ]] && codes[$((BASH_REMATCH[1] - base - 20))]=$code
            done < <(curl -s --parallel --parallel-immediate --parallel-max 12 --max-time 2 \
                        -w '%{url} %{http_code}\n' "${urls[@]}" 2>/dev/null || true)
            read -r phase <"$out/phase" || phase=unknown
            t=$(awk -v a="$now" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
            line="$t,$phase"
            for i in 1 2 3 4; do
                local st="" h="" o="" p=""
                [[ -s $s/s$i ]] && st=$(<"$s/s$i")
                [[ $st =~ \"height\":([0-9]+) ]] && h=${BASH_REMATCH[1]}
                [[ $st =~ \"messages_ordered\":([0-9]+) ]] && o=${BASH_REMATCH[1]}
                [[ $st =~ \"mempool_pending\":([0-9]+) ]] && p=${BASH_REMATCH[1]}
                line+=",${codes[$((i - 1))]},$h,$o,$p,"
                if [[ -s $s/m$i ]]; then
                    line+=$(awk '
                        /^dchat_consensus_ids_refused_total\{reason="mempool_full"\}/ { full = $2 }
                        /^dchat_consensus_round / { round = $2 }
                        /^dchat_consensus_commit_latency_seconds_bucket\{le="1"\}/ { le1 = $2 }
                        /^dchat_consensus_commit_latency_seconds_bucket\{le="2.5"\}/ { le25 = $2 }
                        /^dchat_consensus_commit_latency_seconds_count / { n = $2 }
                        END { printf "%s,%s,%s,%s,%s", full, round, n, n - le1, n - le25 }' "$s/m$i")
                else
                    line+=",,,,"
                fi
            done
            echo "$line" >>"$out/samples.csv"
            next=$((next + 1)) # once a second, on the second; skip seconds already past
            now=${EPOCHREALTIME%.*}
            ((next <= now)) && next=$((now + 1))
            sleep "$(awk -v n="$next" -v t="$EPOCHREALTIME" 'BEGIN { d = n - t; printf "%.3f", (d > 0 ? d : 0) }')"
        done
    }
    sampler &
    sampler_pid=$!

    # --- the bench phases --------------------------------------------------------------------
    printf 'phase\tstart_s\tsigned_s\tend_s\trate\tmessages\n' >"$out/phases.tsv"
    rel() { awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.3f", a - b }'; }

    # run_phase NAME MESSAGES LIMIT_S BENCH-ARGS...: one dchat-bench run; OUT/bench-NAME.json
    run_phase() {
        local name=$1 msgs=$2 limit=$3 start signed="" rc=0 deadline
        shift 3
        echo "$name" >"$out/phase"
        start=$(rel)
        log "phase $name: $msgs messages, dchat-bench $*"
        timeout --kill-after=10 "$limit" "$bench" --target "127.0.0.1:$((base + 10))" \
            --subscribe "127.0.0.1:$((base + 13))" --messages "$msgs" --finality --json \
            --warmup-ms 30000 "$@" >"$out/bench-$name.json" 2>"$out/bench-$name.err" &
        bench_pid=$!
        deadline=$((SECONDS + limit + 20))
        while kill -0 "$bench_pid" 2>/dev/null && ((SECONDS < deadline)); do
            if [[ -z $signed ]] && grep -qs '^dchat-bench: signed' "$out/bench-$name.err"; then
                signed=$(rel)
                log "phase $name: signed at +${signed}s (baseline, warm-up, then the load)"
            fi
            sleep 0.5
        done
        kill -0 "$bench_pid" 2>/dev/null && kill -9 "$bench_pid" 2>/dev/null
        wait "$bench_pid" || rc=$?
        bench_pid=""
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$start" "${signed:-$start}" "$(rel)" \
            "$(jq -r '.rate' "$out/bench-$name.json" 2>/dev/null || echo -)" "$msgs" >>"$out/phases.tsv"
        echo between >"$out/phase"
        ((rc == 0)) || die "phase $name: dchat-bench exited $rc: $(tail -n 3 "$out/bench-$name.err")"
        log "phase $name: $(jq -c '{delivered, lost, msgs_per_s, final, not_final, final_per_s,
            finality_us, verify: .baseline.verify_per_s_per_core}' "$out/bench-$name.json")"
    }
    # the bench signs on every core first (about 20,000 messages/s per idle core), then measures
    # its baselines, warms up, sends, drains and waits for FINALs: a generous limit per phase
    limit_for() { echo $(($1 / 2000 + $2 + final_wait / 1000 + 300)); }

    sleep 3 # a few samples of the idle chain first
    pace=()
    [[ -n $load_window ]] && pace=(--window "$load_window")
    if [[ -n ${SOAK_RATE:-} ]]; then
        rate=$SOAK_RATE
        log "rate R = $rate msgs/s (SOAK_RATE)"
    else
        run_phase calibrate "$cal_msgs" "$(limit_for "$cal_msgs" 120)" --window "$window" \
            --final-wait-ms "$final_wait"
        rate=$(jq -r '.msgs_per_s | floor' "$out/bench-calibrate.json")
        ((rate > 0)) || die "calibration delivered nothing"
        log "rate R = $rate msgs/s (the calibration's msgs_per_s with a window of $window)"
    fi
    run_phase load $((rate * soak_s)) "$(limit_for $((rate * soak_s)) $((2 * soak_s)))" \
        --rate "$rate" "${pace[@]}" --final-wait-ms "$final_wait"
    run_phase burst $((2 * rate * burst_s)) "$(limit_for $((2 * rate * burst_s)) $((2 * burst_s)))" \
        --rate $((2 * rate)) --final-wait-ms "$final_wait"
    run_phase recovery $((rate * recovery_s)) \
        "$(limit_for $((rate * recovery_s)) $((2 * recovery_s)))" \
        --rate "$rate" "${pace[@]}" --final-wait-ms "$final_wait"
    echo after >"$out/phase"
    sleep 3 # a few more samples: the chain goes on after the load
    touch "$out/.stop"
    deadline=$((SECONDS + 10))
    while kill -0 "$sampler_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill "$sampler_pid" 2>/dev/null || true
    wait "$sampler_pid" 2>/dev/null || true
    sampler_pid=""

    # --- the chain at the end ----------------------------------------------------------------
    nodes=""
    for i in 0 1 2 3; do nodes+="127.0.0.1:$((base + 20 + i)),127.0.0.1:$((base + 30 + i)),"; done
    agree=ok
    timeout 30 "$bin" status --nodes "${nodes%,}" >"$out/status.txt" 2>&1 || agree=FAILED
    mkdir -p "$out/metrics-end" # every node's counters at the end, for the summary and for diagnosis
    for i in 1 2 3 4; do
        curl -s --max-time 5 -o "$out/metrics-end/validator-$i.prom" "http://127.0.0.1:$((base + 19 + i))/metrics" || true
        curl -s --max-time 5 -o "$out/metrics-end/relay-$i.prom" "http://127.0.0.1:$((base + 29 + i))/metrics" || true
    done
    alive=0
    for f in "$tn"/run/*.pid; do kill -0 "$(cat "$f")" 2>/dev/null && alive=$((alive + 1)); done

    {
        echo "soak_testnet: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
        echo "settings: SOAK_SECONDS=$soak_s BURST=$burst_s RECOVERY=$recovery_s R=$rate msgs/s (burst $((2 * rate))), window ${load_window:-none} in load, final wait ${final_wait} ms"
    } >"$out/header.txt"
    echo "$agree" >"$out/agree.txt"
    echo "$alive" >"$out/alive.txt"
    summarize >"$out/summary.txt"
    cat "$out/summary.txt"
    ! grep -q '^FINDING' "$out/summary.txt"
}

# --- the summary -------------------------------------------------------------------------
# summarize: from the files in $out (also: bench/soak_testnet.sh --summary DIR)
summarize() {
    local agree alive stall_limit=${STALL_LIMIT_S:-3} f p
    agree=$(cat "$out/agree.txt" 2>/dev/null || echo '?')
    alive=$(cat "$out/alive.txt" 2>/dev/null || echo '?')
    cat "$out/header.txt"
    echo
    echo "chain (every validator, sampled once a second, $(($(wc -l <"$out/samples.csv") - 1)) samples):"
    awk -F, -v limit="$stall_limit" -v phases="$out/phases.tsv" '
        BEGIN {
            while ((getline l < phases) > 0) {
                split(l, a, "\t")
                if (a[1] == "burst") { bs = a[3]; be = a[4] }
            }
        }
        NR == 1 { next }
        {
            t = $1
            for (i = 0; i < 4; i++) {
                c = 3 + 9 * i
                code = $c; h = $(c + 1); pend = $(c + 3); full = $(c + 4)
                o1 = $(c + 7); o25 = $(c + 8)
                samples[i]++
                if (code != "200") { bad[i]++; badcodes[i] = badcodes[i] " " code "@" t }
                if (h != "") {
                    if (!(i in last_h) || h + 0 > last_h[i] + 0) {
                        # the previous head stood at most from the sample before it was seen
                        if ((i in last_h) && t - before[i] > upper[i]) { upper[i] = t - before[i]; upper_h[i] = last_h[i] }
                        before[i] = (i in prev_t) ? prev_t[i] : t
                        last_h[i] = h; moved[i] = t
                    }
                    still = t - moved[i]
                    if (still > stall[i]) { stall[i] = still; stall_at[i] = moved[i]; stall_h[i] = h }
                    prev_t[i] = t
                }
                if (pend != "" && pend + 0 > maxpend[i]) { maxpend[i] = pend + 0; maxpend_t[i] = t }
                if (full != "") {
                    if (!(i in full0)) full0[i] = full
                    fullN[i] = full
                    if (bs != "" && t >= bs && t <= be + 5) {
                        if (!(i in fullb0)) fullb0[i] = full
                        fullbN[i] = full
                    }
                }
                if (o1 != "") { if (!(i in o1_0)) o1_0[i] = o1; over1[i] = o1 - o1_0[i] }
                if (o25 != "") { if (!(i in o25_0)) o25_0[i] = o25; over25[i] = o25 - o25_0[i] }
            }
        }
        END {
            worst = 0; nbad = 0; tot_full = 0; tot_fullb = 0
            for (i = 0; i < 4; i++) {
                printf "  validator %d: height %s, longest still >= %.1f s (height %s from t=%.0f s) and <= %.1f s (height %s), /health non-200 %d of %d%s, max mempool_pending %d (t=%.0f s), ids refused mempool_full %d (%d in the burst), commits over 1 s %d, over 2.5 s %d\n",
                    i + 1, last_h[i], stall[i], (stall_h[i] == "" ? "-" : stall_h[i]), stall_at[i], upper[i], (upper_h[i] == "" ? "-" : upper_h[i]), bad[i], samples[i],
                    (bad[i] ? " [" substr(badcodes[i], 2, 200) "]" : ""), maxpend[i], maxpend_t[i],
                    fullN[i] - full0[i], fullbN[i] - fullb0[i], over1[i], over25[i]
                if (stall[i] > worst) worst = stall[i]
                if (upper[i] > worst_up) worst_up = upper[i]
                nbad += bad[i]; tot_full += fullN[i] - full0[i]; tot_fullb += fullbN[i] - fullb0[i]
                if (over25[i] > slow) slow = over25[i]
                if (maxpend[i] > mp) mp = maxpend[i]
            }
            printf "  longest time a validator height did not move: at least %.1f s, at most %.1f s (two samples at one height / the samples around it; sampled once a second; the heartbeat is empty_block_interval_ms = 1000)\n", worst, worst_up
            printf "  /health non-200 answers: %d; max mempool_pending: %d; ids refused mempool_full: %d (%d in the burst: the counter %s)\n",
                nbad, mp, tot_full, tot_fullb, (tot_fullb > 0 ? "moved" : "did not move")
            if (worst > limit) printf "FINDING: a validator height stood still for %.1f s (> %d s)\n", worst, limit
            if (slow > 0) printf "FINDING: %d commits took more than 2.5 s on one validator\n", slow
            if (nbad > 0) printf "FINDING: %d /health answers were not 200\n", nbad
        }' "$out/samples.csv"
    echo "  per phase (the sampler's phase column; between = a bench signing, measuring its baselines or draining):"
    awk -F, '
        NR == 1 { next }
        {
            p = $2
            if (!(p in n)) { order[++np] = p }
            n[p]++
            for (i = 0; i < 4; i++) {
                c = 3 + 9 * i
                if ($c != "200") bad[p]++
                h = $(c + 1)
                if (h != "") {
                    if (!(i in lh) || h + 0 > lh[i] + 0) { lh[i] = h; mv[i] = $1 }
                    if ($1 - mv[i] > still[p]) still[p] = $1 - mv[i]
                    if (!((p, i) in h0)) h0[p, i] = h
                    h1[p, i] = h
                }
                if ($(c + 3) + 0 > mp[p]) mp[p] = $(c + 3) + 0
                if ($(c + 4) != "") {
                    if (i in pf) full[p] += $(c + 4) - pf[i]
                    pf[i] = $(c + 4)
                }
                if ($(c + 8) != "") {
                    if (i in ps) slowpi[p, i] += $(c + 8) - ps[i]
                    ps[i] = $(c + 8)
                }
            }
        }
        END {
            for (k = 1; k <= np; k++) {
                p = order[k]; blocks = 0
                for (i = 0; i < 4; i++) {
                    if (h1[p, i] - h0[p, i] > blocks) blocks = h1[p, i] - h0[p, i]
                    if (slowpi[p, i] > slow[p]) slow[p] = slowpi[p, i]
                }
                printf "    %-9s %4d samples: %5d blocks, longest still >= %.1f s, commits over 2.5 s %d, max mempool_pending %6d, refused mempool_full %d, /health non-200 %d\n",
                    p, n[p], blocks, still[p], slow[p], mp[p], full[p], bad[p]
            }
        }' "$out/samples.csv"
    echo "  dataplane counters at the end (drops: every nonzero dchat_dp_drop_*/dropped counter):"
    for f in "$out"/metrics-end/validator-*.prom "$out"/metrics-end/relay-*.prom; do
        [[ -s $f ]] || continue
        awk -v node="$(basename "$f" .prom)" '
            /^dchat_dp_rx_msgs_total / { rx = $2 }
            /^dchat_dp_cons_ids_total / { cons = $2 }
            /^dchat_dp_final_ids_total / { fin = $2 }
            /^dchat_dp_final_waiting_total / { wait = $2 }
            /^dchat_dp_(drop_[a-z_]+|dropped|[a-z_]*drops)_total / && $2 > 0 { drops = drops " " substr($1, 10) "=" $2 }
            END {
                printf "    %-12s rx_msgs %s", node, rx
                if (node ~ /^validator/) printf ", cons_ids %s", cons
                if (node ~ /^relay/) printf ", final_ids %s, final_waiting %s", fin, wait
                printf "%s\n", (drops == "" ? "" : ";" drops)
            }' "$f"
    done
    echo "  at the end: dchat status $agree ($(tail -n 1 "$out/status.txt")); $alive of 8 nodes alive"
    [[ $agree == ok ]] || echo "FINDING: the nodes do not agree at the end (or one is down)"
    [[ $alive == 8 ]] || echo "FINDING: only $alive of 8 nodes are alive at the end"
    echo
    echo "bench per phase (libsodium verify on one core: the bench's own baseline, same run):"
    printf '  %-9s %8s %9s %7s %9s %8s %8s %9s %7s %18s %9s %7s %7s\n' phase rate sent lost \
        msgs_per_s final not_final final/s fin/msg "finality p50/p99/max ms" verify/s \
        msg/vfy fin/vfy
    for p in calibrate load burst recovery; do
        f=$out/bench-$p.json
        [[ -s $f ]] || continue
        jq -r --arg p "$p" '
            def r(x): (x * 1000 | round) / 1000;
            [$p, (if .rate == 0 then "window" else .rate end), .sent, .lost, .msgs_per_s, .final,
             .not_final, .final_per_s,
             (if .msgs_per_s > 0 then r(.final_per_s / .msgs_per_s) else "-" end),
             "\(.finality_us.p50 / 1000 | round)/\(.finality_us.p99 / 1000 | round)/\(.finality_us.max / 1000 | round)",
             .baseline.verify_per_s_per_core,
             r(.ratios.vs_verify_core),
             (if .baseline.verify_per_s_per_core > 0 then r(.final_per_s / .baseline.verify_per_s_per_core) else "-" end)]
            | @tsv' "$f" |
            awk -F'\t' '{ printf "  %-9s %8s %9s %7s %9.0f %8s %8s %9.0f %7s %18s %9.0f %7s %7s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 }'
        jq -e '.not_final == 0 or .final >= .delivered' "$f" >/dev/null ||
            echo "FINDING: phase $p: $(jq -r '.delivered - .final' "$f") delivered messages were never reported final"
        jq -e '.final_conflicts == 0 and .final_invalid == 0' "$f" >/dev/null ||
            echo "FINDING: phase $p: final_conflicts $(jq .final_conflicts "$f"), final_invalid $(jq .final_invalid "$f")"
    done
    echo "  (msg/vfy = msgs_per_s / verify/s, fin/vfy = final_per_s / verify/s, fin/msg = final_per_s / msgs_per_s)"
    echo
    echo "files: $out (samples.csv, phases.tsv, bench-*.json, metrics-end/, logs/)"
}

if [[ ${1:-} == --summary ]]; then
    [[ -d ${2:-} && -f $2/samples.csv ]] || { echo "usage: $0 --summary RESULTS_DIR" >&2; exit 2; }
    out=$2
    summarize
    ! grep -q '^FINDING' < <(summarize)
    exit
fi
main "$@"
