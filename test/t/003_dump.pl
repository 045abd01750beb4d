# pg_dump keeps the inventory (pg_extension_config_dump): after a dump and
# restore, jobs, batches and attempts are there and acquire goes on from the
# same frontier.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION batchintory;
	CREATE TABLE files (id bigserial PRIMARY KEY, bytes bigint);
	INSERT INTO files (bytes) SELECT g FROM generate_series(1, 10) g;
	SELECT batchintory_register('nightly', 'files', 'id', 'bytes', max_count => 4,
		config => '{"model": "v3"}');
	SELECT batchintory_release(batch, attempt, 'succeeded')
	FROM batchintory_acquire('nightly');
	SELECT batchintory_release(batch, attempt, 'failed', 'oom')
	FROM batchintory_acquire('nightly');
});

my $file = $node->basedir . '/dump.sql';
command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $file ],
	'pg_dump of a database with batchintory');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'),
	  '-f', $file ],
	'restore');

is($node->safe_psql('restored',
		"SELECT name, frontier, config FROM batchintory.job"),
	'nightly|8|{"model": "v3"}', 'job and frontier restored');
is($node->safe_psql('restored',
		"SELECT string_agg(format('%s:%s-%s:%s', batch_id, first_id, last_id, status), ' ' ORDER BY batch_id) FROM batchintory.batch"),
	'1:1-4:succeeded 2:5-8:failed', 'batches restored');
is($node->safe_psql('restored',
		"SELECT string_agg(format('%s/%s:%s:%s', batch_id, attempt, status, message), ' ' ORDER BY batch_id) FROM batchintory.attempt"),
	'1/1:succeeded: 2/1:failed:oom', 'attempts restored');

# the failed batch is retried first, then new work goes on from the frontier;
# batch ids continue from the restored sequence
is($node->safe_psql('restored',
		"SELECT string_agg(format('%s/%s:%s-%s', batch, attempt, first_id, last_id), ' ') FROM batchintory_acquire('nightly', batches => 2)"),
	'2/2:5-8 3/1:9-10', 'acquire goes on after the restore');

$node->stop;
done_testing();
