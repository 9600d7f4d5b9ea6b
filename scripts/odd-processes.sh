#!/usr/bin/env bash
# Keeps processes alive that map what a real machine maps now and then, so tests that read the live
# machine run beside them (.ci/run starts this for the whole test run): a program whose build ID is
# 32 bytes, a deleted library, an ELF in a memfd, files named with spaces, " (deleted)" and a
# newline, and programs that start and exit every ODD_CHURN_MS (default 200) ms.
# Prints "ready" once all of them are mapped; stops them and removes its files on SIGTERM, SIGINT or exit.
set -euo pipefail

src="$(cd "$(dirname "$0")" && pwd)/odd-processes.c"
dir="$(mktemp -d "${TMPDIR:-/tmp}/bic-odd-XXXXXX")"
pids=()
stop() {
  trap - EXIT INT TERM
  exec 2>/dev/null # bash reports each killed child
  ((${#pids[@]})) && kill -KILL "${pids[@]}" || true
  wait || true
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# 32 bytes, where the kernel and perf keep 20.
long_id=$(printf '0123456789abcdef%.0s' 1 2 3 4)
cc -O1 -o "$dir/odd processes" "-Wl,--build-id=0x$long_id" "$src"
printf 'int odd_answer(void) { return 42; }\n' | cc -shared -fPIC -Wl,--build-id -o "$dir/libodd.so" -x c -
mkdir "$dir/awkward"

odd="$dir/odd processes"
names=()
start() {
  local name=$1
  shift
  ODD_PARENT=$$ "$odd" "$@" >"$dir/$name.out" &
  pids+=($!)
  names+=("$name")
}
cp "$dir/libodd.so" "$dir/libodd-deleted.so"
start hold hold
start deleted deleted "$dir/libodd-deleted.so"
start memfd memfd "$odd"
start awkward awkward "$dir/awkward" "$dir/libodd.so"
start churn churn "$odd" "${ODD_CHURN_MS:-200}"

deadline=$((SECONDS + 60))
for i in "${!pids[@]}"; do
  until grep -qx ready "$dir/${names[i]}.out"; do
    if ! kill -0 "${pids[i]}" 2>/dev/null || ((SECONDS > deadline)); then
      echo "odd-processes: ${names[i]} was not ready within 60 s" >&2
      exit 1
    fi
    sleep 0.05
  done
done
echo ready
echo "odd-processes: ${names[*]} as ${pids[*]} in $dir" >&2
wait
