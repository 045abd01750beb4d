#!/usr/bin/env bash
# test/chain/stage.sh V STAGE IN OUT: one stage of the dump chain
# 15 -> 17 -> 18 (test/run --all or --chain runs it inside each version's
# chroot, as root): builds and installs this tree for PostgreSQL V, then
# runs test/chain/stage.pl (STAGE first, middle or last) reading the dump of
# the stage before from IN and writing its own to OUT.  Its last line:
# "chain stage STAGE on PostgreSQL V: N passed, N failed".
set -uo pipefail
V=$1 stage=$2 in=$3 out=$4
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/batchintory-chain.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/tree" "$out" "$in"
cp -a "$src/." "$work/tree"
chown -R postgres "$work" "$out"
chmod -R a+rX "$in"
export PG_CONFIG=/usr/lib/postgresql/$V/bin/pg_config
export PATH=/usr/lib/postgresql/$V/bin:$PATH
fail() { cat "$work/build.log" 2>/dev/null; echo "chain stage $stage on PostgreSQL $V: 0 passed, 1 failed"; exit 1; }
cd "$work/tree" || fail
{ runuser -u postgres -- make -s clean && runuser -u postgres -- make -s WERROR=1 PG_CONFIG="$PG_CONFIG" all &&
	make -s PG_CONFIG="$PG_CONFIG" install; } >"$work/build.log" 2>&1 || fail
runuser -u postgres -- env PATH="$PATH" CHAIN_STAGE="$stage" CHAIN_IN="$in" CHAIN_OUT="$out" \
	make installcheck REGRESS= ISOLATION= PROVE_TESTS=test/chain/stage.pl PG_CONFIG="$PG_CONFIG" \
	>"$work/tap.log" 2>&1
rc=$?
cat "$work/tap.log"
ok=$(grep -Eo '^Files=[0-9]+, Tests=[0-9]+' "$work/tap.log" | grep -Eo '[0-9]+$' || echo 0)
bad=$(grep -Eo 'Failed [0-9]+/[0-9]+ subtests' "$work/tap.log" | awk '{split($2,a,"/"); s+=a[1]} END {print s+0}')
ok=$(( ${ok:-0} - bad ))
if [ "$rc" != 0 ] && [ "$bad" = 0 ]; then bad=1; fi
echo "logs: $work"
echo "chain stage $stage on PostgreSQL $V: $ok passed, $bad failed"
[ "$bad" = 0 ]
