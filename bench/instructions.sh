#!/usr/bin/env bash
# bench/instructions.sh: instructions per acquire + release cycle, and per
# cycle of the hand-written bookmark, counted by valgrind's callgrind in a
# single-user backend -- the same figures whatever else the machine does,
# so that two builds (install one, run, install the other, run) compare to
# the instruction.  One cycle: one statement, acquire of 100 assets and its
# release, in one transaction; bookmark: bench/scale/bookmark.sql's three
# statements, in one function call (one transaction).  Each figure is the
# difference of a run of M + N cycles and one of M cycles, over N: the
# start of the backend and the first cycles (plans, caches) cancel out.
#
# Usage: bench/instructions.sh [--cycles N] [--warm M]   (as root or as the
#        postgres user; batchintory installed in the server on PATH)
set -euo pipefail
cycles=1000
warm=200
while [ $# -gt 0 ]; do
	case $1 in
	--cycles) cycles=${2:?}; shift ;;
	--warm) warm=${2:?}; shift ;;
	*) sed -n 's/^# \{0,1\}//; 2,14p' "$0" >&2; exit 2 ;;
	esac
	shift
done
command -v valgrind >/dev/null || { echo "bench/instructions.sh: valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
bindir=$(pg_config --bindir)
dir=$(mktemp -d /tmp/batchintory-instructions.XXXXXX)
as_pg=()
[ "$(id -u)" = 0 ] && { chown postgres "$dir"; as_pg=(runuser -u postgres --); }
trap 'rm -rf "$dir"' EXIT
"${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -A trust >/dev/null

single() {	# single FILE: run FILE's lines in a single-user backend
	"${as_pg[@]}" "$bindir/postgres" --single -D "$dir/data" postgres <"$1"
}
{
	cat <<'SQL'
CREATE EXTENSION batchintory;
CREATE TABLE files (id bigserial PRIMARY KEY, bytes bigint);
INSERT INTO files (bytes) SELECT 1 FROM generate_series(1, 1000000);
SELECT batchintory_register('j', 'files', 'id', 'bytes', max_count => 100, late_commit_guard => false);
CREATE TABLE bookmark (consumer text PRIMARY KEY, last_id bigint NOT NULL);
INSERT INTO bookmark VALUES ('c', 0);
CREATE FUNCTION bookmark_cycle() RETURNS void LANGUAGE plpgsql AS $f$ DECLARE last bigint; r record; BEGIN SELECT last_id INTO last FROM bookmark WHERE consumer = 'c' FOR UPDATE; SELECT min(id) AS first_id, max(id) AS last_id, count(*) AS n, sum(bytes) AS weight INTO r FROM (SELECT id, bytes FROM files WHERE id > last ORDER BY id LIMIT 100) s; UPDATE bookmark SET last_id = r.last_id WHERE consumer = 'c'; END $f$;
VACUUM ANALYZE;
SQL
} >"$dir/setup.sql"
single "$dir/setup.sql" >/dev/null 2>&1

count() {	# count STATEMENT N: instructions of a backend running STATEMENT N times
	local f="$dir/run-$RANDOM.sql"
	for _ in $(seq 1 "$2"); do echo "$1"; done >"$f"
	"${as_pg[@]}" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		"$bindir/postgres" --single -D "$dir/data" postgres <"$f" 2>&1 >/dev/null |
		sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_cycle() {	# per_cycle STATEMENT
	local a b
	a=$(count "$1" "$warm")
	b=$(count "$1" $((warm + cycles)))
	echo $(((b - a) / cycles))
}
cycle=$(per_cycle "SELECT batchintory_release(batch, attempt, 'succeeded') FROM batchintory_acquire('j');")
bookmark=$(per_cycle "SELECT bookmark_cycle();")
echo "instructions per cycle: acquire + release $cycle, bookmark $bookmark;" \
	"cycle / bookmark $(awk -v c="$cycle" -v b="$bookmark" 'BEGIN { printf "%.3f", c / b }')"
