# batchintory run and the waiting commands: the environment of the command,
# its exit status and result file, heartbeats and lost leases, stop signals,
# run --follow and acquire --wait woken by notifications or the slow timer,
# the late-commit guard timed out (exit status 75, not "no work").
use strict;
use warnings;

use File::Temp qw(tempdir);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('cli_run');
$node->init;
# the writers that stall the late-commit guard are prepared transactions
$node->append_conf('postgresql.conf', 'max_prepared_transactions = 2');
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

# wait until the output of $h that $ref points to matches $re (or die
# after 3 minutes, or when $h ended)
sub wait_for_output
{
	my ($h, $ref, $re, $what) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	until ($$ref =~ $re)
	{
		die "gave up waiting for $what; output so far:\n$$ref"
		  if time > $deadline || !$h->pumpable;
		$h->pump_nb;
		select(undef, undef, undef, 0.05);
	}
}

my ($rc, $out, $err, $rows);

# --- exit status, report, summary ----------------------------------------

sql(q{SELECT batchintory_register('inc', 'files', 'id', 'bytes',
	max_count => 10, max_attempts => 2, config => '{"n": 1}', on_failure => 'skip')});
my $show = 'echo "env $BATCHINTORY_JOB $BATCHINTORY_BATCH $BATCHINTORY_ATTEMPT'
  . ' $BATCHINTORY_FIRST_ID $BATCHINTORY_LAST_ID $BATCHINTORY_ASSET_COUNT'
  . ' $BATCHINTORY_WEIGHT $BATCHINTORY_CONFIG"';

($rc, $out, $err) = cli('run', 'inc', '--iterations', '1', '--', 'sh', '-c', $show);
is($rc, 0, 'run a command that succeeds: exit 0');
like($out, qr/^env inc 1 1 1 10 10 550 \{"n": 1\}$/m, 'run: the batch is in the environment');
like($out, qr/^batch 1 attempt 1: ids 1\.\.10, 10 assets: succeeded in \d+\.\d s\n1 batch: 1 succeeded, 0 failed$/m,
	'run: reports the batch');
unlike($out, qr/\e/, 'run: no terminal escapes when stdout is not a terminal');
is(sql(q{SELECT status, worker ~ ':\d+$' FROM batchintory.attempt WHERE batch_id = 1}),
	'succeeded|t', 'run: released as succeeded, worker HOST:PID');

($rc, $out, $err) = cli('--json', 'run', 'inc', '--iterations', '1', '--', 'sh', '-c', 'exit 1');
is($rc, 4, 'run a command that fails: exit 4');
$rows = json_lines($out);
is_deeply([ @{ $rows->[0] }{qw(batch attempt first_id last_id status message result)} ],
	[ 2, 1, 11, 20, 'failed', 'exit status 1', undef ], 'run --json: the failed batch');
is(sql(q{SELECT status, message FROM batchintory.attempt WHERE batch_id = 2}),
	'failed|exit status 1', 'run: released as failed with the exit status');

($rc, $out, $err) = cli('run', 'inc', '--iterations', '1', '--', 'sh', '-c', 'kill -9 $$');
is($rc, 4, 'run a command killed by a signal: exit 4');
like($out, qr/^batch 2 attempt 2: ids 11\.\.20, 10 assets: failed \(killed by signal 9\)/m,
	'run: the failed batch is retried, and fails again');

($rc, $out, $err) = cli('run', 'inc', '--', 'sh', '-c', $show);
is($rc, 0, 'run until no batch is left: exit 0');
like($out, qr/^env inc 3 1 21 30 10 2550 \{"n": 1\}$/m, 'run: next batch after the exhausted one');
like($out, qr/^1 batch: 1 succeeded, 0 failed$/m, 'run: stops when no batch is left');
($rc, $out, $err) = cli('run', 'inc', '--', 'true');
is($rc, 0, 'run with nothing to do: exit 0');
is($out, '', 'run with nothing to do: nothing on stdout');
is($err, qq(no batch available for job "inc"\n), 'run with nothing to do: notice on stderr');

# --- a command that cannot run charges nothing --------------------------------

# checked before the first acquire: a typo never acquires (exit 127, as the
# shell, env and timeout say "not found"; 126 "cannot execute")
sql(q{SELECT batchintory_register('typo', 'files', 'id', max_count => 10, max_attempts => 3)});
my $tmpdir = tempdir(CLEANUP => 1);
my $t0 = time;
($rc, $out, $err) = cli('run', 'typo', '--', 'proces.sh');
is($rc, 127, 'run a command that is not found: exit 127');
cmp_ok(time - $t0, '<', 5, 'run a command that is not found: at once');
like($err, qr/^batchintory: cannot run "proces\.sh": command not found$/m,
	'command not found: message');
is($out, '', 'command not found: no batch reported');
is(sql(q{SELECT count(*) FROM batchintory.batches WHERE job = 'typo'}), '0',
	'command not found: nothing acquired');
($rc, $out, $err) = cli('run', 'typo', '--', '/nonexistent/command');
is($rc, 127, 'run a path that does not exist: exit 127');
like($err, qr{cannot run "/nonexistent/command": No such file or directory},
	'missing path: message');
open(my $fh, '>', "$tmpdir/not-executable.sh") or die;
print $fh "#!/bin/sh\nexit 0\n";
close $fh;
chmod 0644, "$tmpdir/not-executable.sh";
($rc, $out, $err) = cli('run', 'typo', '--', "$tmpdir/not-executable.sh");
is($rc, 126, 'run a file that is not executable: exit 126');
like($err, qr{cannot run ".*/not-executable\.sh": Permission denied}, 'not executable: message');
($rc, $out, $err) = cli('run', 'typo', '--', $tmpdir);
is($rc, 126, 'run a directory: exit 126');
is(sql(q{SELECT count(*) FROM batchintory.batches WHERE job = 'typo'}), '0',
	'a command that cannot run: nothing acquired');

# found, but it exits 127 (a shell that does not find the command it runs):
# the batch is released failed and requeued at once with all its attempts,
# and run stops without taking the next batch
($rc, $out, $err) = cli('run', 'typo', '--', 'sh', '-c', 'proces.sh');
is($rc, 127, 'a command that exits 127: exit 127');
like($out, qr/^batch (\d+) attempt 1: ids 1\.\.10, 10 assets: failed \(exit status 127: the command was not found\) in \S+ s, put back in line with its attempts\n1 batch: 0 succeeded, 1 failed$/m,
	'exit 127: the batch is reported failed and put back in line');
like($err, qr/stopping: the command cannot be executed/, 'exit 127: run stops at once');
is(sql(q{SELECT count(*) || ' ' || string_agg(state || ' ' || attempts_left, ',')
	FROM batchintory.batches WHERE job = 'typo'}),
	'1 retry_pending 3', 'exit 127: one batch taken, in line again with all 3 attempts');
($rc, $out, $err) = cli('run', 'typo', '--', 'sh', '-c', 'exit 126');
is($rc, 126, 'a command that exits 126: exit 126');
is(sql(q{SELECT string_agg(state || ' ' || attempts_left, ',') FROM batchintory.batches
	WHERE job = 'typo'}), 'retry_pending 3', 'exit 126: the batch keeps its attempts');
($rc, $out, $err) = cli('--json', 'run', 'typo', '--', 'sh', '-c', 'exit 127');
is_deeply([ @{ json_lines($out)->[0] }{qw(attempt first_id status message state)} ],
	[ 3, 1, 'failed', 'exit status 127: the command was not found', 'retry_pending' ],
	'run --json: the batch of a command that exits 127');
($rc, $out, $err) = cli('run', 'typo', '--', 'true');
is($rc, 0, 'the command fixed: exit 0');
like($out, qr/^batch \d+ attempt 4: ids 1\.\.10, 10 assets: succeeded/m,
	'the command fixed: the batch it could not run is done first');

# --- failures stop the line -----------------------------------------------------

# --max-failures N (default 3): run stops after N failed batches in a row
sql(q{CREATE TABLE five (id bigserial PRIMARY KEY);
	INSERT INTO five SELECT FROM generate_series(1, 5);
	SELECT batchintory_register('five', 'five', 'id', max_count => 1, max_attempts => 1,
		on_failure => 'skip')});
($rc, $out, $err) = cli('run', 'five', '--', 'false');
is($rc, 4, '3 failures in a row: exit 4');
like($err, qr/^batchintory: stopping after 3 consecutive failed batches \(--max-failures 3\)$/m,
	'3 failures in a row: run says why it stops');
like($out, qr/^3 batches: 0 succeeded, 3 failed\nfailed for good \(no attempt left\): batch \d+ batch \d+ batch \d+; "batchintory requeue BATCH" puts one back in line$/m,
	'3 failures in a row: the summary names the batches that failed for good');
is(sql(q{SELECT count(*) FROM batchintory.batches WHERE job = 'five'}), '3',
	'3 failures in a row: no fourth batch taken');
($rc, $out, $err) = cli('run', 'five', '--max-failures', '1', '--', 'false');
is($rc, 4, '--max-failures 1: exit 4');
is(sql(q{SELECT count(*) FROM batchintory.batches WHERE job = 'five'}), '4',
	'--max-failures 1: one batch taken');
sql(q{SELECT batchintory_rewind('five', 1)});
($rc, $out, $err) = cli('run', 'five', '--max-failures', '0', '--', 'false');
is($rc, 4, '--max-failures 0: exit 4');
like($out, qr/^5 batches: 0 succeeded, 5 failed$/m, '--max-failures 0: no limit');
($rc, $out, $err) = cli('run', 'five', '--max-failures', '-1', '--', 'false');
is($rc, 2, '--max-failures -1: usage error');
# a success ends the run of failures: fail, succeed, fail, succeed, ...
sql(q{SELECT batchintory_rewind('five', 1)});
($rc, $out, $err) = cli('run', 'five', '--max-failures', '2', '--', 'sh', '-c',
	'test $(($BATCHINTORY_FIRST_ID % 2)) = 0');
is($rc, 4, 'failures not in a row: exit 4, some failed for good');
like($out, qr/^5 batches: 2 succeeded, 3 failed$/m, 'failures not in a row: run goes on');

# exit 0 when every batch that failed succeeded on a retry in the same run
sql(q{SELECT batchintory_register('retry', 'files', 'id', max_count => 10, max_attempts => 2,
	upper_bound => 20)});
($rc, $out, $err) = cli('run', 'retry', '--', 'sh', '-c', 'test "$BATCHINTORY_ATTEMPT" = 2');
is($rc, 0, 'each batch failed once, then succeeded on its retry: exit 0');
like($out, qr/^batch \d+ attempt 1: .* failed \(exit status 1\) in \S+ s, to be retried$/m,
	'a failure to be retried says so');
like($out, qr/^4 batches: 2 succeeded, 2 failed$/m, 'the summary counts the attempts');
unlike($out, qr/failed for good/, 'nothing failed for good');
# exit 4 when one failed for good, even if others succeeded after it
sql(q{SELECT batchintory_register('once', 'files', 'id', max_count => 10, max_attempts => 1,
	upper_bound => 30, on_failure => 'skip')});
($rc, $out, $err) = cli('run', 'once', '--', 'sh', '-c', 'test "$BATCHINTORY_FIRST_ID" != 1');
is($rc, 4, 'a batch failed for good, the others succeeded: exit 4');
like($out, qr/^batch (\d+) attempt 1: ids 1\.\.10, .* failed \(exit status 1\) in \S+ s, no attempt left: failed for good$/m,
	'the batch that failed for good says so');
like($out, qr/^3 batches: 2 succeeded, 1 failed\nfailed for good \(no attempt left\): batch \d+;/m,
	'the summary names it');

# a job that halts on failure (the default): the batch failed for good stops
# it; run says so, exits 4, and takes nothing more until it is requeued
sql(q{SELECT batchintory_register('halting', 'files', 'id', max_count => 10, max_attempts => 1,
	upper_bound => 30)});
($rc, $out, $err) = cli('run', 'halting', '--', 'sh', '-c', 'test "$BATCHINTORY_FIRST_ID" != 11');
is($rc, 4, 'a halting job: exit 4');
like($out, qr/^2 batches: 1 succeeded, 1 failed\nfailed for good/m,
	'a halting job: the batch after the failed one is not taken');
like($err, qr/job "halting" is halted: batch \d+ \(keys 11 to 20\) failed for good/,
	'a halting job: run shows why no batch comes');
($rc, $out, $err) = cli('run', 'halting', '--', 'true');
like($err, qr/job "halting" is halted/, 'a halting job: the next run says it is halted');
sql(q{SELECT batchintory_requeue(halted_by) FROM batchintory.jobs WHERE job = 'halting'});
($rc, $out, $err) = cli('run', 'halting', '--', 'true');
is($rc, 0, 'a halting job requeued: the run goes on');
like($out, qr/^2 batches: 2 succeeded, 0 failed$/m, 'a halting job requeued: the rest is done');

# --- the environment of the command ---------------------------------------

sql(q{SELECT batchintory_register('env', 'files', 'id', filter => $$kind = 'json'$$,
	upper_bound => 10, config => '{"out": "s3://x"}')});
($rc, $out, $err) = cli('run', 'env', '--worker', 'w7', '--', 'sh', '-c',
	'for v in TABLE FILTER PREDICATE ENDED_BY WORKER WEIGHT CONFIG; do'
	  . ' eval "echo $v=\${BATCHINTORY_$v-unset}"; done;'
	  . ' test -f "$BATCHINTORY_RESULT_FILE" && test ! -s "$BATCHINTORY_RESULT_FILE"'
	  . ' && echo RESULT_FILE=empty');
is($rc, 0, 'run env: exit 0');
like($out, qr/^TABLE=(public\.)?files$/m, 'env: BATCHINTORY_TABLE');
like($out, qr/^FILTER=.*kind = 'json'.*$/m, 'env: BATCHINTORY_FILTER');
like($out, qr/^PREDICATE="id" >= 1 AND "id" <= 10 AND \(.*kind = 'json'.*\)$/m,
	'env: BATCHINTORY_PREDICATE');
like($out, qr/^ENDED_BY=window$/m, 'env: BATCHINTORY_ENDED_BY');
like($out, qr/^WORKER=w7$/m, 'env: BATCHINTORY_WORKER');
like($out, qr/^WEIGHT=unset$/m, 'env: no BATCHINTORY_WEIGHT without a weight column');
like($out, qr/^CONFIG=\{"out": "s3:\/\/x"\}$/m, 'env: BATCHINTORY_CONFIG');
like($out, qr/^RESULT_FILE=empty$/m, 'env: BATCHINTORY_RESULT_FILE names an empty file');
my ($predicate) = $out =~ /^PREDICATE=(.*)$/m;
is(sql(qq{SELECT string_agg(id::text, ',' ORDER BY id) FROM files WHERE $predicate}),
	'1,3,5,7,9', 'env: the predicate selects the assets of the batch');

# --- results --------------------------------------------------------------

sql(q{SELECT batchintory_register('res', 'files', 'id', max_count => 5, upper_bound => 30,
	max_attempts => 1, on_failure => 'skip')});
my $tmp = tempdir(CLEANUP => 1);

($rc, $out, $err) = cli('run', 'res', '--iterations', '1', '--', 'sh', '-c',
	qq{echo "\$BATCHINTORY_RESULT_FILE" > $tmp/path;}
	  . ' printf \'{"rows": %s, "out": "s3://out/%s"}\n\' $BATCHINTORY_ASSET_COUNT $BATCHINTORY_BATCH'
	  . ' > "$BATCHINTORY_RESULT_FILE"');
is($rc, 0, 'result: exit 0');
my ($batch) = $out =~ /^batch (\d+) attempt 1: .* succeeded in \S+ s, result \{"out": "s3:\/\/out\/\1", "rows": 5\}$/m;
ok($batch, 'result: shown with the batch');
($rc, $out, $err) = cli('--json', 'lookup', 'res', '1');
is_deeply(json_lines($out)->[0]{result}, { rows => 5, out => "s3://out/$batch" },
	'result: recorded with the attempt, shown by lookup');
my $path = slurp_file("$tmp/path");
chomp $path;
like($path, qr{/batchintory-result-\w+$}, 'result: a file of its own');
ok(!-e $path, 'result: the file is removed afterwards');

# JSON over several lines: one line in the report
($rc, $out, $err) = cli('--json', 'run', 'res', '--iterations', '1', '--', 'sh', '-c',
	'printf \'{\n  "rows": 5\n}\n\' > "$BATCHINTORY_RESULT_FILE"');
is(scalar(() = $out =~ /\n/g), 1, 'result: the JSON report of run stays one line');
is_deeply(json_lines($out)->[0]{result}, { rows => 5 }, 'result: in the JSON report of run');

($rc, $out, $err) = cli('--json', 'run', 'res', '--iterations', '1', '--', 'sh', '-c',
	'echo "rows: 5" > "$BATCHINTORY_RESULT_FILE"');
is($rc, 4, 'result that is not JSON: exit 4');
$rows = json_lines($out);
is_deeply([ @{ $rows->[0] }{qw(status message result)} ],
	[ 'failed', 'invalid result: invalid input syntax for type json', undef ],
	'result that is not JSON: the attempt fails, saying why');
like($err, qr/^batchintory: batch \d+ attempt 1: invalid result: invalid input syntax for type json$/m,
	'result that is not JSON: reported on stderr');

($rc, $out, $err) = cli('--json', 'run', 'res', '--iterations', '1', '--', 'sh', '-c',
	'echo "{\"error\": \"disk full\"}" > "$BATCHINTORY_RESULT_FILE"; exit 3');
is($rc, 4, 'failed command with a result: exit 4');
$rows = json_lines($out);
is_deeply([ @{ $rows->[0] }{qw(status message result)} ],
	[ 'failed', 'exit status 3', { error => 'disk full' } ],
	'failed command with a result: both recorded');
($rc, $out, $err) = cli('--json', 'lookup', 'res', $rows->[0]{first_id} // 0);
is_deeply((json_lines($out)->[-1] // {})->{result}, { error => 'disk full' },
	'failed command with a result: lookup shows it');

($rc, $out, $err) = cli('--json', 'run', 'res', '--iterations', '1', '--', 'sh', '-c',
	'echo "  " > "$BATCHINTORY_RESULT_FILE"; rm -f "$BATCHINTORY_RESULT_FILE"');
$rows = json_lines($out);
is_deeply([ @{ $rows->[0] }{qw(status result)} ], [ 'succeeded', undef ],
	'no result: a removed or blank file is no result');

# --- standard output with --json ---------------------------------------------

# JSON Lines only: the command's standard output goes to standard error
sql(q{SELECT batchintory_register('quiet', 'files', 'id', max_count => 10)});
($rc, $out, $err) = cli('--json', 'run', 'quiet', '--iterations', '2', '--', 'sh', '-c',
	'echo "output of $BATCHINTORY_BATCH"; echo "{\"not\": \"a result\"}"');
is($rc, 0, 'run --json: exit 0');
my @lines = split /\n/, $out;
is(scalar @lines, 2, 'run --json: two lines on stdout, one per batch');
is(scalar(grep { my $o = eval { decode_json($_) }; $o && exists $o->{batch} } @lines), 2,
	'run --json: stdout is JSON Lines of batches only');
like($err, qr/^output of \d+$/m, 'run --json: the command\'s stdout is on stderr');
($rc, $out, $err) = cli('run', 'quiet', '--iterations', '1', '--', 'sh', '-c', 'echo "plain output"');
like($out, qr/^plain output$/m, 'run without --json: the command\'s stdout stays on stdout');

# --- heartbeats and lost leases --------------------------------------------

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

# --heartbeat not shorter than the lease: run warns and heartbeats every
# third of the lease instead, so the lease never runs out meanwhile
sql(q{SELECT batchintory_register('beat', 'files', 'id', max_count => 1,
	lease => '2 seconds')});
($run_out, $run_err) = ('', '');
$run = IPC::Run::start(
	[ 'batchintory', 'run', 'beat', '--iterations', '1', '--heartbeat', '5', '--', 'sleep', '4' ],
	'>', \$run_out, '2>', \$run_err);
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM batchintory.batches WHERE job = 'beat'})
  or die 'run did not acquire a batch';
sleep 3;
($rc, $out, $err) = cli('--json', 'acquire', 'beat');
is_deeply([ @{ json_lines($out)->[0] }{qw(attempt first_id)} ], [ 1, 2 ],
	'--heartbeat 5 with a lease of 2 s: the batch stays with run');
$run->finish;
is($run->full_result(0) >> 8, 0, '--heartbeat longer than the lease: run exits 0');
like($run_err, qr/^batchintory: WARNING: --heartbeat 5 is not shorter than the lease of job "beat" \(\d\.\d s\): sending one every 0\.\d s instead \(a third of the lease\)$/m,
	'--heartbeat longer than the lease: a warning');
is(sql(q{SELECT string_agg(attempt || ' ' || status, ',') FROM batchintory.attempts
	WHERE job = 'beat' AND first_id = 1}), '1 succeeded',
	'--heartbeat longer than the lease: one attempt, succeeded');

# Without a heartbeat in time the lease runs out (run stopped by SIGSTOP, a
# worker that hangs): another worker gets the batch, and the next heartbeat
# of run is refused: it stops the command.
sql(q{SELECT batchintory_register('lost', 'files', 'id', max_count => 1,
	lease => '1 second')});
($run_out, $run_err) = ('', '');
$run = IPC::Run::start(
	[ 'batchintory', 'run', 'lost', '--heartbeat', '0.2', '--', 'sleep', '30' ],
	'>', \$run_out, '2>', \$run_err);
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM batchintory.batches WHERE job = 'lost'})
  or die 'run did not acquire a batch';
$run->signal('STOP');
# (a heartbeat sent just before the stop extends the lease by a second)
$node->poll_query_until('postgres', q{
	SELECT lease_until < now() FROM batchintory.batches WHERE job = 'lost'})
  or die 'the lease did not run out';
($rc, $out, $err) = cli('--json', 'acquire', 'lost');
$rows = json_lines($out);
is_deeply([ @{ $rows->[0] }{qw(attempt first_id)} ], [ 2, 1 ],
	'lease ran out: a concurrent acquirer gets the batch again');
$run->signal('CONT');
$run->finish;
is($run->full_result(0) >> 8, 3, 'lease lost: run exits 3');
like($run_err, qr/ERROR: attempt 1 of batch \d+ is no longer current/,
	'lease lost: run prints the refusal');
like($run_err, qr/batchintory: could not extend the lease of batch \d+ attempt 1, terminating the command/,
	'lease lost: run says so and terminates the command');

# --- stop signals -----------------------------------------------------------

# SIGTERM while a command runs: passed on; a command that traps it and
# exits 0 succeeds; run takes no further batch although there are more.
sql(q{SELECT batchintory_register('stop', 'files', 'id', max_count => 10,
	max_attempts => 1)});
($run_out, $run_err) = ('', '');
$run = IPC::Run::start(
	[ 'batchintory', 'run', 'stop', '--', 'sh', '-c',
	  'trap "echo got TERM; exit 0" TERM; echo started; while :; do sleep 0.05; done' ],
	'>', \$run_out, '2>', \$run_err);
wait_for_output($run, \$run_out, qr/^started$/m, 'the command to start');
$run->signal('TERM');
$run->finish;
is($run->full_result(0) >> 8, 0, 'SIGTERM, command exits 0: run exits 0');
like($run_out, qr/^got TERM\nbatch \d+ attempt 1: ids 1\.\.10, 10 assets: succeeded .*\n1 batch: 1 succeeded, 0 failed \(stopped by SIGTERM\)$/m,
	'SIGTERM: passed on to the command; run stops after its batch');

# a command the signal kills fails its batch
($run_out, $run_err) = ('', '');
$run = IPC::Run::start(
	[ 'batchintory', 'run', 'stop', '--', 'sh', '-c', 'echo started; exec sleep 30' ],
	'>', \$run_out, '2>', \$run_err);
wait_for_output($run, \$run_out, qr/^started$/m, 'the command to start');
$run->signal('INT');
$run->finish;
is($run->full_result(0) >> 8, 4, 'SIGINT, command killed: run exits 4');
like($run_out, qr/^batch \d+ attempt 1: ids 11\.\.20, 10 assets: failed \(killed by signal 2\)/m,
	'SIGINT: the batch failed, killed by the signal');

# --- run --follow, acquire --wait ------------------------------------------

sql(q{CREATE TABLE events (id bigserial PRIMARY KEY, payload text)});
($rc, $out, $err) = cli('register', 'follow', '--table', 'events', '--id-column', 'id',
	'--notify', 'on');
is($rc, 0, 'register --notify on: exit 0');

# The slow timer is 5 minutes: only notifications can wake run in time.
($run_out, $run_err) = ('', '');
$run = IPC::Run::start(
	[ 'batchintory', 'run', 'follow', '--follow', '--recheck', '300', '--', 'sh', '-c',
	  'echo "got $BATCHINTORY_FIRST_ID..$BATCHINTORY_LAST_ID"' ],
	'>', \$run_out, '2>', \$run_err);
wait_for_output($run, \$run_err,
	qr/^no batch available for job "follow", waiting for new assets$/m, 'run to wait');
sql(q{INSERT INTO events (payload) VALUES ('a'), ('b')});
wait_for_output($run, \$run_out, qr/^got 1\.\.2$/m, 'the first insert to be processed');
sql(q{INSERT INTO events (payload) VALUES ('c')});
wait_for_output($run, \$run_out, qr/^got 3\.\.3$/m, 'the second insert to be processed');
pass('run --follow: woken by each insert, not by its 5-minute timer');
$run->signal('TERM');
$run->finish;
is($run->full_result(0) >> 8, 0, 'run --follow stopped by SIGTERM: exit 0');
like($run_out, qr/^2 batches: 2 succeeded, 0 failed \(stopped by SIGTERM\)$/m,
	'run --follow: summary');

# acquire --wait: LISTENs, then wakes on the insert
($run_out, $run_err) = ('', '');
$run = IPC::Run::start(
	[ 'batchintory', '--json', 'acquire', 'follow', '--wait', '--recheck', '300' ],
	'>', \$run_out, '2>', \$run_err);
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	WHERE pid <> pg_backend_pid() AND state = 'idle'
		AND query LIKE '%batchintory_acquire%'})
  or die 'acquire --wait did not start waiting';
sql(q{INSERT INTO events (payload) VALUES ('d')});
$run->finish;
is($run->full_result(0) >> 8, 0, 'acquire --wait: exit 0 once a batch came');
is(json_lines($run_out)->[0]{first_id}, 4, 'acquire --wait: the new asset');

($rc, $out, $err) = cli('acquire', 'follow', '--wait=0.5');
is($rc, 1, 'acquire --wait=0.5 with no work: exit 1');
is($err, qq(no batch available for job "follow"\n), 'acquire --wait=0.5: notice on stderr');

($run_out, $run_err) = ('', '');
$run = IPC::Run::start([ 'batchintory', 'acquire', 'follow', '--wait' ],
	'>', \$run_out, '2>', \$run_err);
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	WHERE pid <> pg_backend_pid() AND state = 'idle'
		AND query LIKE '%batchintory_acquire%'})
  or die 'acquire --wait did not start waiting';
$run->signal('INT');
$run->finish;
is($run->full_result(0) >> 8, 1, 'acquire --wait interrupted: exit 1');

# A job without notify: the recheck timer finds new assets all the same.
sql(q{SELECT batchintory_register('poll', 'events', 'id', lower_bound => 5)});
($run_out, $run_err) = ('', '');
$run = IPC::Run::start(
	[ 'batchintory', 'run', 'poll', '--follow', '--recheck', '0.2', '--', 'sh', '-c',
	  'echo "got $BATCHINTORY_FIRST_ID..$BATCHINTORY_LAST_ID"' ],
	'>', \$run_out, '2>', \$run_err);
wait_for_output($run, \$run_err, qr/waiting for new assets/, 'run to wait');
sql(q{INSERT INTO events (payload) VALUES ('e')});
wait_for_output($run, \$run_out, qr/^got 5\.\.5$/m, 'the timer to find the insert');
pass('run --follow without notify: the recheck timer finds new assets');
$run->signal('TERM');
$run->finish;
is($run->full_result(0) >> 8, 0, 'run --follow without notify: exit 0');

# --- a flood of notifications from a role with no privilege -------------------

# Any role may NOTIFY a job's channel.  A follower answers a notification
# with an acquire at once, but after one whose acquire found nothing it
# backs off (50 ms, doubling up to 1 s): a flood of 4 seconds costs it about
# ten acquires, not thousands, and new work still comes through within about
# a second.  The follower's acquires are counted in the server's log (TAP
# clusters log every statement), by the follower's application_name.
sql(q{CREATE ROLE stranger NOLOGIN;
	CREATE TABLE flood (id bigserial PRIMARY KEY);
	SELECT batchintory_register('flood', 'flood', 'id', notify => true)});
my $channel = sql(q{SELECT batchintory_channel('flood')});
my $log_offset = -s $node->logfile;
($run_out, $run_err) = ('', '');
{
	local $ENV{PGAPPNAME} = 'flood_follower';
	$run = IPC::Run::start(
		[ 'batchintory', 'run', 'flood', '--follow', '--recheck', '300', '--', 'sh', '-c',
		  'echo "got $BATCHINTORY_FIRST_ID..$BATCHINTORY_LAST_ID"' ],
		'>', \$run_out, '2>', \$run_err);
}
wait_for_output($run, \$run_err, qr/waiting for new assets/, 'run to wait');
my ($flood_out, $flood_err) = ('', '');
my $flood = IPC::Run::start(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', 'SET ROLE stranger', '-c', qq{
	DO \$\$
	DECLARE
		n bigint := 0;
		stop timestamptz := clock_timestamp() + interval '4 seconds';
	BEGIN
		WHILE clock_timestamp() < stop LOOP
			PERFORM pg_notify('$channel', '');
			COMMIT;
			n := n + 1;
		END LOOP;
		RAISE NOTICE 'sent %', n;
	END \$\$} ],
	'>', \$flood_out, '2>', \$flood_err);
sleep 2;
my $started = time;
sql(q{INSERT INTO flood DEFAULT VALUES});
wait_for_output($run, \$run_out, qr/^got 1\.\.1$/m, 'the row inserted during the flood');
my $mid_flood = time - $started;
$flood->finish;
is($flood->full_result(0) >> 8, 0, 'flood: psql exit 0');
my ($sent) = $flood_err =~ /sent (\d+)/;
cmp_ok($sent // 0, '>', 1000, 'flood: a role with no privilege sent many notifications');
$started = time;
sql(q{INSERT INTO flood DEFAULT VALUES});
wait_for_output($run, \$run_out, qr/^got 2\.\.2$/m, 'the row inserted after the flood');
my $after_flood = time - $started;
$run->signal('TERM');
$run->finish;
is($run->full_result(0) >> 8, 0, 'flood: run --follow stopped by SIGTERM: exit 0');
my $log = substr(slurp_file($node->logfile), $log_offset);
my $acquires = () = $log =~ /flood_follower LOG:  (?:statement|execute [^:]*): [^\n]*batchintory_acquire/g;
note("flood: $sent notifications in 4 s; the follower's acquires: $acquires;"
	  . " new work taken within $mid_flood s during the flood, $after_flood s after");
cmp_ok($acquires, '>=', 4, 'flood: the log shows the follower\'s acquires');
# 1 at the start, about 9 per back-off cycle (1 + 5 doubling from 50 ms +
# one a second), 2 cycles (the row during the flood starts one anew), 2 per
# row, and room for the timing of a busy machine
cmp_ok($acquires, '<=', 30, 'flood: the follower\'s acquires stay bounded');
cmp_ok($mid_flood, '<=', 5, 'flood: new work taken within seconds during the flood');
cmp_ok($after_flood, '<=', 5, 'flood: new work taken within seconds after the flood');

# --- the late-commit guard timed out: not "no work" --------------------------

# a prepared transaction keeps its locks until COMMIT or ROLLBACK PREPARED:
# one that only updated old rows drew no key, the guard does not wait for it
sql(q{
	CREATE TABLE late (id bigserial PRIMARY KEY, note text);
	INSERT INTO late (note) VALUES ('early');
	SELECT batchintory_register('late', 'late', 'id', guard_timeout => '100 ms');
	BEGIN;
	UPDATE late SET note = 'changed';
	PREPARE TRANSACTION 'update_only';
	INSERT INTO late (note) VALUES ('on time');
});
($rc, $out, $err) = cli('--json', 'acquire', 'late');
is($rc, 0, 'acquire while a transaction that drew no key is open: exit 0');
is_deeply([ @{ json_lines($out)->[0] }{qw(first_id last_id asset_count)} ], [ 1, 2, 2 ],
	'acquire while a transaction that drew no key is open: keys 1 and 2');
# one that drew key 3 (key 4 committed after it) stalls the guard
sql(q{
	BEGIN;
	INSERT INTO late (note) VALUES ('late');
	PREPARE TRANSACTION 'drew_key';
	INSERT INTO late (note) VALUES ('on time');
});
($rc, $out, $err) = cli('acquire', 'late');
is($rc, 75, 'acquire, the guard timed out: exit 75');
like($err, qr/^batchintory: WARNING: no new batch for job "late": a transaction that used sequence "late_id_seq" is still running after the guard timeout$/m,
	'acquire, the guard timed out: the warning says so');
unlike($err, qr/no batch available/, 'acquire, the guard timed out: not "no batch available"');
($rc, $out, $err) = cli('run', 'late', '--', 'true');
is($rc, 75, 'run, the guard timed out: exit 75');
like($err, qr/^batchintory: stopping: no new batch for job "late" now, the late-commit guard timed out; run again later$/m,
	'run, the guard timed out: says why it stops');
unlike($err, qr/no batch available/, 'run, the guard timed out: not "no batch available"');
is($out, '', 'run, the guard timed out: no batch ran');
sql(q{COMMIT PREPARED 'drew_key'; ROLLBACK PREPARED 'update_only'});
($rc, $out, $err) = cli('--json', 'run', 'late', '--', 'true');
is($rc, 0, 'run after the commit: exit 0');
is_deeply([ map { [ @$_{qw(first_id last_id asset_count)} ] } @{ json_lines($out) } ],
	[ [ 3, 4, 2 ] ], 'run after the commit: keys 3 and 4, none skipped');

# --- a job whose name starts with "-" ----------------------------------------

sql(q{SELECT batchintory_register('-x', 'files', 'id', max_count => 5)});
($rc, $out, $err) = cli('run', '-nightly', '--', 'true');
is($rc, 2, 'run -nightly: an option, exit 2');
like($err, qr/^batchintory: invalid option "-nightly"\nA job whose name starts with "-" is given as --job NAME\.$/m,
	'run -nightly: the message says how to give such a job');
($rc, $out, $err) = cli('run', '--job', '-x', '--iterations', '1', '--', 'sh', '-c',
	'echo "job $BATCHINTORY_JOB"');
is($rc, 0, 'run --job -x: exit 0');
like($out, qr/^job -x\nbatch \d+ attempt 1: ids 1\.\.5, 5 assets: succeeded/m,
	'run --job -x: the batch of job -x');
($rc, $out, $err) = cli('--json', 'run', '--iterations', '1', '--job=-x', '--', 'true');
is($rc, 0, 'run --job=-x: exit 0');
is(json_lines($out)->[0]{first_id}, 6, 'run --job=-x: the next batch');
($rc, $out, $err) = cli('run', '--job', '-x', 'files', '--', 'true');
is($rc, 2, 'run --job and JOB: exit 2');
like($err, qr/too many arguments, starting with "files"/, 'run --job and JOB: message');

$node->stop;
done_testing();
