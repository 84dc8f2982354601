#!/usr/bin/env bash
# make bench: runs each benchmark's make target one after another (they share
# the machine's two cores; two at once would measure each other), keeps its
# output in DIR/TARGET.log and its exit code in DIR/TARGET.rc, then prints the
# one table of every figure beside its target (hack/bench-table) and writes
# it as Markdown to DIR/table.md for CI's step summary. A benchmark that fails
# does not stop the others; it shows in the table, and the exit code is 1.
#
#   hack/bench.sh DIR TARGET...
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
dir=$1
shift
rm -rf "$dir" && mkdir -p "$dir"
for t in "$@"; do
	echo "$t" >>"$dir/order"
	echo "══ make $t"
	"${MAKE:-make}" --no-print-directory "$t" 2>&1 | tee "$dir/$t.log"
	echo "${PIPESTATUS[0]}" >"$dir/$t.rc"
done
echo
echo "══ make bench: every figure beside its target"
go run ./hack/bench-table -markdown "$dir" >"$dir/table.md"
go run ./hack/bench-table "$dir" | tee "$dir/table.txt"
exit "${PIPESTATUS[0]}"
