# The command-line client batchintory, installed on PATH: every command,
# its output (tables and JSON Lines), its exit codes, and run with commands
# that succeed, fail, and outlive their lease thanks to heartbeats.
use strict;
use warnings;

use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cli');
$node->init;
$node->start;

$ENV{PGHOST} = $node->host;
$ENV{PGPORT} = $node->port;
$ENV{PGDATABASE} = 'postgres';

# ids 1..30; the even ones are csv files of id * 10 bytes
$node->safe_psql('postgres', q{
	CREATE EXTENSION batchintory;
	CREATE TABLE files (id bigserial PRIMARY KEY, kind text NOT NULL, bytes bigint);
	INSERT INTO files (kind, bytes)
	SELECT CASE WHEN i % 2 = 0 THEN 'csv' ELSE 'json' END, i * 10
	FROM generate_series(1, 30) i;
	ANALYZE files;
});

# batchintory ARGS...: (exit code, stdout, stderr)
sub cli
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'batchintory', @_ ], '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# the objects of JSON Lines output
sub json_lines
{
	my ($text) = @_;
	return [ map { decode_json($_) } split /\n/, $text ];
}

sub sql
{
	return $node->safe_psql('postgres', shift);
}

my ($rc, $out, $err, $rows);

# --- usage errors: exit code 2 -------------------------------------------

($rc, $out, $err) = cli();
is($rc, 2, 'no command: exit 2');
like($err, qr/^batchintory: no command given$/m, 'no command: message');

($rc, $out, $err) = cli('frobnicate');
is($rc, 2, 'unknown command: exit 2');
like($err, qr/unrecognized command "frobnicate"/, 'unknown command: message');

($rc, $out, $err) = cli('acquire', 'csv', '--max-count', 'ten');
is($rc, 2, 'bad number: exit 2');
like($err, qr/invalid value "ten" for --max-count: must be an integer/,
	'bad number: message');

($rc, $out, $err) = cli('acquire', 'csv', '--bogus');
is($rc, 2, 'unknown option: exit 2');
like($err, qr/unrecognized option "--bogus" for command acquire/,
	'unknown option: message');

($rc, $out, $err) = cli('register', 'csv', '--table', 'files');
is($rc, 2, 'missing required option: exit 2');
like($err, qr/option "--id-column" is required/, 'missing option: message');

($rc, $out, $err) = cli('run', 'csv', '--', );
is($rc, 2, 'run without a command: exit 2');
like($err, qr/missing command to run after "--"/, 'run without a command: message');

($rc, $out, $err) = cli('run', 'csv', '--iterations', '0', '--', 'true');
is($rc, 2, 'run --iterations 0: exit 2');

($rc, $out, $err) = cli('--help');
is($rc, 0, '--help: exit 0');
like($out, qr/^  run +acquire, run COMMAND on each batch/m, '--help lists the commands');

($rc, $out, $err) = cli('register', '--help');
like($out, qr/--upper-bound ID +last key of the window/, 'register --help lists its options');

# --- register, jobs ------------------------------------------------------

($rc, $out, $err) = cli('register', 'csv', '--table', 'files',
	'--id-column', 'id', '--weight-column', 'bytes', '--filter', "kind = 'csv'",
	'--upper-bound', '20', '--max-count', '3', '--config', '{"format": "csv"}');
is($rc, 0, 'register: exit 0');
like($out, qr/^job +source +kind +frontier +processed +total +progress_pct/,
	'register shows the job: header');
like($out, qr/^csv +files +backfill +0 +10 +0\.0 +0 +0 +0 +0$/m,
	'register shows the job: a backfill of 10 assets');
is( sql(q{SELECT source, id_column, weight_column, filter, upper_bound,
	max_count, max_attempts, lease, config FROM batchintory.job WHERE name = 'csv'}),
	q(files|id|bytes|(kind = 'csv'::text)|20|3|3|01:00:00|{"format": "csv"}),
	'register: options set their SQL arguments, the others their defaults');

($rc, $out, $err) = cli('register', 'csv', '--table', 'files', '--id-column', 'id');
is($rc, 3, 'register an existing job: exit 3');
like($err, qr/^batchintory: ERROR: job "csv" already exists$/m,
	'register an existing job: server error');

($rc, $out, $err) = cli('register', 'bad', '--table', 'files',
	'--id-column', 'id', '--filter', 'no_such_column > 1');
is($rc, 3, 'SQL error: exit 3');
like($err, qr/^batchintory: ERROR: .*no_such_column/m, 'SQL error: message');

($rc, $out, $err) = cli('register', 'bad', '--table', 'no_such_table',
	'--id-column', 'id');
is($rc, 3, 'unknown table: exit 3');
like($err, qr/^batchintory: ERROR: relation "no_such_table" does not exist$/m,
	'unknown table: message');

# --- acquire, release, heartbeat -----------------------------------------

($rc, $out, $err) = cli('acquire', 'csv', '--worker', 'w1');
is($rc, 0, 'acquire: exit 0');
like($out, qr/^batch +attempt +job +first_id +last_id +asset_count +weight +ended_by +lease_until +config\n-----/,
	'acquire: table header');
like($out, qr/^ +1 +1 +csv +2 +6 +3 +120 +max_count +\d{4}-\S+ \S+ +\{"format": "csv"\}$/m,
	'acquire: batch 1 holds ids 2..6');

($rc, $out, $err) = cli('--json', 'acquire', 'csv', '--batches', '3');
is($rc, 0, 'acquire --batches 3: exit 0');
$rows = json_lines($out);
is(scalar @$rows, 3, 'acquire --json: one object per batch');
is_deeply(
	[ map { [ @$_{qw(batch attempt first_id last_id asset_count weight ended_by)} ] } @$rows ],
	[ [ 2, 1, 7, 12, 3, 300, 'max_count' ],
	  [ 3, 1, 13, 18, 3, 480, 'max_count' ],
	  [ 4, 1, 19, 20, 1, 200, 'window' ] ],
	'acquire --json: batches 2..4 up to the end of the window');
is_deeply($rows->[0]{config}, { format => 'csv' }, 'acquire --json: config is JSON');

($rc, $out, $err) = cli('acquire', 'csv');
is($rc, 1, 'acquire with no work: exit 1');
is($out, qq(no batch available for job "csv"\n), 'acquire with no work: message');
($rc, $out, $err) = cli('acquire', 'csv', '--json');
is($rc, 1, 'acquire --json with no work: exit 1');
is($out, '', 'acquire --json with no work: no output');

($rc, $out, $err) = cli('release', '1', '1', 'succeeded');
is($rc, 0, 'release: exit 0');
like($out, qr/^ +1 +1 +succeeded$/m, 'release: shows the batch');
($rc, $out, $err) = cli('--json', 'release', '2', '1', 'succeeded');
is_deeply(json_lines($out), [ { batch => 2, attempt => 1, status => 'succeeded' } ],
	'release --json');
($rc, $out, $err) = cli('release', '3', '1', 'failed', '--message', "bad \"row\"\n\tat 14");
is($rc, 0, 'release failed with a message: exit 0');

($rc, $out, $err) = cli('release', '1', '1', 'failed');
is($rc, 3, 'release twice: exit 3');
like($err, qr/^batchintory: ERROR: attempt 1 of batch 1 was already released\nDETAIL: It ended as "succeeded"\.$/m,
	'release twice: error with detail');

($rc, $out, $err) = cli('release', '4', '1', 'done');
is($rc, 3, 'release with an invalid status: exit 3');
like($err, qr/ERROR: invalid status "done"\nHINT: /, 'invalid status: error with hint');

my $lease = sql(q{SELECT lease_until FROM batchintory.batch WHERE batch_id = 4});
($rc, $out, $err) = cli('heartbeat', '4', '1', '--json');
is($rc, 0, 'heartbeat: exit 0');
$rows = json_lines($out);
is_deeply([ @{ $rows->[0] }{qw(batch attempt)} ], [ 4, 1 ], 'heartbeat --json: batch and attempt');
is($rows->[0]{lease_until}, sql(q{SELECT lease_until FROM batchintory.batch WHERE batch_id = 4}),
	'heartbeat: reports the new lease end');
is(sql(qq{SELECT lease_until > '$lease' FROM batchintory.batch WHERE batch_id = 4}), 't',
	'heartbeat: lease extended');
($rc, $out, $err) = cli('heartbeat', '1', '1');
is($rc, 3, 'heartbeat of a released attempt: exit 3');

# --- backlog, lookup, status, jobs ---------------------------------------

($rc, $out, $err) = cli('--json', 'backlog', 'csv');
is($rc, 0, 'backlog: exit 0');
is_deeply(json_lines($out),
	[ { asset_count => 0, weight => 0, first_id => undef, last_id => undef,
		retry_batches => 1, in_flight_batches => 1 } ],
	'backlog --json: nothing new, batch 3 to retry, batch 4 in flight');

($rc, $out, $err) = cli('lookup', 'csv', '14', '--json');
is($rc, 0, 'lookup: exit 0');
$rows = json_lines($out);
is_deeply([ map { [ @$_{qw(job batch attempt status first_id last_id message)} ] } @$rows ],
	[ [ 'csv', 3, 1, 'failed', 13, 18, "bad \"row\"\n\tat 14" ] ],
	'lookup --json: the attempt, with a message escaped correctly');
($rc, $out, $err) = cli('lookup', 'csv', '4');
like($out, qr/^csv +1 +1 +succeeded +2 +6 .* w1 /m, 'lookup: table with the worker');

($rc, $out, $err) = cli('status', 'csv');
is($rc, 0, 'status: exit 0');
like($out, qr/^kind: +backfill$/m, 'status: kind');
like($out, qr/^in_flight: +1$/m, 'status: batches in flight');
like($out, qr/^\[############--------\] 60\.0% \(6\/10 assets\)$/m,
	'status: progress bar of the backfill');

($rc, $out, $err) = cli('jobs', '--json');
is($rc, 0, 'jobs: exit 0');
$rows = json_lines($out);
is_deeply([ map { [ @$_{qw(job kind processed total progress_pct succeeded failed)} ] } @$rows ],
	[ [ 'csv', 'backfill', 6, 10, 60, 2, 0 ] ],
	'jobs --json: one object per job');

# --- unknown job, connection errors --------------------------------------

($rc, $out, $err) = cli('acquire', 'nope');
is($rc, 3, 'acquire an unknown job: exit 3');
is($err, qq(batchintory: ERROR: job "nope" does not exist\n), 'unknown job: message');
($rc, $out, $err) = cli('status', 'nope');
is($rc, 3, 'status of an unknown job: exit 3');
($rc, $out, $err) = cli('-d', 'host=' . $node->host . ' port=' . $node->port
	  . ' dbname=template1', 'jobs');
is($rc, 3, 'database without the extension: exit 3');
like($err, qr/extension "batchintory" is not installed/, 'no extension: message');
($rc, $out, $err) = cli('-d', 'host=' . $node->host . ' port=1', 'jobs');
is($rc, 3, 'no server: exit 3');
like($err, qr/^batchintory: could not connect: /, 'no server: message');

# --- run -----------------------------------------------------------------

sql(q{SELECT batchintory_register('inc', 'files', 'id', 'bytes',
	max_count => 10, max_attempts => 2, config => '{"n": 1}')});
my $show = 'echo "env $BATCHINTORY_JOB $BATCHINTORY_BATCH $BATCHINTORY_ATTEMPT'
  . ' $BATCHINTORY_FIRST_ID $BATCHINTORY_LAST_ID $BATCHINTORY_ASSET_COUNT'
  . ' $BATCHINTORY_WEIGHT $BATCHINTORY_CONFIG"';

($rc, $out, $err) = cli('run', 'inc', '--iterations', '1', '--', 'sh', '-c', $show);
is($rc, 0, 'run a command that succeeds: exit 0');
like($out, qr/^env inc 5 1 1 10 10 550 \{"n": 1\}$/m, 'run: the batch is in the environment');
like($out, qr/^batch 5 attempt 1: ids 1\.\.10, 10 assets: succeeded in \d+\.\d s\n1 batch: 1 succeeded, 0 failed$/m,
	'run: reports the batch');
is(sql(q{SELECT status, worker ~ ':\d+$' FROM batchintory.attempt WHERE batch_id = 5}),
	'succeeded|t', 'run: released as succeeded, worker HOST:PID');

($rc, $out, $err) = cli('--json', 'run', 'inc', '--iterations', '1', '--', 'sh', '-c', 'exit 1');
is($rc, 4, 'run a command that fails: exit 4');
$rows = json_lines($out);
is_deeply([ @{ $rows->[0] }{qw(batch attempt first_id last_id status message)} ],
	[ 6, 1, 11, 20, 'failed', 'exit status 1' ], 'run --json: the failed batch');
is(sql(q{SELECT status, message FROM batchintory.attempt WHERE batch_id = 6}),
	'failed|exit status 1', 'run: released as failed with the exit status');

($rc, $out, $err) = cli('run', 'inc', '--iterations', '1', '--', 'sh', '-c', 'kill -9 $$');
is($rc, 4, 'run a command killed by a signal: exit 4');
like($out, qr/^batch 6 attempt 2: ids 11\.\.20, 10 assets: failed \(killed by signal 9\)/m,
	'run: the failed batch is retried, and fails again');

($rc, $out, $err) = cli('run', 'inc', '--', 'sh', '-c', $show);
is($rc, 0, 'run until no batch is left: exit 0');
like($out, qr/^env inc 7 1 21 30 10 2550 \{"n": 1\}$/m, 'run: next batch after the exhausted one');
like($out, qr/^1 batch: 1 succeeded, 0 failed$/m, 'run: stops when no batch is left');
($rc, $out, $err) = cli('run', 'inc', '--', 'true');
is($rc, 0, 'run with nothing to do: exit 0');
is($out, qq(no batch available for job "inc"\n), 'run with nothing to do: message');

sql(q{SELECT batchintory_requeue(6)});
($rc, $out, $err) = cli('run', 'inc', '--iterations', '1', '--',
	'/nonexistent/command');
is($rc, 4, 'run a command that does not exist: exit 4');
like($err, qr{could not execute "/nonexistent/command": No such file or directory},
	'missing command: message');
like($out, qr/^batch 6 attempt 3: .* failed \(exit status 127\)/m,
	'missing command: the batch failed with exit status 127');

# Heartbeats keep a lease of 2 seconds alive while the command sleeps 5:
# after 3 seconds a concurrent acquirer gets the next batch, not this one.
sql(q{SELECT batchintory_register('slow', 'files', 'id', max_count => 1,
	lease => '2 seconds')});
my ($run_out, $run_err) = ('', '');
my $run = IPC::Run::start(
	[ 'batchintory', 'run', 'slow', '--iterations', '1', '--heartbeat', '0.5',
	  '--', 'sleep', '5' ],
	'>', \$run_out, '2>', \$run_err);
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM batchintory.batches WHERE job = 'slow'})
  or die 'run did not acquire a batch';
sleep 3;
($rc, $out, $err) = cli('--json', 'acquire', 'slow');
$rows = json_lines($out);
is_deeply([ @{ $rows->[0] }{qw(attempt first_id)} ], [ 1, 2 ],
	'heartbeats: a concurrent acquirer does not get the running batch');
$run->finish;
is($run->full_result(0) >> 8, 0, 'heartbeats: run exits 0');
is(sql(q{SELECT string_agg(attempt || ' ' || status, ',') FROM batchintory.attempts
	WHERE job = 'slow' AND first_id = 1}),
	'1 succeeded', 'heartbeats: one attempt, released as succeeded');

# Without a heartbeat in time the lease runs out: another worker gets the
# batch, and the next heartbeat of run is refused: it stops the command.
sql(q{SELECT batchintory_register('lost', 'files', 'id', max_count => 1,
	lease => '1 second')});
($run_out, $run_err) = ('', '');
$run = IPC::Run::start(
	[ 'batchintory', 'run', 'lost', '--heartbeat', '3', '--', 'sleep', '30' ],
	'>', \$run_out, '2>', \$run_err);
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM batchintory.batches WHERE job = 'lost'})
  or die 'run did not acquire a batch';
sleep 2;
($rc, $out, $err) = cli('--json', 'acquire', 'lost');
$rows = json_lines($out);
is_deeply([ @{ $rows->[0] }{qw(attempt first_id)} ], [ 2, 1 ],
	'lease ran out: a concurrent acquirer gets the batch again');
$run->finish;
is($run->full_result(0) >> 8, 3, 'lease lost: run exits 3');
like($run_err, qr/ERROR: attempt 1 of batch \d+ is no longer current/,
	'lease lost: run prints the refusal');
like($run_err, qr/batchintory: could not extend the lease of batch \d+ attempt 1, terminating the command/,
	'lease lost: run says so and terminates the command');

$node->stop;
done_testing();
