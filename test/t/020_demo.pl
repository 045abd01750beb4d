# The demo (examples/demo.sh --here) against a fresh node: it runs cleanly,
# twice in a row, and reports what the README promises.
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $demo = abs_path(dirname(__FILE__) . '/../../examples/demo.sh');

my $node = PostgreSQL::Test::Cluster->new('demo');
$node->init;
$node->start;

local $ENV{PGHOST} = $node->host;
local $ENV{PGPORT} = $node->port;
local $ENV{PGDATABASE} = 'postgres';

# run_demo: the demo's standard output; fails the test on an error
sub run_demo
{
	my ($stdout, $stderr) = ('', '');
	my $ok = IPC::Run::run([ 'bash', $demo, '--here' ],
		'<', \undef, '>', \$stdout, '2>', \$stderr);
	ok($ok, 'demo exits with status 0');
	is($stderr, '', 'demo prints nothing on stderr');
	return $stdout;
}

# lines: a pattern matching these consecutive whole lines (each a regex)
sub lines
{
	my $re = join('\n', @_);
	return qr/^$re$/m;
}

my $out = run_demo();

like(
	$out,
	qr/^demo\.files: 4000 files \(ids 1\.\.4000\), 2667 csv and 1333 parquet, 1\.4 GB in all$/m,
	'sample table of 4000 files of two kinds');

# the incremental job's first run: limits close the batches, the last one
# reaches the newest file
like(
	$out,
	lines(
		'run 1 .*',
		'  batch 1 +ids +1\.\.749 +500 csv files, 110\.0 MB, ended by max_count .*',
		'  batch 2 +ids +750\.\.1220 +314 csv files, 199\.7 MB, ended by max_weight .*',
		'  batch 3 +ids 1221\.\.1250 +20 csv files, 195\.8 MB, ended by max_weight .*',
		'  batch 4 +ids 1251\.\.2000 +500 csv files, 166\.8 MB, ended by max_count .*',
		'  batch 5 +ids 2001\.\.2750 +500 csv files, 110\.2 MB, ended by max_count .*',
		'  batch 6 +ids 2751\.\.3500 +500 csv files, 110\.6 MB, ended by max_count .*',
		'  batch 7 +ids 3501\.\.4000 +333 csv files, +73\.1 MB, ended by no_more_assets .*',
		'  acquire: no rows .*'),
	'incremental run 1 cuts by max_count and max_weight up to the newest file');

# run 2 takes exactly the new csv files, run 3 finds nothing
like(
	$out,
	lines(
		'run 2 .*',
		'  batch 8 +ids 4001\.\.4300 +200 csv files, +44\.0 MB, ended by no_more_assets .*',
		'  acquire: no rows .*',
		'run 3:',
		'  acquire: no rows .*'),
	'incremental run 2 picks up the new files only, run 3 finds no work');
like(
	$out,
	qr/^  backlog of csv_ingest: 200 files, 44\.0 MB, ids 4001\.\.4300$/m,
	'backlog of the incremental job: the new csv files');
like(
	$out,
	qr/^  backlog of parquet_backfill: 1333 files, 482\.9 MB, ids 3\.\.3999$/m,
	'backlog of the backfill: its whole window');

# the command-line client takes the 80 csv files of the last 120 files
like(
	$out,
	lines(
		'  batch \d+ attempt 1: ids 4301\.\.4360, 40 assets: succeeded .*',
		'  batch \d+ attempt 1: ids 4361\.\.4420, 40 assets: succeeded .*'),
	'batchintory run processes the newest files');

# the backfill: the batch holding file 1233 fails once, then succeeds
like(
	$out,
	qr/^  worker-\d: batch (\d+) +ids 1201\.\.1350 +50 parquet files, 200\.8 MB, attempt 1 -> FAILED \(file 1233: checksum mismatch\)$(?s:.*)^  worker-\d: batch \1 +ids 1201\.\.1350 +50 parquet files, 200\.8 MB, attempt 2 -> succeeded$/m,
	'the failed batch is retried as attempt 2 and succeeds');
like(
	$out,
	lines(
		'  batch (\d+) \(ids 1201\.\.1350\) attempt 1 by worker-\d: failed \(file 1233: checksum mismatch\), config \{"schema_version": 2\}',
		'  batch \1 \(ids 1201\.\.1350\) attempt 2 by worker-\d: succeeded, config \{"schema_version": 2\}'),
	'the audit trail of file 1233 shows both attempts');
is(() = $out =~ /^  worker-\d: no work left/mg, 4, 'all four workers stop when the window is done');

like(
	$out,
	lines(
		'  csv_ingest +incremental 2947 files processed in 10 batches \(10 attempts\), all succeeded',
		' +ranges 1\.\.4420 follow each other: no gap, no overlap',
		'  parquet_backfill +backfill +1333 of 1333 files processed \(100\.0 %\) in 27 batches \(28 attempts\), all succeeded',
		' +ranges 3\.\.4000 follow each other: no gap, no overlap'),
	'both jobs done, ranges contiguous; the backfill covers its window exactly');
like(
	$out,
	lines(
		'  csv_ingest +2947 +2947 +0 +0 +2947 +0',
		'  parquet_backfill +1333 +1333 +0 +0 +1333 +0',
		'every file was processed exactly once: yes'),
	'every file processed exactly once');
like(
	$out,
	qr/^\(the 140 parquet files after id 4000 lie outside the backfill's window: untouched\)$/m,
	'files after the window are left alone');

# what the demo's output says, checked in the inventory itself
is( $node->safe_psql(
		'postgres', q{
		SELECT count(DISTINCT a.worker) > 1, count(*) FILTER (WHERE a.status = 'failed')
		FROM batchintory.attempt a
		JOIN batchintory.job j ON j.job_id = a.job_id
		WHERE j.name = 'parquet_backfill'}),
	't|1',
	'several workers shared the backfill, one attempt failed');
is( $node->safe_psql(
		'postgres', q{
		SELECT count(*) FROM demo.files f
		WHERE f.kind = 'parquet' AND f.id <= 4000
		AND (SELECT count(*) FROM batchintory.batch b
			JOIN batchintory.job j USING (job_id)
			WHERE j.name = 'parquet_backfill' AND b.status = 'succeeded'
			AND f.id BETWEEN b.first_id AND b.last_id) <> 1}),
	'0',
	'inventory: every parquet file of the window in exactly one succeeded batch');

like(
	$out,
	qr/^  \.\.\. \d+ days in all; the same as GROUP BY day over demo\.files: yes$/m,
	'the daily report on calendar windows equals a GROUP BY of the files');
like($out, qr/^  2026-01-01: 47 files, /m, 'the first day holds the files of 2026-01-01');

# --here replaces what an earlier run left behind
$out = run_demo();
like(
	$out,
	qr/^every file was processed exactly once: yes$/m,
	'a second run over the first one works the same');
is($node->safe_psql('postgres', 'SELECT count(*) FROM batchintory.job'),
	'3', 'the second run replaced the demo jobs');

$node->stop;
done_testing();
