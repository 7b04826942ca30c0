#!/usr/bin/env bash
# The test of the tidy test: run tidy.py on the deliberately bad tree under fixtures/ and its
# library, and require that it fails, naming every planted violation and nothing else.
# usage: test_tidy_fails.sh TIDY_PY FIXTURE_LIB_A
set -uo pipefail
tidy=${1:?usage: test_tidy_fails.sh TIDY_PY FIXTURE_LIB_A}
lib=${2:?usage: test_tidy_fails.sh TIDY_PY FIXTURE_LIB_A}
fixtures=$(dirname "$0")/fixtures
out=$(python3 "$tidy" --root "$fixtures" --dir dataplane --hot dataplane/io.c \
  --thread-dir dataplane --lib "dp_=$lib" --allow "$fixtures/allow.txt" 2>&1)
rc=$?
echo "$out"
fail=0
if [[ $rc -ne 1 ]]; then
  echo "tidy-fixtures: tidy exited $rc on the bad tree, wanted 1"
  fail=1
fi
expect=(
  'io.c:9: \[function-length\] seventy_one_lines\(\) is 71 lines'
  'io.c:157: \[line-length\] 110 columns'
  'io.c:5: \[assert\]'
  'io.c:155: \[assert\]'
  'io.c:156: \[hot-log\]'
  'io.c:157: \[hot-call\] malloc\(\)'
  '\[prefix\] fixture_unprefixed lacks the prefix dp_'
  'allow.txt:3: \[allow\] "function-length dataplane/io.c:no_such_function" matches nothing'
  ': 8 problem\(s\)'
)
for e in "${expect[@]}"; do
  if ! grep -qE "$e" <<<"$out"; then
    echo "tidy-fixtures: missing: $e"
    fail=1
  fi
done
# Neither the 70-line function, the prefixed symbol, nor the allow-listed header may show.
for e in 'seventy_lines' 'dp_fixture_prefixed' 'nocomment\.h'; do
  if grep -qE "$e" <<<"$out"; then
    echo "tidy-fixtures: reported but fine or allow-listed: $e"
    fail=1
  fi
done
[[ $fail -eq 0 ]] && echo "tidy-fixtures: every planted violation was caught"
exit $fail
