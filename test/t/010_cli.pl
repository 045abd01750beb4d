# The command-line client batchintory, installed on PATH: every command but
# run (011_cli_run.pl), its output (tables and JSON Lines), its exit codes
# and error messages.
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

# ids 1..30; the even ones are csv files of id * 10 bytes (analyzed: from
# 0.2.0 on, the total of a backfill in batchintory.jobs is an estimate)
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
like($out, qr/--upper-bound KEY +last key of the window/, 'register --help lists its options');

# psql's flags: -? is help, -h is the host; --help has a section of
# connection options and points to the manual
($rc, $out, $err) = cli('-?');
is($rc, 0, '-?: exit 0');
like($out, qr/^Commands:$/m, '-? shows the help');
like($out, qr/^Connection options .*:\n  -h, --host=HOSTNAME +database server host or socket directory\n  -p, --port=PORT +database server port\n  -U, --username=USER +database user name\n  -d, --dbname=DBNAME +database name, or a connection string or URI\n.*\n  -w, --no-password +never prompt for a password\n  -W, --password +prompt for a password before connecting$/m,
	'--help: a section of connection options, as psql\'s');
like($out, qr/"man batchintory"/, '--help points to the manual');
unlike($out, qr/docs\/cli\.md/, '--help does not point to a file that is not installed');
($rc, $out, $err) = cli('status', '-?');
like($out, qr/^show every column of a job, and the progress of a backfill$/m,
	'status -?: the help of the command');
unlike($out, qr/its batches/, 'status --help does not promise its batches');
($rc, $out, $err) = cli('run', '--help');
unlike($out, qr/docs\/cli\.md/, 'run --help points to no file that is not installed');
like($out, qr/"man batchintory"/, 'run --help points to the manual');
($rc, $out, $err) = cli('jobs', '-h');
is($rc, 2, '-h without a host: exit 2');
like($err, qr/^batchintory: option "-h" needs a value$/m, '-h is the host, not help');

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
	'acquire: table header (an integer key: no first_key, last_key that repeat the ids)');
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
is($out, '', 'acquire with no work: nothing on stdout');
is($err, qq(no batch available for job "csv"\n), 'acquire with no work: notice on stderr');
($rc, $out, $err) = cli('acquire', 'csv', '--json');
is($rc, 1, 'acquire --json with no work: exit 1');
is($out, '', 'acquire --json with no work: no output');
is($err, qq(no batch available for job "csv"\n), 'acquire --json with no work: notice on stderr');

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
# --json writes timestamps in ISO 8601, as jsonb does (details, results)
is($rows->[0]{lease_until},
	sql(q{SELECT to_jsonb(lease_until) #>> '{}' FROM batchintory.batch WHERE batch_id = 4}),
	'heartbeat: reports the new lease end, in ISO 8601 as jsonb writes it');
is(sql(qq{SELECT lease_until > '$lease' FROM batchintory.batch WHERE batch_id = 4}), 't',
	'heartbeat: lease extended');
($rc, $out, $err) = cli('heartbeat', '1', '1');
is($rc, 3, 'heartbeat of a released attempt: exit 3');

# --- backlog, lookup, status, jobs ---------------------------------------

($rc, $out, $err) = cli('--json', 'backlog', 'csv');
is($rc, 0, 'backlog: exit 0');
is_deeply(json_lines($out),
	[ { asset_count => 0, weight => 0, first_id => undef, last_id => undef,
		retry_batches => 1, in_flight_batches => 1, first_key => undef, last_key => undef } ],
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
is($rows->[0]{total_estimated}, JSON::PP::false, 'jobs --json: the total was counted');

# --- unknown job, connection errors --------------------------------------

($rc, $out, $err) = cli('acquire', 'nope');
is($rc, 3, 'acquire an unknown job: exit 3');
is($err, qq(batchintory: ERROR: job "nope" does not exist\nHINT: SELECT job FROM batchintory.jobs lists the jobs you may use.\n),
	'unknown job: message, with a hint');
($rc, $out, $err) = cli('status', 'nope');
is($rc, 3, 'status of an unknown job: exit 3');
like($err, qr/^batchintory: ERROR: job "nope" does not exist\nHINT: "batchintory jobs" lists the jobs you may use\.$/m,
	'status of an unknown job: message and hint');
($rc, $out, $err) = cli('jobs', 'nope');
is($rc, 3, 'jobs of an unknown job: exit 3, as status');
is($out, '', 'jobs of an unknown job: no empty table');
like($err, qr/^batchintory: ERROR: job "nope" does not exist\nHINT: "batchintory jobs" lists the jobs you may use\.$/m,
	'jobs of an unknown job: message and hint');
($rc, $out, $err) = cli('--json', 'jobs', 'nope');
is($rc, 3, 'jobs --json of an unknown job: exit 3');
($rc, $out, $err) = cli('-d', 'host=' . $node->host . ' port=' . $node->port
	  . ' dbname=template1', 'jobs');
is($rc, 3, 'database without the extension: exit 3');
like($err, qr/extension "batchintory" is not installed/, 'no extension: message');
($rc, $out, $err) = cli('-d', 'host=' . $node->host . ' port=1', 'jobs');
is($rc, 3, 'no server: exit 3');
like($err, qr/^batchintory: could not connect: /, 'no server: message');


# --- psql's connection options ---------------------------------------------

$node->safe_psql('postgres', q{
	CREATE ROLE bob LOGIN;
	CREATE ROLE pw LOGIN PASSWORD 'secret';
});
# pw must give its password (the first line of pg_hba.conf that matches wins)
{
	my $hba = $node->data_dir . '/pg_hba.conf';
	my $lines = slurp_file($hba);
	open(my $fh, '>', $hba) or die "could not write $hba: $!";
	print $fh "local all pw scram-sha-256\n$lines";
	close $fh;
	$node->reload;
}
{
	local $ENV{PGHOST};
	local $ENV{PGPORT};
	local $ENV{PGDATABASE};
	delete @ENV{qw(PGHOST PGPORT PGDATABASE)};
	($rc, $out, $err) = cli('-h', $node->host, '-p', $node->port, '-d', 'postgres',
		'--json', 'jobs');
	is($rc, 0, '-h HOST -p PORT -d DBNAME: exit 0');
	is_deeply([ map { $_->{job} } @{ json_lines($out) } ], [ 'csv' ], '-h -p -d: connected');
	($rc, $out, $err) = cli('--json', 'jobs', '--host=' . $node->host, '--port', $node->port,
		'--dbname=postgres');
	is($rc, 0, '--host= --port --dbname= after the command: exit 0');
	($rc, $out, $err) = cli('-h' . $node->host, '-p' . $node->port, '-dpostgres', 'jobs');
	is($rc, 0, '-hHOST -pPORT -dDBNAME (attached, as psql takes them): exit 0');
	($rc, $out, $err) = cli('-h', $node->host, '-p', '1', '-d', 'postgres', 'jobs');
	is($rc, 3, '-p 1: exit 3');
	like($err, qr/^batchintory: could not connect: .*\.s\.PGSQL\.1"/m, '-p is the port');
	($rc, $out, $err) = cli('-d', 'dbname=postgres host=' . $node->host . ' port=' . $node->port,
		'jobs');
	is($rc, 0, '-d CONNINFO: exit 0');
	($rc, $out, $err) = cli('-h', $node->host, '-p', $node->port, '-d', 'postgres',
		'-U', 'nobody_here', 'jobs');
	is($rc, 3, '-U of an unknown role: exit 3');
	like($err, qr/role "nobody_here" does not exist/, '-U is the user');
	($rc, $out, $err) = cli('-h', $node->host, '-p', $node->port, '-d', 'postgres',
		'--username=bob', '--json', 'jobs');
	is($rc, 0, '--username=bob: exit 0');
	is($out, '', '--username=bob: connected as bob, who may not see the job');
}
# -w: never prompt; -W: prompt before connecting, on the terminal
($rc, $out, $err) = cli('-U', 'pw', '-w', 'jobs');
is($rc, 3, '-w and a password needed: exit 3');
like($err, qr/no password supplied/, '-w: no prompt, the server refuses');
# the password typed once the prompt shows (typed earlier, a terminal
# would echo it before the prompt turns echo off)
sub type_password
{
	my (@args) = @_;
	my ($in, $pty_out, $pty_err) = ('', '', '');
	my $h = IPC::Run::start([ 'batchintory', @args ],
		'<pty<', \$in, '>pty>', \$pty_out, '2>', \$pty_err);
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	until ($pty_out =~ /Password for user \S+: /)
	{
		die "no password prompt: $pty_out $pty_err" if time > $deadline || !$h->pumpable;
		$h->pump_nb;
		select(undef, undef, undef, 0.05);
	}
	$in = "secret\n";
	$h->finish;
	$pty_out =~ s/\r//g;
	return ($h->full_result(0) >> 8, $pty_out, $pty_err);
}
($rc, $out, $err) = type_password('-U', 'pw', '-W', '--json', 'jobs');
is($rc, 0, '-W: exit 0 with the password typed on the terminal');
like($out, qr/^Password for user pw: \n/, '-W: prompts as psql does');
unlike($out, qr/secret/, '-W: the password is not echoed');
($rc, $out, $err) = type_password('-U', 'pw', 'jobs');
is($rc, 0, 'without -w: prompts when the server asks for a password, then connects');

# --- lookup and details agree; timestamps in JSON --------------------------

# batch 3 failed and waits for a retry: lookup's batch_status is its state,
# as details and batchintory.batches show it
($rc, $out, $err) = cli('--json', 'lookup', 'csv', '14');
$rows = json_lines($out);
is_deeply([ map { [ @$_{qw(batch status batch_status)} ] } @$rows ],
	[ [ 3, 'failed', 'retry_pending' ] ],
	'lookup: the attempt failed, the batch waits for a retry (batch_status)');
($rc, $out, $err) = cli('--json', 'details', '3');
is(json_lines($out)->[0]{status}, 'retry_pending', 'details: the same state');
($rc, $out, $err) = cli('lookup', 'csv', '14');
like($out, qr/^csv +3 +1 +failed +13 +18 /m, 'lookup: the attempt failed');
like($out, qr/ retry_pending$/m, 'lookup: the batch retry_pending in the table too');
($rc, $out, $err) = cli('--json', 'lookup-all', 'files', '14');
is(json_lines($out)->[0]{batch_status}, 'retry_pending', 'lookup-all: the state of the batch');

# every command writes timestamps the same way in JSON: ISO 8601, as jsonb
my $iso = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d:\d\d$/;
($rc, $out, $err) = cli('--json', 'lookup', 'csv', '14');
like(json_lines($out)->[0]{acquired_at}, $iso, 'lookup --json: acquired_at in ISO 8601');
like(json_lines($out)->[0]{released_at}, $iso, 'lookup --json: released_at in ISO 8601');
($rc, $out, $err) = cli('--json', 'details', '3');
like(json_lines($out)->[0]{acquired_at}, $iso, 'details --json: acquired_at in ISO 8601');
($rc, $out, $err) = cli('--json', 'status', 'csv');
like(json_lines($out)->[0]{registered_at}, $iso, 'status --json: registered_at in ISO 8601');
($rc, $out, $err) = cli('--json', 'peek', 'csv');
ok(exists json_lines($out)->[0]{lease_until}, 'peek --json: lease_until (null)');

# --- expanded tables (-x), chosen when the terminal is too narrow ----------

($rc, $out, $err) = cli('-x', 'lookup', 'csv', '14');
is($rc, 0, 'lookup -x: exit 0');
like($out, qr/\A-\[ RECORD 1 \]-+\+-+\njob +\| csv\nbatch +\| 3\nattempt +\| 1\nstatus +\| failed\n/,
	'lookup -x: one "column | value" line per column, as psql\'s \x');
like($out, qr/^batch_status +\| retry_pending$/m, 'lookup -x: the batch state');
like($out, qr/^client_addr +\|$/m, 'lookup -x: NULL as nothing, no trailing blank');
($rc, $out, $err) = cli('--expanded', 'jobs');
like($out, qr/\A-\[ RECORD 1 \]-+\+-+\njob +\| csv\n/, 'jobs --expanded');
{
	# on a terminal of 80 columns, lookup's table (over 200) is expanded
	local $ENV{COLUMNS} = 80;
	my $pty_out = '';
	IPC::Run::run([ 'batchintory', 'lookup', 'csv', '14' ], '>pty>', \$pty_out, '2>', \$err);
	$pty_out =~ s/\r//g;
	like($pty_out, qr/\A-\[ RECORD 1 \]/, 'lookup on a narrow terminal: expanded');
	$pty_out = '';
	IPC::Run::run([ 'batchintory', 'lookup', 'csv', '14', '--no-expanded' ],
		'>pty>', \$pty_out, '2>', \$err);
	$pty_out =~ s/\r//g;
	like($pty_out, qr/\Ajob +batch +attempt +status/, 'lookup --no-expanded: a table');
	$pty_out = '';
	IPC::Run::run([ 'batchintory', 'backlog', 'csv' ], '>pty>', \$pty_out, '2>', \$err);
	$pty_out =~ s/\r//g;
	like($pty_out, qr/\Aasset_count +weight/, 'a table that fits the terminal stays a table');
	local $ENV{COLUMNS} = 400;
	$pty_out = '';
	IPC::Run::run([ 'batchintory', 'lookup', 'csv', '14' ], '>pty>', \$pty_out, '2>', \$err);
	$pty_out =~ s/\r//g;
	like($pty_out, qr/\Ajob +batch +attempt +status/, 'lookup on a wide terminal: a table');
}
($rc, $out, $err) = cli('lookup', 'csv', '14');
like($out, qr/\Ajob +batch +attempt/, 'lookup into a pipe: a table, whatever its width');

# --- the total of a backfill: counted, or marked as an estimate -------------

# 700 rows, of which the statistics know 10: the view's total is an estimate
# far off; the client counts (cheap here) and says so
$node->safe_psql('postgres', q{
	CREATE TABLE fresh (id bigserial PRIMARY KEY, kind text NOT NULL);
	INSERT INTO fresh (kind) SELECT 'csv' FROM generate_series(1, 10);
	ANALYZE fresh;
	INSERT INTO fresh (kind) SELECT 'csv' FROM generate_series(11, 700);
});
($rc, $out, $err) = cli('register', 'fresh', '--table', 'fresh', '--id-column', 'id',
	'--upper-bound', '700', '--max-count', '100');
is($rc, 0, 'register a backfill on stale statistics: exit 0');
isnt(sql(q{SELECT total FROM batchintory.jobs WHERE job = 'fresh'}), '700',
	'the view\'s total is the planner\'s estimate, not 700');
like($out, qr/^fresh +fresh +backfill +0 +700 +0\.0 /m, 'register: the total counted, 700');
sql(q{SELECT batchintory_release(batch, attempt, 'succeeded') FROM batchintory_acquire('fresh')});
($rc, $out, $err) = cli('status', 'fresh');
like($out, qr/^\[##------------------\] 14\.3% \(100\/700 assets\)$/m,
	'status: the progress of 100 of 700 assets, counted');
like($out, qr/^total: +700$/m, 'status: total counted');
unlike($out, qr/~/, 'status: nothing estimated');
($rc, $out, $err) = cli('--json', 'jobs', 'fresh');
is_deeply([ @{ json_lines($out)->[0] }{qw(total progress_pct total_estimated)} ],
	[ 700, 14.3, JSON::PP::false ], 'jobs --json: total counted, total_estimated false');

# more than a million assets left by the estimate: not counted, marked "~"
$node->safe_psql('postgres', q{
	CREATE TABLE huge (id bigint PRIMARY KEY);
	INSERT INTO huge SELECT g FROM generate_series(1, 1200000) g;
	ANALYZE huge;
	SELECT batchintory_register('huge', 'huge', 'id', upper_bound => 1200000,
		max_count => 100000);
	SELECT batchintory_release(batch, attempt, 'succeeded') FROM batchintory_acquire('huge');
});
my $estimated = sql(q{SELECT total FROM batchintory.jobs WHERE job = 'huge'});
($rc, $out, $err) = cli('status', 'huge');
like($out, qr/^\[#-+\] ~\d+\.\d% \(100000\/~$estimated assets\)$/m,
	'status: an estimated total is marked "~"');
like($out, qr/^total: +~$estimated$/m, 'status: total ~estimate');
like($out, qr/^~ estimated from the statistics of huge: ANALYZE huge refreshes them$/m,
	'status: says where the estimate comes from and how to refresh it');
($rc, $out, $err) = cli('jobs', 'huge');
like($out, qr/^huge +huge +backfill +\d+ +100000 +~$estimated +~\d+\.\d /m,
	'jobs: total and progress marked "~"');
($rc, $out, $err) = cli('--json', 'status', 'huge');
is_deeply([ @{ json_lines($out)->[0] }{qw(total total_estimated)} ],
	[ $estimated, JSON::PP::true ], 'status --json: the estimate, total_estimated true');
sql(q{SELECT batchintory_drop('huge'); DROP TABLE huge;
	SELECT batchintory_drop('fresh'); DROP TABLE fresh});


# --- usage of the new options ---------------------------------------------

($rc, $out, $err) = cli('acquire', '--help');
like($out, qr/^  --wait\[=SECONDS\] +wait for new assets/m, 'acquire --help: --wait takes an optional value');
like($out, qr/^--wait alone waits until a batch comes/m, 'acquire --help: notes');
($rc, $out, $err) = cli('acquire', 'csv', '--wait=soon');
is($rc, 2, 'acquire --wait=soon: exit 2');
like($err, qr/invalid value "soon" for --wait: must be a positive number of seconds/,
	'acquire --wait=soon: message');
($rc, $out, $err) = cli('acquire', 'csv', '--wait=0');
is($rc, 2, 'acquire --wait=0: exit 2');
($rc, $out, $err) = cli('alter', 'csv');
is($rc, 2, 'alter without options: exit 2');
like($err, qr/^batchintory: no option given: nothing to change$/m, 'alter without options: message');
($rc, $out, $err) = cli('alter', '--help');
like($out, qr/^  --reset SETTING,\.\.\. +clear these settings/m, 'alter --help: --reset');
like($out, qr/^Options left out leave a setting unchanged/m, 'alter --help: notes');
($rc, $out, $err) = cli('details');
is($rc, 2, 'details without a batch: exit 2');
like($err, qr/missing argument BATCH/, 'details without a batch: message');
($rc, $out, $err) = cli('assets', 'one');
is($rc, 2, 'assets with a bad batch number: exit 2');

# --- peek ----------------------------------------------------------------

# batch 3 failed and waits for its retry: peek shows it, takes nothing
($rc, $out, $err) = cli('--json', 'peek', 'csv');
is($rc, 0, 'peek: exit 0');
is_deeply(
	[ map { [ @$_{qw(batch attempt first_id last_id asset_count lease_until)} ] } @{ json_lines($out) } ],
	[ [ 3, 2, 13, 18, 3, undef ] ],
	'peek --json: the retry of batch 3 comes first, without a lease');
($rc, $out, $err) = cli('peek', 'csv');
like($out, qr/^ +3 +2 +csv +13 +18 +3 +480 +max_count +\{"format": "csv"\}$/m,
	'peek: table');
is(sql(q{SELECT attempt FROM batchintory.batches WHERE batch = 3}), '1',
	'peek took nothing');
($rc, $out, $err) = cli('peek', 'nope');
is($rc, 3, 'peek an unknown job: exit 3');
like($err, qr/ERROR: job "nope" does not exist/, 'peek an unknown job: message');

# --- details, predicate, assets, lookup-all ------------------------------

($rc, $out, $err) = cli('details', '3');
is($rc, 0, 'details: exit 0');
like($out, qr/\Ajob: +csv\nsource: +(public\.)?files\nfilter: .*kind.*csv.*\nbatch: +3\nattempt: +1\n/,
	'details: job, table and filter first');
like($out, qr/^message: +bad "row"\n\tat 14$/m, 'details: the release message');
like($out, qr/^status: +retry_pending\nattempt_status: +failed$/m,
	'details: the state of the batch, and how its attempt ended');
like($out, qr/^config: +\{"format": "csv"\}$/m, 'details: config as JSON');
($rc, $out, $err) = cli('--json', 'details', '3');
$rows = json_lines($out);
is(scalar @$rows, 1, 'details --json: one object');
is_deeply([ @{ $rows->[0] }{qw(job batch attempt status attempt_status ended_by first_id last_id)} ],
	[ 'csv', 3, 1, 'retry_pending', 'failed', 'max_count', 13, 18 ],
	'details --json: the current attempt');
is_deeply($rows->[0]{config}, { format => 'csv' }, 'details --json: config is JSON');
($rc, $out, $err) = cli('details', '999');
is($rc, 3, 'details of an unknown batch: exit 3');
like($err, qr/^batchintory: ERROR: batch 999 does not exist$/m, 'details of an unknown batch: message');

($rc, $out, $err) = cli('predicate', '3');
is($rc, 0, 'predicate: exit 0');
like($out, qr/\A"id" >= 13 AND "id" <= 18 AND \(.*kind.*'csv'.*\)\n\z/,
	'predicate: the condition alone on a line');
is(sql(qq{SELECT string_agg(id::text, ',' ORDER BY id) FROM files WHERE $out}),
	'14,16,18', 'predicate: selects the assets of the batch');
($rc, $out, $err) = cli('--json', 'predicate', '3');
is(json_lines($out)->[0]{batch}, 3, 'predicate --json: with the batch');
($rc, $out, $err) = cli('predicate', '999');
is($rc, 3, 'predicate of an unknown batch: exit 3');

($rc, $out, $err) = cli('assets', '3');
is($rc, 0, 'assets: exit 0');
is($out, "id\n--\n14\n16\n18\n", 'assets: the keys of the matching assets');
($rc, $out, $err) = cli('--json', 'assets', '3', '--rows');
is($rc, 0, 'assets --rows: exit 0');
is_deeply(json_lines($out),
	[ { id => 14, kind => 'csv', bytes => 140 },
	  { id => 16, kind => 'csv', bytes => 160 },
	  { id => 18, kind => 'csv', bytes => 180 } ],
	'assets --rows --json: the rows of the metadata table');
($rc, $out, $err) = cli('assets', '999', '--rows');
is($rc, 3, 'assets of an unknown batch: exit 3');
like($err, qr/ERROR: batch 999 does not exist/, 'assets of an unknown batch: message');

($rc, $out, $err) = cli('--json', 'lookup-all', 'files', '14');
is($rc, 0, 'lookup-all: exit 0');
is_deeply([ map { [ @$_{qw(job batch attempt status)} ] } @{ json_lines($out) } ],
	[ [ 'csv', 3, 1, 'failed' ] ], 'lookup-all --json: the attempts of every job');
($rc, $out, $err) = cli('lookup-all', 'no_such_table', '1');
is($rc, 3, 'lookup-all of an unknown table: exit 3');
like($err, qr/relation "no_such_table" does not exist/, 'lookup-all of an unknown table: message');

# --- release --result ----------------------------------------------------

($rc, $out, $err) = cli('release', '4', '1', 'succeeded', '--result', 'not json');
is($rc, 3, 'release with a result that is not JSON: exit 3');
like($err, qr/ERROR: invalid input syntax for type json/, 'invalid result: message');
is(sql(q{SELECT state FROM batchintory.batches WHERE batch = 4}), 'processing',
	'invalid result: the attempt is not released');
($rc, $out, $err) = cli('--json', 'release', '4', '1', 'succeeded',
	'--result', '{"rows": 1, "path": "s3://out/4"}');
is($rc, 0, 'release --result: exit 0');
($rc, $out, $err) = cli('--json', 'lookup', 'csv', '20');
is_deeply(json_lines($out)->[0]{result}, { rows => 1, path => 's3://out/4' },
	'lookup shows the result');
($rc, $out, $err) = cli('details', '4');
like($out, qr/^result: +\{"path": "s3:\/\/out\/4", "rows": 1\}$/m, 'details shows the result');

# --- verify, requeue, rewind ---------------------------------------------

($rc, $out, $err) = cli('verify', 'csv');
is($rc, 0, 'verify, nothing changed: exit 0');
is($out, qq(the succeeded batches of job "csv" match their assets\n), 'verify: says so');
sql(q{UPDATE files SET bytes = 1 WHERE id = 8});
($rc, $out, $err) = cli('--json', 'verify', 'csv');
is($rc, 5, 'verify, an asset changed: exit 5');
is_deeply(
	[ map { [ @$_{qw(batch first_id last_id recorded_count actual_count
		recorded_weight actual_weight requeued)} ] } @{ json_lines($out) } ],
	[ [ 2, 7, 12, 3, 3, 300, 221, JSON::PP::false ] ],
	'verify --json: the batch whose weight changed');
($rc, $out, $err) = cli('verify', 'csv', '--requeue');
is($rc, 5, 'verify --requeue: exit 5');
like($out, qr/^ +2 +7 +12 +3 +3 +300 +221 +t\b/m, 'verify --requeue: requeued');
is(sql(q{SELECT state FROM batchintory.batches WHERE batch = 2}), 'retry_pending',
	'verify --requeue: batch 2 waits for a retry');
($rc, $out, $err) = cli('verify', 'nope');
is($rc, 3, 'verify an unknown job: exit 3');

($rc, $out, $err) = cli('--json', 'requeue', '1');
is($rc, 0, 'requeue: exit 0');
is_deeply([ map { [ @$_{qw(batch job first_id last_id state attempts_left)} ] } @{ json_lines($out) } ],
	[ [ 1, 'csv', 2, 6, 'retry_pending', 3 ] ], 'requeue --json: the batch, back in line');
($rc, $out, $err) = cli('requeue', '999');
is($rc, 3, 'requeue an unknown batch: exit 3');

($rc, $out, $err) = cli('rewind', 'csv', '13');
is($rc, 0, 'rewind: exit 0');
like($out, qr/^job +id +superseded\n-+ +-+ +-+\ncsv +13 +2$/m, 'rewind: batches 3 and 4 superseded');
($rc, $out, $err) = cli('--json', 'backlog', 'csv');
is(json_lines($out)->[0]{first_id}, 14, 'rewind: key 14 is in the backlog again');
($rc, $out, $err) = cli('rewind', 'nope', '1');
is($rc, 3, 'rewind an unknown job: exit 3');

# the oldest work first: batch 1, requeued
($rc, $out, $err) = cli('--json', 'acquire', 'csv');
is(json_lines($out)->[0]{batch}, 1, 'acquire after requeue: the requeued batch');
($rc, $out, $err) = cli('requeue', '1');
is($rc, 3, 'requeue a batch in flight: exit 3');
like($err, qr/^batchintory: ERROR: cannot requeue batch 1 while it is processing$/m,
	'requeue a batch in flight: message');

# --- alter, drop ---------------------------------------------------------

($rc, $out, $err) = cli('alter', 'csv', '--max-count', '5', '--config', '{"format": "v2"}',
	'--reset', 'upper_bound,filter');
is($rc, 0, 'alter: exit 0');
like($out, qr/^csv +files +incremental /m, 'alter: shows the job, incremental now');
is(sql(q{SELECT max_count, config, filter IS NULL, upper_bound IS NULL
	FROM batchintory.job WHERE name = 'csv'}),
	'5|{"format": "v2"}|t|t', 'alter: settings changed and reset');
($rc, $out, $err) = cli('alter', 'csv', '--reset', 'lease');
is($rc, 3, 'alter --reset of a setting that cannot be reset: exit 3');
like($err, qr/ERROR: cannot reset setting "lease"/, 'alter --reset lease: message');
($rc, $out, $err) = cli('alter', 'csv', '--max-attempts', 'many');
is($rc, 2, 'alter with a bad number: exit 2');
($rc, $out, $err) = cli('alter', 'nope', '--max-count', '1');
is($rc, 3, 'alter an unknown job: exit 3');
($rc, $out, $err) = cli('alter', 'csv', '--notify', 'on');
is($rc, 0, 'alter --notify on: exit 0');

($rc, $out, $err) = cli('drop', 'csv');
is($rc, 0, 'drop: exit 0');
like($out, qr/^csv +dropped$/m, 'drop: says so');
($rc, $out, $err) = cli('--json', 'jobs');
is($out, '', 'drop: no job left');
($rc, $out, $err) = cli('drop', 'csv');
is($rc, 3, 'drop an unknown job: exit 3');
like($err, qr/^batchintory: ERROR: job "csv" does not exist$/m, 'drop an unknown job: message');

# --- a job whose name starts with "-" ----------------------------------------

# --job NAME gives the job to every command that takes one; "--" ends the
# options of a command (run: test/t/011_cli_run.pl)
($rc, $out, $err) = cli('register', '-nightly', '--table', 'files', '--id-column', 'id');
is($rc, 2, 'register -nightly: an option, exit 2');
like($err, qr/^batchintory: invalid option "-nightly"\nA job whose name starts with "-" is given as --job NAME\.$/m,
	'register -nightly: the message says how to give such a job');
($rc, $out, $err) = cli('register', '--table', 'files', '--id-column', 'id', '--max-count', '4',
	'--job', '-x');
is($rc, 0, 'register --job -x: exit 0');
like($out, qr/^-x +files +incremental /m, 'register --job -x: shows the job');
($rc, $out, $err) = cli('register', '--table', 'files', '--id-column', 'id', '--', '--y');
is($rc, 0, 'register -- --y: exit 0');
is(sql(q{SELECT string_agg(name, ' ' ORDER BY name) FROM batchintory.job
	WHERE name LIKE '-%'}), '--y -x', 'register: jobs -x and --y exist');
($rc, $out, $err) = cli('--json', 'jobs', '--job=-x');
is_deeply([ map { $_->{job} } @{ json_lines($out) } ], [ '-x' ], 'jobs --job=-x');
($rc, $out, $err) = cli('status', '--job', '-x');
like($out, qr/^job: +-x$/m, 'status --job -x');
($rc, $out, $err) = cli('alter', '--job', '-x', '--max-count', '3');
is($rc, 0, 'alter --job -x: exit 0');
($rc, $out, $err) = cli('--json', 'peek', '--job', '-x');
is(json_lines($out)->[0]{last_id}, 3, 'peek --job -x: the limit altered');
($rc, $out, $err) = cli('--json', 'acquire', '--job', '-x', '--worker', 'w');
is_deeply([ @{ json_lines($out)->[0] }{qw(job first_id last_id)} ], [ '-x', 1, 3 ],
	'acquire --job -x');
($rc, $out, $err) = cli('--json', 'acquire', '--wait=0.1', '--job', '-x', '--max-count', '1');
is(json_lines($out)->[0]{first_id}, 4, 'acquire --wait --job -x');
($rc, $out, $err) = cli('--json', 'backlog', '--', '-x');
is(json_lines($out)->[0]{first_id}, 5, 'backlog -- -x');
($rc, $out, $err) = cli('--json', 'backlog', '--job', '-x', '--estimate');
is($rc, 0, 'backlog --job -x --estimate: exit 0');
($rc, $out, $err) = cli('--json', 'lookup', '--job', '-x', '2');
is_deeply([ map { [ @$_{qw(job first_id worker)} ] } @{ json_lines($out) } ],
	[ [ '-x', 1, 'w' ] ], 'lookup --job -x ID');
($rc, $out, $err) = cli('--json', 'lookup', '2', '--job', '-x');
is(json_lines($out)->[0]{job}, '-x', 'lookup ID --job -x: in any order');
($rc, $out, $err) = cli('rewind', '--job', '-x', '1');
like($out, qr/^-x +1 +2$/m, 'rewind --job -x ID');
($rc, $out, $err) = cli('verify', '--job', '-x');
is($rc, 0, 'verify --job -x: exit 0');
($rc, $out, $err) = cli('details', '--job', '-x');
is($rc, 2, 'details --job: not a command that takes a job, exit 2');
like($err, qr/unrecognized option "--job" for command details/, 'details --job: message');
($rc, $out, $err) = cli('drop', '--job', '-x');
is($rc, 0, 'drop --job -x: exit 0');
like($out, qr/^-x +dropped$/m, 'drop --job -x: says so');
($rc, $out, $err) = cli('drop', '--', '--y');
like($out, qr/^--y +dropped$/m, 'drop -- --y');
($rc, $out, $err) = cli('drop', '--help');
like($out, qr/^  --job NAME +JOB, also one that starts with "-"$/m, 'drop --help: --job');
($rc, $out, $err) = cli('--help');
like($out, qr/^A job whose name starts with "-" is given as --job NAME/m, '--help: --job');

# --- a time key: bounds given as times, shown as times -------------------
sql(q{CREATE TABLE stamps (t timestamptz NOT NULL); CREATE INDEX ON stamps (t);
	INSERT INTO stamps SELECT '2026-01-01 00:00+00'::timestamptz + g * interval '1 minute'
	FROM generate_series(0, 9) g});
($rc, $out, $err) = cli('register', 'stamps', '--table', 'stamps', '--id-column', 't',
	'--late-commit-guard', 'off', '--lower-bound', '2026-01-01 00:02+00',
	'--upper-bound', '2026-01-01 00:05+00');
is($rc, 0, 'register --lower-bound TIME: exit 0');
is(sql(q{SET TimeZone = 'UTC'; SELECT lower_key || ' .. ' || upper_key FROM batchintory.jobs
	WHERE job = 'stamps'}),
	'2026-01-01 00:02:00+00 .. 2026-01-01 00:05:00+00', 'the bounds, stored as the times given');
($rc, $out, $err) = cli('alter', 'stamps', '--upper-bound', '2026');
is($rc, 3, 'alter --upper-bound that is no time: exit 3 (the server refused)');
like($err, qr/invalid input syntax for type timestamp with time zone: "2026"/,
	'alter --upper-bound that is no time: the server says why');
($rc, $out, $err) = cli('--json', 'acquire', 'stamps', '--batches', '9');
is(scalar(@{ json_lines($out) }), 1, 'acquire: one batch of the window');
is(json_lines($out)->[0]{asset_count}, 4, 'acquire: the four rows from 00:02 to 00:05');
sql(q{INSERT INTO stamps VALUES ('2026-01-01 00:05:30+00')});
($rc, $out, $err) = cli('alter', 'stamps', '--upper-bound', '2026-01-01 00:07+00');
($rc, $out, $err) = cli('peek', 'stamps');
like($out, qr/ +first_key +last_key\n/, 'peek of a time key: a table with the keys as times');
sql(q{SELECT batchintory_release(batch, attempt, 'succeeded') FROM batchintory.batches
	WHERE job = 'stamps' AND status = 'processing'});
sql(q{INSERT INTO stamps VALUES ('2026-01-01 00:03:30+00')});
{
	local $ENV{PGTZ} = 'UTC';
	($rc, $out, $err) = cli('--json', 'verify', 'stamps');
}
is($rc, 5, 'verify of a row that came after its batch was cut: exit 5');
is_deeply([ map { [ @$_{qw(reason late_count first_key)} ] } @{ json_lines($out) } ],
	[ [ 'late', 1, '2026-01-01 00:02:00+00' ] ],
	'verify --json: the batch, late, with the late row counted');
{
	local $ENV{PGTZ} = 'UTC';
	($rc, $out, $err) = cli('run', 'stamps', '--', 'true');
}
like($out, qr/^batch \d+ attempt 1: keys 2026-01-01 00:05:00\.000001\+00\.\.2026-01-01 00:07:00\+00, 3 assets: succeeded/m,
	'run of a time-keyed job names its batches by time');

$node->stop;
done_testing();
