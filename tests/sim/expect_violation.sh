#!/usr/bin/env bash
# Passes only when the simulator, linked against the deliberately broken consensus library,
# reports a safety violation (agreement or double-sign) within the seed budget.
set -uo pipefail
bin=${1:?usage: expect_violation.sh CONS_SIM_BROKEN}
out=$("$bin" --scenario "${SIM_BROKEN_SCENARIO:-byzantine}" --seeds "${SIM_BROKEN_SEEDS:-2000}" 2>&1)
rc=$?
echo "$out" | tail -5
if [[ $rc -eq 1 ]] && grep -qE 'agreement|double-sign' <<<"$out"; then
  echo "expect_violation: the broken build was caught, as it must be"
  exit 0
fi
echo "expect_violation: the simulator did NOT catch the broken build (rc=$rc)" >&2
exit 1
