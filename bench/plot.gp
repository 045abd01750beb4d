# bench/plot.gp: the PNG of bench/run.sh, from the data files it writes.
# gnuplot -e "dir='OUT'; png='FILE'; clients=8; title='...'" bench/plot.gp
#   points.dat: idx label, cycles/s (cycle bookmark floor at 1 client, then
#               at `clients`), latency ms (lookup backlog jobs status
#               cli_jobs cli_status batches_newest backlog_exact cut_peek
#               cut_sql attempts_newest cli_lookup cli_jobs_nojit
#               cli_floor), CPU µs per transaction (cycle bookmark floor
#               at 1 client, cycle bookmark at `clients`); "-" = not
#               measured
#   cycles.dat: cycle|bookmark|floor, cycles/s at 1 client fsync off, on,
#               at `clients` off, on, 1 client with a new connection per
#               cycle (jit on, off)
#   fanout.dat: n, batches/s with fsync off, on
#   failed.dat: failed batches, cycles/s, jobs view ms
#   memory.dat: kind n, peak RssAnon kB, memory contexts kB
#   old.dat:    0.1.0 figures of issue 9 (idx, jobs ms, backlog ms)
set terminal pngcairo size 2000,1350 font "DejaVu Sans,10" noenhanced
set output png
set datafile missing "-"
set multiplot layout 3,4 title title font ",13"
set grid ytics lc rgb "#dddddd"
set key outside bottom center horizontal maxrows 4 font ",8" samplen 2

set xtics rotate by -30 font ",8"
stats dir.'/points.dat' using 1 nooutput
npoints = STATS_records
set xrange [-0.5:npoints - 0.5]

# 1. observability in SQL
set title "SQL latency, one connection (ms, log; goal < 10 ms)"
set logscale y
set yrange [0.01:100000]
set format y "%g"
plot dir.'/points.dat' using 1:11:xtic(2) with linespoints pt 7 lw 2 title "jobs view", \
	'' using 1:10 with linespoints pt 5 lw 2 title "backlog estimate", \
	'' using 1:12 with linespoints pt 9 title "jobs view, one job", \
	'' using 1:9 with linespoints pt 13 title "lookup", \
	'' using 1:15 with linespoints pt 11 title "batches view, 20 newest", \
	'' using 1:19 with linespoints pt 10 title "attempts view, 20 latest", \
	'' using 1:16 with linespoints pt 3 dt 2 title "exact backlog: O(backlog)", \
	dir.'/old.dat' using 1:2 with points pt 7 ps 2 lc rgb "red" title "0.1.0 jobs view", \
	'' using 1:3 with points pt 5 ps 2 lc rgb "dark-red" title "0.1.0 backlog estimate", \
	10 with lines dt 3 lc rgb "gray" notitle

# 2. the CLI
set title "CLI wall time: new process, connection, backend (ms, log)"
set yrange [1:1000]
plot dir.'/points.dat' using 1:13:xtic(2) with linespoints pt 7 lw 2 title "batchintory jobs", \
	'' using 1:14 with linespoints pt 5 lw 2 title "batchintory status JOB", \
	'' using 1:21 with linespoints pt 6 title "batchintory jobs, jit = off", \
	'' using 1:20 with linespoints pt 9 title "batchintory lookup JOB 1", \
	'' using 1:22 with linespoints pt 4 dt 2 title "psql -c 'SELECT 1' (floor)", \
	10 with lines dt 3 lc rgb "gray" notitle
unset logscale y
set yrange [*:*]

# 3. cycles per second
set title "Cycles/s (acquire + release, committed; N:B = assets:batches)"
set yrange [0:*]
plot dir.'/points.dat' using 1:3:xtic(2) with linespoints pt 7 lw 2 title "batchintory, 1 client", \
	'' using 1:4 with linespoints pt 5 title "bookmark, 1 client", \
	'' using 1:5 with linespoints pt 9 title "floor, 1 client", \
	'' using 1:6 with linespoints pt 7 lw 2 dt 2 title sprintf("batchintory, %d clients", clients), \
	'' using 1:7 with linespoints pt 5 dt 2 title sprintf("bookmark, %d clients", clients), \
	'' using 1:8 with linespoints pt 9 dt 2 title sprintf("floor, %d clients", clients)

# 4. CPU per cycle
set title "CPU per cycle, server + pgbench (µs)"
plot dir.'/points.dat' using 1:23:xtic(2) with linespoints pt 7 lw 2 title "batchintory, 1 client", \
	'' using 1:24 with linespoints pt 5 title "bookmark, 1 client", \
	'' using 1:25 with linespoints pt 9 title "floor, 1 client", \
	'' using 1:26 with linespoints pt 7 lw 2 dt 2 title sprintf("batchintory, %d clients", clients), \
	'' using 1:27 with linespoints pt 5 dt 2 title sprintf("bookmark, %d clients", clients)

# 5. the weight-limited cut
set title "Weight-limited cut vs plain SQL, same rows (ms)"
plot dir.'/points.dat' using 1:17:xtic(2) with linespoints pt 7 lw 2 title "batchintory_peek(max_weight)", \
	'' using 1:18 with linespoints pt 5 title "SELECT count(*), sum(bytes) ... LIMIT n"
set yrange [*:*]
set xrange [*:*]
set xtics norotate font ",9"

# 6. durability
set title "Cycles/s at the last point: fsync off and on"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set yrange [0:*]
plot dir.'/cycles.dat' using 2:xtic(1) title "1 client, fsync off", \
	'' using 3 title "1 client, fsync on", \
	'' using 4 title sprintf("%d clients, fsync off", clients), \
	'' using 5 title sprintf("%d clients, fsync on", clients)

# 7. a new connection per cycle
set title "Cycles/s, a new connection per cycle (1 client)"
plot dir.'/cycles.dat' using 6:xtic(1) title "jit = on (the default)", \
	'' using 7 title "jit = off"
set style data linespoints
set yrange [*:*]

# 8. fan-out
set title sprintf("Fan-out: %d clients, one job, acquire(batches => n)", clients)
set logscale x 2
set logscale y
set format y "%g"
set xlabel "n (batches per acquire)"
set ylabel "batches/s"
plot dir.'/fanout.dat' using 1:2 with linespoints pt 7 lw 2 title "fsync = off", \
	'' using 1:3 with linespoints pt 5 lw 2 title "fsync = on, synchronous_commit = on"
unset logscale x
unset logscale y
unset xlabel
unset ylabel

# 9. memory
set title "Backend memory vs cut size"
set logscale x
set xlabel "assets in the cut"
set ylabel "MB"
set yrange [0:*]
plot dir.'/memory.dat' using ($2):(strcol(1) eq "count" ? $3 / 1024 : NaN) with linespoints pt 7 title "peak RssAnon, count-limited", \
	'' using ($2):(strcol(1) eq "count" ? $4 / 1024 : NaN) with linespoints pt 5 title "memory contexts after", \
	'' using ($2):(strcol(1) eq "weight" ? $3 / 1024 : NaN) with points pt 9 ps 2 title "peak RssAnon, weight-limited", \
	'' using ($2):(strcol(1) eq "sql" ? $3 / 1024 : NaN) with points pt 4 ps 2 title "peak RssAnon, plain SQL"
unset logscale x
unset xlabel
unset ylabel
set yrange [*:*]

# 10. permanently failed batches
set title "1 client next to permanently failed batches"
set xlabel "failed batches of the job (no attempt left)"
set ylabel "cycles/s"
set y2label "jobs view ms"
set y2tics
set yrange [0:*]
set y2range [0:*]
plot dir.'/failed.dat' using 0:2:xtic(1) with linespoints pt 7 lw 2 title "cycles/s", \
	'' using 0:3 axes x1y2 with linespoints pt 5 title "jobs view (ms, right)"
unset multiplot
