# Upgrade from 0.1.0: a server runs the real 0.1.0 extension (built from the
# git history by test/run, installed into a relocated copy of PostgreSQL),
# jobs register and run batches, then the same data directory is served by
# this build and ALTER EXTENSION batchintory UPDATE runs.  Every batch and
# attempt must be kept, each job owned by its table's owner, the 0.1.0
# grants on the inventory gone, the counters right, acquire going on where
# it stopped -- and the upgraded extension must look exactly like a fresh
# install of this version.  A job a worker planted through 0.1.0's grants,
# whose filter calls the worker's function, becomes the table owner's: the
# update warns, the job cannot work, and its function never runs -- not
# when a superuser touches the job or reads the views.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use OldRelease;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = old_release_node('old', $ENV{BATCHINTORY_OLD_BUILD}, '0.1.0');
$node->safe_psql('postgres', q{
	CREATE ROLE pipeline;
	CREATE ROLE worker IN ROLE pipeline;
	CREATE TABLE files (id bigserial PRIMARY KEY, bytes bigint, kind text);
	INSERT INTO files (bytes, kind)
	SELECT g, CASE WHEN g % 2 = 0 THEN 'csv' ELSE 'json' END FROM generate_series(1, 40) g;
	ALTER TABLE files OWNER TO pipeline;
	-- 0.1.0 asked workers for grants on the inventory
	GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA batchintory TO worker;
	GRANT USAGE ON ALL SEQUENCES IN SCHEMA batchintory TO worker;
	SELECT batchintory_register('csv', 'files', 'id', 'bytes', filter => $$kind = 'csv'$$,
		max_count => 4);
	SELECT batchintory_register('all', 'files', 'id', 'bytes', upper_bound => 30,
		max_weight => 50);
	SELECT count(*) FROM batchintory_acquire('csv', batches => 3);
	SELECT batchintory_release(1, 1, 'succeeded');
	SELECT batchintory_release(2, 1, 'failed', 'boom');
	SELECT count(*) FROM batchintory_acquire('csv');
	SELECT count(*) FROM batchintory_acquire('all', batches => 2);
	SELECT batchintory_release(batch_id, attempt, 'succeeded')
	FROM batchintory.batch WHERE job_id = 2 AND batch_id = (SELECT min(batch_id)
		FROM batchintory.batch WHERE job_id = 2);
	-- a table of the superuser's, with a job
	CREATE TABLE mine (id bigserial PRIMARY KEY);
	SELECT batchintory_register('mine', 'mine', 'id');
	-- a worker plants a job whose filter calls its own function
	CREATE SCHEMA planted AUTHORIZATION worker;
	SET ROLE worker;
	CREATE TABLE planted.ran (who name);
	GRANT INSERT ON planted.ran TO PUBLIC;
	CREATE FUNCTION planted.note() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
	BEGIN
		INSERT INTO planted.ran VALUES (current_user);
		RETURN true;
	END $$;
	CREATE FUNCTION planted.steal(text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
	BEGIN
		PERFORM planted.note();
		RETURN true;
	END $$;
	SELECT batchintory_register('planted', 'files', 'id', filter => 'planted.steal(kind)');
	RESET ROLE;
});

# the inventory as 0.1.0 left it
my $inventory = q{
	SELECT string_agg(format('%s:%s:%s-%s:%s:%s:%s', b.batch_id, b.job_id, b.first_id,
		b.last_id, b.asset_count, b.status, b.attempt), ' ' ORDER BY b.batch_id)
	FROM batchintory.batch b};
my $attempts = q{
	SELECT string_agg(format('%s.%s:%s:%s:%s', batch_id, attempt, status, asset_count,
		coalesce(message, '')), ' ' ORDER BY batch_id, attempt)
	FROM batchintory.attempt};
my $before_batches = $node->safe_psql('postgres', $inventory);
my $before_attempts = $node->safe_psql('postgres', $attempts);
my $before_frontiers = $node->safe_psql('postgres',
	'SELECT string_agg(name || ' . "'='" . ' || frontier, \' \' ORDER BY name) FROM batchintory.job');
note "0.1.0 batches: $before_batches";

# the same data directory, served by this build
serve_with_this_build($node);
# before the update, the new library refuses the old SQL definitions of
# functions whose arguments changed instead of reading arguments not passed
my ($rc, $out, $err) = $node->psql('postgres',
	q{SELECT batchintory_release(3, 1, 'succeeded')});
like($err, qr/the SQL definition of batchintory_release does not match the library/,
	'between the new library and the update, an old definition is refused');
($rc, $out, $err) = $node->psql('postgres', q{SELECT * FROM batchintory_acquire('csv')});
like($err, qr/the SQL of extension batchintory is older than its library.*\n.*The database has batchintory 0\.1\.0; the library installed is 0\.3\.0\.\n.*HINT:  Run ALTER EXTENSION batchintory UPDATE\./,
	'between the new library and the update, every function says to run the update');
my $ran_before = $node->safe_psql('postgres', 'SELECT count(*) FROM planted.ran');
($rc, $out, $err) = $node->psql('postgres', 'ALTER EXTENSION batchintory UPDATE');
is($rc, 0, 'ALTER EXTENSION UPDATE runs');
like($err, qr/WARNING:  filter of job "planted" kept as it was: filter must not use function planted\.steal\(text\)/,
	"the update warns of the planted filter, which uses a function that is not PostgreSQL's own");
like($err, qr/WARNING:  job "mine" now belongs to superuser \w+\n.*DETAIL:  Its workers would need the privileges of a superuser\.\n.*HINT:  Give it to a role of its own: .*batchintory_alter\('mine', owner => 'ingest'\)/,
	'the update warns of a job that now belongs to a superuser, and says how to move it');
is($node->safe_psql('postgres',
		q{SELECT extversion FROM pg_extension WHERE extname = 'batchintory'}),
	'0.3.0', 'ALTER EXTENSION UPDATE brings it to 0.3.0, through 0.2.0');

is($node->safe_psql('postgres', $inventory), $before_batches, 'every batch is kept');
is($node->safe_psql('postgres', $attempts), $before_attempts, 'every attempt is kept');
is( $node->safe_psql('postgres',
		'SELECT string_agg(name || ' . "'='" . ' || frontier, \' \' ORDER BY name) FROM batchintory.job'),
	$before_frontiers, 'the frontiers are kept');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(name || '=' || owner, ' ' ORDER BY name) FROM batchintory.job}),
	'all=pipeline csv=pipeline mine=' . $node->safe_psql('postgres', 'SELECT current_user')
	  . ' planted=pipeline', "each job is owned by its table's owner");

# the planted job cannot work, says why, and its function never runs
for my $call ("SELECT * FROM batchintory_acquire('planted')",
	"SELECT * FROM batchintory_peek('planted')",
	"SELECT * FROM batchintory_backlog('planted')",
	"SELECT * FROM batchintory_backlog('planted', false)",
	"SELECT * FROM batchintory_verify('planted')")
{
	($rc, $out, $err) = $node->psql('postgres', $call);
	like($err, qr/job "planted" cannot read table "files"/, "refused: $call");
}
like($node->safe_psql('postgres', q{SELECT problem FROM batchintory.jobs WHERE job = 'planted'}),
	qr/Its filter is no longer valid: filter must not use function planted\.steal\(text\)/,
	'the jobs view says what is wrong with the planted job');
$node->safe_psql('postgres', 'SELECT * FROM batchintory.jobs; SELECT * FROM batchintory.batches');
is($node->safe_psql('postgres', 'SELECT count(*) FROM planted.ran'), $ran_before,
	"the planted function never ran after the update");
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a
		  WHERE c.relnamespace = 'batchintory'::regnamespace AND c.relkind IN ('r', 'S')
		  AND a.grantee <> c.relowner}),
	'0', 'no grant on the inventory is left');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(format('%s:%s/%s:%s/%s', name, cut_batches, cut_assets,
			done_batches, done_assets), ' ' ORDER BY name) FROM batchintory.job}),
	$node->safe_psql('postgres', q{
		SELECT string_agg(format('%s:%s/%s:%s/%s', name, c.cut, c.cut_assets, c.done,
			c.done_assets), ' ' ORDER BY name)
		FROM batchintory.job j, LATERAL (
			SELECT count(*) FILTER (WHERE b.status <> 'superseded') AS cut,
				coalesce(sum(b.asset_count) FILTER (WHERE b.status <> 'superseded'), 0) AS cut_assets,
				count(*) FILTER (WHERE b.status = 'succeeded') AS done,
				coalesce(sum(b.asset_count) FILTER (WHERE b.status = 'succeeded'), 0) AS done_assets
			FROM batchintory.batch b WHERE b.job_id = j.job_id) c}),
	'the counters are set from the batches');
is( $node->safe_psql('postgres',
		q{SELECT filter || ' ' || (SELECT count(*) FROM batchintory.job_filter f
			WHERE f.job_id = j.job_id) FROM batchintory.job j WHERE name = 'csv'}),
	q{(kind = 'csv'::text) 1}, 'the filter is stored analyzed, with its deparse');

# the worker, a member of the owner role without grants, goes on where
# 0.1.0 stopped: new ranges after the frontier (the others are leased)
is( $node->safe_psql('postgres', q{
		SET ROLE worker;
		SELECT string_agg(format('%s:%s:%s-%s', batch, attempt, first_id, last_id), ' ')
		FROM batchintory_acquire('csv', batches => 2)}),
	'6:1:25-32 7:1:33-40', 'acquire goes on after the frontier');
$node->safe_psql('postgres', q{
	SET ROLE worker;
	SELECT batchintory_release(3, 1, 'succeeded')});
is( $node->safe_psql('postgres', q{
		SET ROLE worker;
		SELECT succeeded FROM batchintory.jobs WHERE job = 'csv'}),
	'2', 'the batch acquired under 0.1.0 is released after the update by the worker');
($rc, $out, $err) = $node->psql('postgres',
	q{SET ROLE worker; UPDATE batchintory.batch SET status = 'succeeded'});
like($err, qr/permission denied for table batch/, 'the worker cannot write the inventory any more');

# the upgraded extension is exactly a fresh install of this version
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION batchintory');
my $upgraded = extension_shape($node, 'postgres');
my $fresh = extension_shape($node, 'fresh');
is($upgraded, $fresh, 'the upgraded extension has the shape of a fresh install')
  or diag(join("\n", grep { my $l = $_; index($fresh, $l) < 0 } split /\n/, $upgraded));

done_testing();
