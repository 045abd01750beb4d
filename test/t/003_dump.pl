# pg_dump keeps the inventory (pg_extension_config_dump): after a dump and
# restore, jobs (with their owners), batches, attempts and counters are
# there and acquire goes on from the same frontier.  The analyzed filters
# are not dumped (object ids change): a restored job analyzes its filter's
# fully qualified deparse again, a type in another schema included.
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
	CREATE ROLE pipeline;
	CREATE SCHEMA rules;
	CREATE TYPE rules.size AS ENUM ('small', 'large');
	ALTER TABLE files ADD COLUMN size rules.size;
	UPDATE files SET size = CASE WHEN bytes <= 6 THEN 'small' ELSE 'large' END::rules.size;
	ALTER TABLE files OWNER TO pipeline;
	GRANT USAGE ON SCHEMA rules TO pipeline;
	SET ROLE pipeline;
	SET search_path = rules, public;
	SELECT batchintory_register('small', 'files', 'id', filter => $$size = 'small'$$);
	SELECT count(*) FROM batchintory_acquire('small');
});
is($node->safe_psql('postgres', q{SELECT filter FROM batchintory.job WHERE name = 'small'}),
	"(size = 'small'::rules.size)", 'the filter is stored as its qualified deparse');

my $file = $node->basedir . '/dump.sql';
command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $file ],
	'pg_dump of a database with batchintory');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'),
	  '-f', $file ],
	'restore');

is($node->safe_psql('restored',
		"SELECT string_agg(format('%s|%s|%s|%s|%s', name, owner, frontier, config, done_batches), ' ' ORDER BY name) FROM batchintory.job"),
	'nightly|postgres|8|{"model": "v3"}|1 small|pipeline|10|{}|0',
	'jobs, owners, frontiers and counters restored');
is($node->safe_psql('restored', 'SELECT count(*) FROM batchintory.job_filter'),
	'0', 'the analyzed filters are not dumped');
is($node->safe_psql('restored', q{
		SELECT batchintory_rewind('small', 1);
		SELECT first_id || '-' || last_id || ':' || asset_count FROM batchintory_peek('small')}),
	"1\n1-10:6", 'the restored filter is analyzed again from its deparse and selects the same assets');
is($node->safe_psql('restored',
		"SELECT string_agg(format('%s:%s-%s:%s', batch_id, first_id, last_id, status), ' ' ORDER BY batch_id) FROM batchintory.batch WHERE job_id = 1"),
	'1:1-4:succeeded 2:5-8:failed', 'batches restored');
is($node->safe_psql('restored',
		"SELECT string_agg(format('%s/%s:%s:%s', batch_id, attempt, status, message), ' ' ORDER BY batch_id) FROM batchintory.attempt WHERE batch_id <= 2"),
	'1/1:succeeded: 2/1:failed:oom', 'attempts restored');

# the failed batch is retried first, then new work goes on from the frontier;
# batch ids continue from the restored sequence
is($node->safe_psql('restored',
		"SELECT string_agg(format('%s/%s:%s-%s', batch, attempt, first_id, last_id), ' ') FROM batchintory_acquire('nightly', batches => 2)"),
	'2/2:5-8 4/1:9-10', 'acquire goes on after the restore');

$node->stop;
done_testing();
