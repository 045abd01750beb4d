# The command-line client as a worker that has exactly one grant: membership
# in the role that owns the pipeline's job (issue 7: no grant on the
# inventory, none on the metadata table or its sequence).  Every command
# works for it, the late-commit guard included; a stranger gets exit 3 and
# the error that names the job and the GRANT that would help.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cli_worker');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION batchintory;
	CREATE ROLE pipeline;
	CREATE ROLE worker LOGIN IN ROLE pipeline;
	CREATE ROLE stranger LOGIN;
	CREATE TABLE files (id bigserial PRIMARY KEY, bytes bigint, kind text);
	INSERT INTO files (bytes, kind)
	SELECT g * 10, CASE WHEN g % 2 = 0 THEN 'csv' ELSE 'json' END FROM generate_series(1, 20) g;
	ALTER TABLE files OWNER TO pipeline;
	SET ROLE pipeline;
	SELECT batchintory_register('csv', 'files', 'id', 'bytes', filter => $$kind = 'csv'$$,
		max_count => 3);
});

$ENV{PGHOST} = $node->host;
$ENV{PGPORT} = $node->port;
$ENV{PGDATABASE} = 'postgres';

# batchintory ARGS... as ROLE: (exit code, stdout, stderr)
sub cli_as
{
	my ($role, @args) = @_;
	my ($out, $err) = ('', '');
	local $ENV{PGUSER} = $role;
	IPC::Run::run([ 'batchintory', @args ], '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

is( $node->safe_psql('postgres', q{
		SELECT (SELECT count(*) FROM pg_auth_members WHERE member = 'worker'::regrole)
		|| ' ' || (SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a
			WHERE a.grantee = 'worker'::regrole)
		|| ' ' || has_table_privilege('worker', 'batchintory.batch', 'SELECT')}),
	'1 0 false', 'the worker has one grant, membership in the owner role, and none on the inventory');

my ($rc, $out, $err) = cli_as('worker', '--json', 'acquire', 'csv', '--worker', 'w1');
is($rc, 0, 'acquire as the worker: exit 0 (the guard reads the sequence as the owner)');
like($out, qr/"batch": 1, "attempt": 1, "job": "csv", "first_id": 2, "last_id": 6/,
	'acquire as the worker: the first batch');
($rc, $out, $err) = cli_as('worker', 'heartbeat', '1', '1');
is($rc, 0, 'heartbeat as the worker');
($rc, $out, $err) = cli_as('worker', 'release', '1', '1', 'succeeded', '--result', '{"rows": 3}');
is($rc, 0, 'release as the worker');
($rc, $out, $err) = cli_as('worker', 'run', 'csv', '--iterations', '2', '--', 'true');
is($rc, 0, 'run as the worker: exit 0');
for my $command (['jobs'], [ 'status', 'csv' ], [ 'backlog', 'csv' ], [ 'peek', 'csv' ],
	[ 'lookup', 'csv', '4' ], [ 'lookup-all', 'files', '4' ], [ 'details', '1' ],
	[ 'assets', '1' ], [ 'predicate', '1' ], [ 'verify', 'csv' ])
{
	($rc, $out, $err) = cli_as('worker', @$command);
	ok($rc == 0 || ($command->[0] eq 'peek' && $rc == 1),
		"@$command as the worker: exit $rc") or diag($err);
}
($rc, $out, $err) = cli_as('worker', '--json', 'lookup', 'csv', '4');
like($out, qr/"result": \{"rows": 3\}/, 'lookup as the worker shows the result');
($rc, $out, $err) = cli_as('worker', 'jobs');
like($out, qr/^csv\b/m, 'jobs as the worker lists the job');

($rc, $out, $err) = cli_as('stranger', 'acquire', 'csv');
is($rc, 3, 'acquire as a stranger: exit 3');
like($err, qr/permission denied for job "csv"/, 'a stranger is told the job refuses it');
like($err, qr/GRANT pipeline TO stranger/, 'and which grant would help');
($rc, $out, $err) = cli_as('stranger', 'jobs');
is($rc, 0, 'jobs as a stranger: exit 0');
unlike($out, qr/^csv\b/m, 'a stranger does not see the job');

$node->stop;
done_testing();
