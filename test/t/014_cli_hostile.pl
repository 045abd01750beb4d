# The command-line client under a hostile search_path: a schema first in
# the client's path (before pg_catalog) holds functions of the extension's
# names and signatures, operators and functions of the names the client's
# own SQL could use, and types of the names it could cast to.  Each counts
# its call (a sequence survives the rollback) and raises.  Every command
# runs and none of them may call one: the client calls the extension in the
# schema it reports and qualifies everything else.
use strict;
use warnings;

use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cli_hostile');
$node->init;
$node->start;

$ENV{PGHOST} = $node->host;
$ENV{PGPORT} = $node->port;
$ENV{PGDATABASE} = 'postgres';

sub sql
{
	return $node->safe_psql('postgres', shift);
}

sql(q{
	CREATE EXTENSION batchintory;
	CREATE TABLE files (id bigserial PRIMARY KEY, kind text NOT NULL, bytes bigint);
	INSERT INTO files (kind, bytes)
	SELECT CASE WHEN i % 2 = 0 THEN 'csv' ELSE 'json' END, i * 10
	FROM generate_series(1, 30) i;

	CREATE SCHEMA hostile;
	CREATE SEQUENCE hostile.calls;
	CREATE FUNCTION hostile.hit(what text) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM pg_catalog.nextval('hostile.calls');
		RAISE EXCEPTION 'a hostile object was called: %', what;
	END $$;

	-- every function and procedure of the extension, same name and signature
	-- (the columns of a TABLE result renamed: PL/pgSQL wants them apart from
	-- the arguments' names)
	DO $$
	DECLARE
		p record;
	BEGIN
		FOR p IN
			-- PL/pgSQL takes no "any": a key (a bound) becomes anycompatible
			SELECT f.proname, f.prokind,
				replace(replace(pg_get_function_arguments(f.oid), '"any" DEFAULT NULL::unknown',
					'anycompatible DEFAULT NULL'), '"any"', 'anycompatible') AS args,
				CASE WHEN 't' = ANY (f.proargmodes) THEN
					'TABLE(' || (SELECT string_agg(format('c%s %s', i, format_type(t, NULL)),
						', ' ORDER BY i)
						FROM unnest(f.proallargtypes, f.proargmodes) WITH ORDINALITY AS a (t, m, i)
						WHERE m = 't') || ')'
				ELSE pg_get_function_result(f.oid) END AS result
			FROM pg_proc f
			JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = f.oid
				AND d.deptype = 'e'
			JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'batchintory'
			WHERE f.pronamespace = e.extnamespace
		LOOP
			IF p.prokind = 'p' THEN
				EXECUTE format('CREATE PROCEDURE hostile.%I(%s) LANGUAGE plpgsql AS %L',
					p.proname, p.args,
					format('BEGIN PERFORM hostile.hit(%L); END', p.proname));
			ELSE
				EXECUTE format('CREATE FUNCTION hostile.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L',
					p.proname, p.args, p.result,
					format('BEGIN PERFORM hostile.hit(%L); END', p.proname));
			END IF;
		END LOOP;
	END $$;

	-- operators and functions of the names the client's SQL could use
	DO $$
	DECLARE
		o text[];
		n int := 0;
	BEGIN
		FOREACH o SLICE 1 IN ARRAY ARRAY[
			['=', 'text', 'text', 'boolean'], ['=', 'name', 'name', 'boolean'],
			['=', 'oid', 'oid', 'boolean'], ['=', 'bigint', 'bigint', 'boolean'],
			['-', 'timestamptz', 'timestamptz', 'interval'], ['||', 'text', 'text', 'text'],
			['->>', 'jsonb', 'text', 'text'], ['#>>', 'jsonb', 'text[]', 'text']]
		LOOP
			n := n + 1;
			EXECUTE format('CREATE FUNCTION hostile.op%s(%s, %s) RETURNS %s LANGUAGE plpgsql'
				' AS %L', n, o[2], o[3], o[4],
				format('BEGIN PERFORM hostile.hit(%L); RETURN NULL; END', 'operator ' || o[1]));
			EXECUTE format('CREATE OPERATOR hostile.%s (LEFTARG = %s, RIGHTARG = %s,'
				' FUNCTION = hostile.op%s)', o[1], o[2], o[3], n);
		END LOOP;
		FOREACH o SLICE 1 IN ARRAY ARRAY[
			['clock_timestamp()', 'timestamptz'], ['now()', 'timestamptz'],
			['date_part(text, interval)', 'double precision'],
			['to_jsonb(anyelement)', 'jsonb'], ['jsonb_each(jsonb)', 'SETOF record'],
			['array_position(anyarray, anyelement)', 'integer'],
			['string_to_array(text, text)', 'text[]'], ['format_type(oid, integer)', 'text'],
			['quote_ident(text)', 'text']]
		LOOP
			EXECUTE format('CREATE FUNCTION hostile.%s RETURNS %s LANGUAGE plpgsql AS %L',
				o[1], o[2], format('BEGIN PERFORM hostile.hit(%L); RETURN %s; END',
				'function ' || o[1], CASE WHEN o[2] LIKE 'SETOF%' THEN '' ELSE 'NULL' END));
		END LOOP;
	END $$;

	-- types of the names the client could cast to (bigint, integer, numeric,
	-- boolean, interval are keywords: always pg_catalog's)
	DO $$
	DECLARE
		t text;
	BEGIN
		FOREACH t IN ARRAY ARRAY['text', 'jsonb', 'float8', 'int8', 'int4', 'bool', 'name',
			'regclass', 'regrole', 'timestamptz']
		LOOP
			EXECUTE format('CREATE DOMAIN hostile.%I AS pg_catalog.%I CHECK (hostile.hit(%L))',
				t, t, 'type ' || t);
		END LOOP;
	END $$;
});

sub calls
{
	return sql(q{SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM hostile.calls});
}

# the hostile objects do fire when looked up first
{
	local $ENV{PGOPTIONS} = '-c search_path=hostile,pg_catalog,public';
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		q{SELECT batchintory_heartbeat(1, 1)});
	like($stderr, qr/a hostile object was called: batchintory_heartbeat/,
		'an unqualified call of the extension reaches the hostile schema');
	($ret, $stdout, $stderr) = $node->psql('postgres', q{SELECT 'x'::text});
	like($stderr, qr/a hostile object was called: type text/, 'so does a cast to text');
}
is(calls(), 2, 'the hostile objects count their calls');
sql(q{ALTER SEQUENCE hostile.calls RESTART});

# the client runs with the hostile schema first in its path (the test's own
# SQL does not)
my $hostile_path = '-c search_path=hostile,pg_catalog,public';

# batchintory ARGS...: (exit code, stdout, stderr)
sub cli
{
	my ($out, $err) = ('', '');
	local $ENV{PGOPTIONS} = $hostile_path;
	IPC::Run::run([ 'batchintory', @_ ], '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# IPC::Run::start of the client with the hostile path
sub start_cli
{
	my ($args, @redirects) = @_;
	local $ENV{PGOPTIONS} = $hostile_path;
	return IPC::Run::start([ 'batchintory', @$args ], @redirects);
}

# run a command, check its exit code and that no hostile object ran
sub check
{
	my ($expected, @args) = @_;
	my ($rc, $out, $err) = cli(@args);
	is($rc, $expected, "@args: exit $expected") or diag($err);
	is(calls(), 0, "@args: no hostile object called") or diag($err);
	return ($rc, $out, $err);
}

my ($rc, $out, $err);
my $me = sql(q{SELECT current_user});

check(0, 'register', 'csv', '--table', 'files', '--id-column', 'id', '--weight-column', 'bytes',
	'--filter', q{kind OPERATOR(pg_catalog.=) 'csv'}, '--lower-bound', '1', '--upper-bound',
	'30', '--max-count', '3', '--max-weight', '1000', '--max-attempts', '2', '--lease',
	'1 minute', '--config', '{"a": 1}', '--retry-backoff', '0', '--late-commit-guard', 'on',
	'--guard-timeout', '5 seconds', '--notify', 'on');
check(0, 'alter', 'csv', '--max-count', '2', '--reset', 'max_weight,upper_bound',
	'--owner', $me);
check(0, 'jobs');
check(0, '--json', 'jobs', 'csv');
check(0, 'status', 'csv');
check(0, 'peek', 'csv');
($rc, $out, $err) = check(0, '--json', 'acquire', 'csv', '--worker', 'w', '--batches', '2');
my $rows = [ map { decode_json($_) } split /\n/, $out ];
is(scalar @$rows, 2, 'acquire --batches 2: two batches');
my ($b1, $b2) = map { $_->{batch} } @$rows;
check(0, 'heartbeat', $b1, '1');
check(0, 'release', $b1, '1', 'succeeded', '--result', '{"rows": 2}');
check(0, 'release', $b2, '1', 'failed', '--message', 'no');
check(0, 'backlog', 'csv');
check(0, 'backlog', 'csv', '--estimate');
check(0, 'lookup', 'csv', '2');
check(0, 'lookup-all', 'files', '2');
check(0, 'details', $b1);
check(0, 'assets', $b1);
check(0, 'assets', $b1, '--rows');
check(0, 'predicate', $b1);
check(0, 'verify', 'csv');
sql(q{UPDATE files SET bytes = 1 WHERE id = 2});
check(5, 'verify', 'csv', '--requeue');
check(0, 'requeue', $b2);
check(0, 'run', 'csv', '--iterations', '3', '--heartbeat', '0.1', '--', 'sh', '-c',
	'sleep 0.3; echo "{\"ok\": true}" > "$BATCHINTORY_RESULT_FILE"');
check(0, 'rewind', 'csv', '20');

# waiting: LISTEN, woken by a notification
my ($run_out, $run_err) = ('', '');
my $run = start_cli(
	[ 'run', 'csv', '--follow', '--recheck', '300', '--', 'sh', '-c',
	  'echo "got $BATCHINTORY_LAST_ID"' ],
	'>', \$run_out, '2>', \$run_err);
my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
until ($run_out =~ /^got 30$/m || time > $deadline || !$run->pumpable)
{
	$run->pump_nb;
	select(undef, undef, undef, 0.05);
}
sql(q{INSERT INTO files (kind, bytes) VALUES ('csv', 1), ('csv', 1)});
until ($run_out =~ /^got 32$/m || time > $deadline || !$run->pumpable)
{
	$run->pump_nb;
	select(undef, undef, undef, 0.05);
}
$run->signal('TERM');
$run->finish;
like($run_out, qr/^got 32$/m, 'run --follow: woken by the insert') or diag($run_err);
is(calls(), 0, 'run --follow: no hostile object called');
$run = start_cli([ 'acquire', 'csv', '--wait', '--recheck', '300' ],
	'>', \$run_out, '2>', \$run_err);
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	WHERE pid <> pg_backend_pid() AND state = 'idle'
		AND query LIKE '%batchintory_acquire%'})
  or die 'acquire --wait did not start waiting';
sql(q{INSERT INTO files (kind, bytes) VALUES ('csv', 1)});
$run->finish;
is($run->full_result(0) >> 8, 0, 'acquire --wait: exit 0');
is(calls(), 0, 'acquire --wait: no hostile object called');
check(0, 'drop', 'csv');

$node->stop;
done_testing();
