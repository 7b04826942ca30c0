#!/usr/bin/env bash
# The consensus state machine is pure (STYLE.md rule 5): no allocation, clocks, randomness,
# threads, sockets or I/O. Two checks:
#  1. the sources of the pure library (consensus/ minus storage and lcore) call none of the
#     banned functions;
#  2. the built library's undefined symbols are only its own, libsodium's, a few libc memory
#     and string functions, dc_assert_fail and compiler/sanitizer runtime helpers: anything
#     else (malloc, clock_gettime, io_uring_*, pthread_*, ...) fails the test by name.
set -euo pipefail
src=${DCHAT_SOURCE_ROOT:?}/consensus
lib=${1:?usage: test_purity.sh LIBDCHAT_CONS_CORE_A}
fail=0

# Files outside the pure library: storage, and the consensus thread that drives the machine.
storage='^(wal|store|genesis|disk|datadir|exec|lcore|follow|mailbox|transport|wakeup)\.[ch]$'
banned='\b(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|dc_alloc|dc_alloc_aligned|dc_free|clock_gettime|gettimeofday|time|clock|rand|random|srand|rand_r|getrandom|randombytes_[a-z_]+|pthread_[a-z_]+|socket|open|fopen|read|write|printf|fprintf|sleep|usleep|nanosleep|dc_log)[[:space:]]*\('
for f in "$src"/*.[ch]; do
  name=$(basename "$f")
  [[ $name =~ $storage ]] && continue
  # Drop comment lines so that prose may mention the banned words.
  hits=$(grep -nE "$banned" "$f" | grep -vE '^[0-9]+:[[:space:]]*(/?\*|//)' || true)
  if [[ -n $hits ]]; then
    echo "purity: banned call in consensus/$name:"
    echo "$hits"
    fail=1
  fi
done

allowed='^(cons_[a-z0-9_]+|crypto_[a-z0-9_]+|sodium_[a-z0-9_]+|randombytes_buf_deterministic|dc_assert_fail|memcmp|memcpy|memmove|memset|strlen|__popcountdi2|__stack_chk_fail|__asan_[A-Za-z0-9_]+|__ubsan_[A-Za-z0-9_]+|__sanitizer_[A-Za-z0-9_]+|__sancov_[A-Za-z0-9_]+|_GLOBAL_OFFSET_TABLE_)$'
extra=$(nm -u "$lib" | awk 'NF==2 {print $2}' | sort -u | grep -vE "$allowed" || true)
if [[ -n $extra ]]; then
  echo "purity: the pure consensus library needs symbols it must not use:"
  echo "$extra"
  fail=1
fi
count=$(nm -u "$lib" | awk 'NF==2' | wc -l)
if [[ $count -eq 0 ]]; then
  echo "purity: no undefined symbols read from $lib: wrong file?"
  fail=1
fi
[[ $fail -eq 0 ]] && echo "purity: consensus core is pure ($count undefined references checked)"
exit $fail
