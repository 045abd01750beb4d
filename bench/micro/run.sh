#!/usr/bin/env bash
# bench/micro/run.sh: how acquire + release scale with the table size N and the
# batch size, against hand-written baselines measured in the same run, and
# the plan acquire uses on the big table.  Results are ratios within one
# run on one machine; absolute numbers only mean something next to them.
#
# Usage: bench/micro/run.sh [--here] [--seconds S] [--rounds R] [--small N]
#                     [--big N] [--commit-cycles C]
#   default:     a throwaway cluster made with pg_virtualenv (Debian's
#                postgresql-common), destroyed at the end
#   --here:      the server the PG* environment variables point at; makes
#                and drops its own database ($BENCH_DB, default
#                batchintory_bench)
#   --seconds S: length of one pgbench run (3); --rounds R: runs of each
#                case, interleaved, the median is reported (3); --small N,
#                --big N: rows of the two metadata tables (10^4, 10^6);
#                --commit-cycles C: committed cycles per run (1000)
# batchintory must be installed (make install) on that server.
set -euo pipefail

usage() {
	sed -n 's/^# \{0,1\}//; 2,18p' "$0" >&2
	exit 2
}

args=("$@")
here=0
seconds=3
rounds=3
small=10000
big=1000000
commit_cycles=1000
while [ $# -gt 0 ]; do
	case $1 in
	--here) here=1 ;;
	--seconds) seconds=${2:?}; shift ;;
	--rounds) rounds=${2:?}; shift ;;
	--small) small=${2:?}; shift ;;
	--commit-cycles) commit_cycles=${2:?}; shift ;;
	--big) big=${2:?}; shift ;;
	-h | --help) usage ;;
	*) echo "bench/micro/run.sh: unrecognized argument \"$1\"" >&2; usage ;;
	esac
	shift
done
for n in "$seconds" "$rounds" "$small" "$big" "$commit_cycles"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench/micro/run.sh: \"$n\" is not a positive integer" >&2; exit 2; }
done
[ "$commit_cycles" -ge 8 ] || { echo "bench/micro/run.sh: --commit-cycles must be at least 8" >&2; exit 2; }

bench=$(cd "$(dirname "$0")" && pwd)
if [ -z "${PG_CONFIG:-}" ]; then
	PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
	[ -x "$PG_CONFIG" ] || PG_CONFIG=pg_config
fi
bindir=$("$PG_CONFIG" --bindir)

if [ "$here" = 0 ]; then
	major=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
	# -t: a temporary cluster directory even as root
	exec pg_virtualenv -t -v "$major" -o shared_buffers=256MB "$0" --here "${args[@]}"
fi

db=${BENCH_DB:-batchintory_bench}
out=$(mktemp -d /tmp/batchintory-bench.XXXXXX)
psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -At)
maintenance_db=${PGDATABASE:-postgres}

if [ -n "$("${psql[@]}" -d "$maintenance_db" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
	echo "bench/micro/run.sh: database \"$db\" exists; drop it or set BENCH_DB" >&2
	exit 1
fi
"${psql[@]}" -d "$maintenance_db" -c "CREATE DATABASE \"$db\""
drop_db() {
	"${psql[@]}" -d "$maintenance_db" -c "DROP DATABASE IF EXISTS \"$db\"" || true
}
trap drop_db EXIT

echo "== setup: files_small $small rows, files_big $big rows (logs: $out)"
start=$SECONDS
"${psql[@]}" -d "$db" -v small="$small" -v big="$big" -f "$bench/setup.sql" >"$out/setup.log" 2>&1 ||
	{ cat "$out/setup.log"; exit 1; }
echo "   $((SECONDS - start)) s; $(nproc) cores; PostgreSQL $("${psql[@]}" -d "$db" -c 'SHOW server_version');" \
	"$("${psql[@]}" -d "$db" -c "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings
		WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers')")"

# stats TABLE: "seq_scan rows_read" so far: rows_read counts index entries
# returned by its indexes plus rows read by sequential scans
stats() {
	"${psql[@]}" -F ' ' -d "$db" -c "
		SELECT t.seq_scan, t.seq_tup_read + coalesce(sum(i.idx_tup_read), 0)
		FROM pg_stat_user_tables t LEFT JOIN pg_stat_user_indexes i USING (relid)
		WHERE t.relid = '$1'::regclass GROUP BY t.seq_scan, t.seq_tup_read"
}

results="$out/results"
: >"$results"

# the runs of one round: LABEL SCRIPT TABLE CLIENTS PGBENCH-VARIABLE; a
# label ending in _writer runs writer.sql on files_big alongside
runs=(
	"small_100 acquire.sql files_small 1 job=small_100"
	"big_100 acquire.sql files_big 1 job=big_100"
	"big_100_noguard acquire.sql files_big 1 job=big_100_noguard"
	"big_100_writer acquire.sql files_big 1 job=big_100"
	"big_100_noguard_writer acquire.sql files_big 1 job=big_100_noguard"
	"big_1000 acquire.sql files_big 1 job=big_1000"
	"bookmark_100 bookmark.sql files_big 1 max_count=100"
	"bookmark_1000 bookmark.sql files_big 1 max_count=1000"
	"queue_100 queue.sql files_queue 1 max_count=100"
	"small_100 acquire.sql files_small 8 job=small_100"
	"big_100 acquire.sql files_big 8 job=big_100"
	"big_100_noguard acquire.sql files_big 8 job=big_100_noguard"
	"bookmark_100 bookmark.sql files_big 8 max_count=100"
	"queue_100 queue.sql files_queue 8 max_count=100"
)

# run LABEL SCRIPT TABLE CLIENTS VARIABLE DURATION...: one pgbench run
# (DURATION: -T seconds or -t transactions per client); records tps,
# latency, rows read from TABLE per cycle and its sequential scans meanwhile
run() {
	local label=$1 script=$2 table=$3 clients=$4 variable=$5
	shift 5
	local log="$out/$label.c$clients.$round.log"
	local before after tps lat xacts seq0 rows0 seq1 rows1 writer=""

	before=$(stats "$table")
	if [[ $label == *_writer ]]; then
		"$bindir/pgbench" -n -M prepared -f "$bench/writer.sql" -c 1 "$@" "$db" >"$log.writer" 2>&1 &
		writer=$!
	fi
	"$bindir/pgbench" -n -M prepared -r -f "$bench/$script" -D "$variable" -c "$clients" "$@" "$db" \
		>"$log" 2>&1 || { cat "$log"; exit 1; }
	if [ -n "$writer" ]; then
		wait "$writer" || { cat "$log.writer"; exit 1; }
	fi
	sleep 0.2					# let the clients' backends flush their statistics
	after=$(stats "$table")

	tps=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$log")
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$log")
	xacts=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$log")
	read -r seq0 rows0 <<<"$before"
	read -r seq1 rows1 <<<"$after"
	[ "$round" = warmup ] ||
		echo "$label $clients $tps $lat $(((rows1 - rows0) / xacts)) $((seq1 - seq0))" >>"$results"
}

echo "== pgbench -M prepared: a 1 s warm-up of each script, then $rounds rounds of"
echo "   ${seconds} s runs (every other round in reverse order); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
round=warmup
for r in "${runs[0]}" "${runs[1]}" "${runs[6]}" "${runs[8]}"; do
	# shellcheck disable=SC2086
	run $r -T 1
done
for round in $(seq "$rounds"); do
	order=("${runs[@]}")
	if [ $((round % 2)) = 0 ]; then
		order=()
		for ((i = ${#runs[@]} - 1; i >= 0; i--)); do order+=("${runs[i]}"); done
	fi
	for r in "${order[@]}"; do
		# shellcheck disable=SC2086
		run $r -T "$seconds"
	done
	echo "   round $round done; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
done

# plans JOB NAME: the plans of one acquire + release of JOB, in $out/NAME
plans() {
	"${psql[@]}" -d "$db" -v job="$1" -f "$bench/explain.sql" >"$out/$2" 2>&1 ||
		{ cat "$out/$2"; exit 1; }
}

# Committed cycles consume the job's assets and grow its inventory (B
# batches): one round of a fixed count.  First with the planner statistics
# of an empty inventory, as ANALYZE leaves them on a fresh install or after
# the rolled-back runs above (autovacuum off on the inventory, so that they
# stay); then again after ANALYZE.
inventory="batchintory.job, batchintory.batch, batchintory.attempt"
for t in job batch attempt; do
	"${psql[@]}" -d "$db" -c "ALTER TABLE batchintory.$t SET (autovacuum_enabled = off)"
done
"${psql[@]}" -d "$db" -c "ANALYZE $inventory"
round=1
run commit_stale acquire_commit.sql files_big 1 job=big_100_commit -t "$commit_cycles"
run commit_stale acquire_commit.sql files_big 8 job=big_100_commit -t $((commit_cycles / 8))
plans big_100_commit explain.stale.log
batches=$("${psql[@]}" -d "$db" -c "SELECT count(*) FROM batchintory.batch b JOIN batchintory.job j USING (job_id)
	WHERE j.name = 'big_100_commit'")
"${psql[@]}" -d "$db" -c "ANALYZE $inventory"
run commit_analyzed acquire_commit.sql files_big 1 job=big_100_commit -t "$commit_cycles"
run commit_analyzed acquire_commit.sql files_big 8 job=big_100_commit -t $((commit_cycles / 8))
plans big_100_commit explain.analyzed.log
left=$("${psql[@]}" -d "$db" -c "SELECT asset_count FROM batchintory_backlog('big_100_commit')")

# the median of each run over the rounds, with its spread (max - min) / median
summary="$out/summary"
sort -k1,1 -k2,2n -k3,3g "$results" | awk '
	function flush() {
		if (n == 0) return
		m = n % 2 ? tps[(n + 1) / 2] : (tps[n / 2] + tps[n / 2 + 1]) / 2
		printf "%s %s %.1f %.1f %.3f %s %d\n", key1, key2, m, 100 * (tps[n] - tps[1]) / m, lat, rows, seq
	}
	$1 " " $2 != key { flush(); key = $1 " " $2; key1 = $1; key2 = $2; n = 0; seq = 0 }
	{ tps[++n] = $3; lat = $4; rows = $5; seq += $6 }
	END { flush() }' >"$summary"

# value LABEL CLIENTS FIELD: from the summary (3 tps, 4 spread %, 5 latency,
# 6 rows read per cycle, 7 sequential scans in all rounds)
value() {
	awk -v l="$1" -v c="$2" -v f="$3" '$1 == l && $2 == c { print $f }' "$summary"
}
# ratio A-LABEL A-CLIENTS B-LABEL B-CLIENTS: median tps of A / that of B
ratio() {
	awk -v a="$(value "$1" "$2" 3)" -v b="$(value "$3" "$4" 3)" 'BEGIN { printf "%.2f", a / b }'
}
describe() {
	case $1 in
	small_100) echo "batchintory N=$small, max_count 100" ;;
	big_100) echo "batchintory N=$big, max_count 100" ;;
	big_100_noguard) echo "  same, late_commit_guard off" ;;
	big_100_writer) echo "  same, guard on, 1 concurrent writer" ;;
	big_100_noguard_writer) echo "  same, guard off, 1 concurrent writer" ;;
	big_1000) echo "batchintory N=$big, max_count 1000" ;;
	bookmark_100) echo "baseline bookmark, 100" ;;
	bookmark_1000) echo "baseline bookmark, 1000" ;;
	queue_100) echo "baseline SKIP LOCKED queue, 100" ;;
	commit_stale) echo "committed, inventory stats: empty" ;;
	commit_analyzed) echo "committed, inventory analyzed" ;;
	esac
}

echo
echo "== results: median tps of $rounds rounds, spread = (max - min) / median;"
echo "   one cycle = acquire + release of one batch; rows read = index entries +"
echo "   rows read sequentially from the metadata (queue) table, per cycle"
printf '%-38s %7s %8s %7s %8s %9s %9s\n' run clients tps spread "lat ms" "rows read" "seq scans"
for r in "${runs[@]::9}" "commit_stale - - 1" "commit_analyzed - - 1" \
	"${runs[@]:9}" "commit_stale - - 8" "commit_analyzed - - 8"; do
	read -r label _ _ clients _ <<<"$r"
	read -r _ _ tps spread lat rows seq <<<"$(grep "^$label $clients " "$summary")"
	printf '%-38s %7s %8.0f %6.0f%% %8.3f %9s %9s\n' "$(describe "$label")" "$clients" "$tps" "$spread" "$lat" "$rows" "$seq"
done

echo
echo "== ratios of median tps (first / second; 1.00 = the same cost)"
printf '%-58s %7s %7s\n' "" "-c 1" "-c 8"
printf '%-58s %7s %7s\n' "(1) N=$small vs N=$big (cost independent of N: ~1)" \
	"$(ratio small_100 1 big_100 1)" "$(ratio small_100 8 big_100 8)"
printf '%-58s %7s %7s\n' "(2) batchintory vs baseline bookmark" \
	"$(ratio big_100 1 bookmark_100 1)" "$(ratio big_100 8 bookmark_100 8)"
printf '%-58s %7s %7s\n' "    batchintory vs baseline SKIP LOCKED queue" \
	"$(ratio big_100 1 queue_100 1)" "$(ratio big_100 8 queue_100 8)"
printf '%-58s %7s %7s\n' "(3) batch of 100 vs 1000: batchintory" "$(ratio big_100 1 big_1000 1)" -
printf '%-58s %7s %7s\n' "    batch of 100 vs 1000: baseline bookmark" "$(ratio bookmark_100 1 bookmark_1000 1)" -
# cost model from -c 1: time per cycle = fixed + per asset * batch size
model() {
	awk -v a="$(value "$1" 1 3)" -v b="$(value "$2" 1 3)" 'BEGIN {
		t100 = 1000000 / a; t1000 = 1000000 / b; per = (t1000 - t100) / 900
		printf "%.0f us per cycle + %.2f us per asset", t100 - 100 * per, per }'
}
echo "    => batchintory: $(model big_100 big_1000)"
echo "    => bookmark:    $(model bookmark_100 bookmark_1000)"
printf '%-58s %7s %7s\n' "(4) late-commit guard off vs on" \
	"$(ratio big_100_noguard 1 big_100 1)" "$(ratio big_100_noguard 8 big_100 8)"
printf '%-58s %7s %7s\n' "    guard on vs off, with 1 concurrent writer" \
	"$(ratio big_100_writer 1 big_100_noguard_writer 1)" -
printf '%-58s %7s %7s\n' "(5) 8 clients vs 1: batchintory (one job: serialized)" - "$(ratio big_100 8 big_100 1)"
printf '%-58s %7s %7s\n' "    8 clients vs 1: baseline bookmark (one row lock)" - "$(ratio bookmark_100 8 bookmark_100 1)"
printf '%-58s %7s %7s\n' "    8 clients vs 1: baseline SKIP LOCKED queue" - "$(ratio queue_100 8 queue_100 1)"
printf '%-58s %7s %7s\n' "(6) committed (2 statements) vs rolled back (4 statements)" \
	"$(ratio commit_analyzed 1 big_100 1)" "$(ratio commit_analyzed 8 big_100 8)"
printf '%-58s %7s %7s\n' "(7) committed: inventory stats empty vs analyzed" \
	"$(ratio commit_stale 1 commit_analyzed 1)" "$(ratio commit_stale 8 commit_analyzed 8)"
if [ "${left:-0}" = 0 ]; then
	echo "WARNING: job big_100_commit ran out of assets: its runs include empty acquires"
fi

echo
# scans FILE: every scan node in FILE with the rows it returned
scans() {
	grep -Eo '(Seq|Index|Index Only|Bitmap Heap|Bitmap Index) Scan( Backward)?( using [^ ]+)? on [^ ]+.*actual rows=[0-9]+ loops=[0-9]+' "$out/$1" |
		sed -E 's/ +\(cost=[^)]*\) +\(actual (.*)/ (\1)/' | sort | uniq -c | sed 's/^/   /'
}

echo "== plans of one acquire + release (auto_explain, nested statements, 7th call)"
plans big_100 explain.log
awk '/^(psql:[^ ]* )?NOTICE:/ { if (keep) printf "%s", block; block = ""; keep = 0 }
	{ block = block $0 "\n" }
	/files_big/ { keep = 1 }
	END { if (keep) printf "%s", block }' "$out/explain.log" |
	sed -E 's/^(psql:[^ ]* )?NOTICE:  //; s/^/   /'
echo "   every scan node of that acquire + release (count, node, rows returned):"
scans explain.log
echo "   the same for job big_100_commit ($batches batches), inventory stats empty:"
scans explain.stale.log
echo "   and after ANALYZE of the inventory:"
scans explain.analyzed.log
