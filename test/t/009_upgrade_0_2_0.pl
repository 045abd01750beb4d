# Update from 0.2.0, with work in flight: a server runs the real 0.2.0
# (built from the git history by test/run), jobs of two owners hold
# batches in every state -- succeeded with results, failed waiting for a
# retry, failed for good, requeued, in flight, abandoned, superseded by a
# rewind, covered by verify -- and a job notifies; then the same data
# directory is served by this build and ALTER EXTENSION batchintory UPDATE
# runs.  Every row the inventory held is kept as it was, the views show the
# same, the lease in flight is still current, acquire goes on exactly where
# 0.2.0 stopped, and the extension has the shape of a fresh install.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use OldRelease;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = old_release_node('old', $ENV{BATCHINTORY_V020_BUILD}, '0.2.0');
$node->safe_psql('postgres', q{
	CREATE ROLE pipeline;
	CREATE ROLE worker LOGIN IN ROLE pipeline;
	CREATE TABLE files (id bigserial PRIMARY KEY, bytes bigint, kind text);
	INSERT INTO files (bytes, kind)
	SELECT g, CASE WHEN g % 3 = 0 THEN 'parquet' ELSE 'csv' END FROM generate_series(1, 60) g;
	ALTER TABLE files OWNER TO pipeline;
	SET ROLE pipeline;
	SELECT batchintory_register('csv', 'files', 'id', 'bytes', filter => $$kind = 'csv'$$,
		max_count => 4, max_attempts => 2, lease => '1 hour', notify => true,
		config => '{"model": "v1"}');
	SELECT batchintory_register('all', 'files', 'id', 'bytes', upper_bound => 50,
		max_weight => 60, late_commit_guard => false);
	RESET ROLE;
	CREATE TABLE other (id bigint PRIMARY KEY);
	INSERT INTO other SELECT g FROM generate_series(5, 10) g;
	SELECT batchintory_register('other', 'other', 'id', max_count => 3,
		late_commit_guard => false);
});
# batches 1..4 of csv: succeeded with a result, failed (waits), failed for
# good (two attempts), in flight; batch 5 abandoned (its lease moved into
# the past); all: cut, one requeued after success, a rewind and a batch
# cut again; other: a key committed under its first batch, covered by verify
$node->safe_psql('postgres', q{
	SET ROLE worker;
	SELECT count(*) FROM batchintory_acquire('csv', batches => 5);
	SELECT batchintory_release(1, 1, 'succeeded', 'ok', '{"rows": 4}');
	SELECT batchintory_release(2, 1, 'failed', 'disk full');
	SELECT batchintory_release(3, 1, 'failed', 'bad file');
	RESET ROLE;
	UPDATE batchintory.batch SET retry_after = now() + interval '1 hour' WHERE batch_id = 2;
	SET ROLE worker;
	SELECT batch, attempt FROM batchintory_acquire('csv');
	SELECT batchintory_release(3, 2, 'failed', 'bad file again');
	RESET ROLE;
	UPDATE batchintory.batch SET lease_until = now() - interval '1 second' WHERE batch_id = 5;
	UPDATE batchintory.attempt SET lease_until = now() - interval '1 second' WHERE batch_id = 5;
	SELECT count(*) FROM batchintory_acquire('all', batches => 6);
	SELECT batchintory_release(batch_id, attempt, 'succeeded')
	FROM batchintory.batch WHERE job_id = 2 AND status = 'processing';
	SELECT batchintory_requeue(min(batch_id)) FROM batchintory.batch WHERE job_id = 2;
	SELECT batchintory_rewind('all', 20);
	SELECT count(*) FROM batchintory_acquire('all');
	SELECT count(*) FROM batchintory_acquire('other');
	SELECT batchintory_release(batch_id, 1, 'succeeded') FROM batchintory.batch WHERE job_id = 3;
	SELECT count(*) FROM batchintory_acquire('other');
	INSERT INTO other (id) VALUES (1);
	SELECT count(*) FROM batchintory_verify('other', requeue => true);
});

# every column 0.2.0 had, of every row, and what the views show
my %columns = map { my ($t, $c) = split /\|/; ($t => $c) } split /\n/, $node->safe_psql('postgres', q{
	SELECT c.relname, string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
	FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	WHERE c.relnamespace = 'batchintory'::regnamespace AND c.relkind IN ('r', 'v')
	GROUP BY c.relname});
my %order = (job => 'job_id', job_filter => 'job_id', batch => 'batch_id',
	attempt => 'batch_id, attempt', progress => 'job_id, batches, assets',
	jobs => 'job', batches => 'batch', attempts => 'batch, attempt');
my %volatile = (jobs => qr/registered_ago|backlog_estimate/, attempts => qr/duration/);
sub picture
{
	my ($name) = @_;
	my $list = join(', ', grep { !$volatile{$name} || !/$volatile{$name}/ }
		  split /, /, $columns{$name});
	return $node->safe_psql('postgres',
		"SELECT string_agg(row_to_json(x)::text, E'\\n' ORDER BY $order{$name})"
		  . " FROM (SELECT $list FROM batchintory.$name) x");
}
my %before = map { $_ => picture($_) } sort keys %order;
like($before{batches}, qr/"state":"abandoned".*"state":"retry_pending"|"state":"retry_pending".*"state":"abandoned"/s,
	'0.2.0 left batches abandoned and waiting for a retry');
like($before{batches}, qr/"status":"superseded"/, '0.2.0 left superseded batches');
like($before{batch}, qr/"ended_by":"verify"/, '0.2.0 left a batch verify made');

serve_with_this_build($node);
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT * FROM batchintory_acquire('csv')});
like($err, qr/the SQL of extension batchintory is older than its library/,
	'between the new library and the update, the functions say to run the update');
($rc, $out, $err) = $node->psql('postgres', 'ALTER EXTENSION batchintory UPDATE');
is($rc, 0, 'ALTER EXTENSION UPDATE from 0.2.0 runs') or diag($err);
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'batchintory'}),
	$node->safe_psql('postgres', q{SELECT default_version FROM pg_available_extensions WHERE name = 'batchintory'}),
	'it brings the extension to this version');
is(picture($_), $before{$_}, "every row of batchintory.$_ is kept as 0.2.0 left it")
  for sort keys %order;

# the other way round, a library older than the database's SQL (a package
# downgraded): versions compare number by number, 0.10.0 after 0.3.0
my $version = $node->safe_psql('postgres',
	q{SELECT extversion FROM pg_extension WHERE extname = 'batchintory'});
$node->safe_psql('postgres',
	q{UPDATE pg_extension SET extversion = '0.10.0' WHERE extname = 'batchintory'});
($rc, $out, $err) = $node->psql('postgres', q{SELECT * FROM batchintory.jobs});
like($err, qr/the library of extension batchintory is older than its SQL.*DETAIL:  The database has batchintory 0\.10\.0; the library installed is \Q$version\E\..*HINT:  Install the library of batchintory 0\.10\.0/s,
	'a library older than the SQL says to install the newer library, not to update');
$node->safe_psql('postgres',
	qq{UPDATE pg_extension SET extversion = '$version' WHERE extname = 'batchintory'});

# the notify trigger is still there and still notifies
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_trigger WHERE tgrelid = 'files'::regclass
	AND tgname = 'batchintory_notify'}), '1', 'the notify trigger is kept');

# the worker goes on: the lease in flight is current (batch 4), the failed
# batch waits, the abandoned one comes back first, then new ranges after
# the frontier
is($node->safe_psql('postgres', q{
	SET ROLE worker;
	SELECT batchintory_heartbeat(4, 1) > now();
	SELECT batchintory_release(4, 1, 'succeeded')}), "t\n", 'the attempt in flight is still current');
my $frontier = $node->safe_psql('postgres', q{SELECT frontier FROM batchintory.job WHERE name = 'csv'});
is($node->safe_psql('postgres', q{
	SET ROLE worker;
	SELECT string_agg(format('%s/%s:%s-%s', batch, attempt, first_id, last_id), ' ')
	FROM batchintory_acquire('csv', batches => 2)}),
	"5/2:" . $node->safe_psql('postgres', 'SELECT first_id || \'-\' || last_id FROM batchintory.batch WHERE batch_id = 5')
	  . ' ' . $node->safe_psql('postgres', q{SELECT max(batch_id) FROM batchintory.batch}) . '/1:'
	  . ($frontier + 1) . '-'
	  . $node->safe_psql('postgres', q{SELECT last_id FROM batchintory.batch WHERE batch_id = (SELECT max(batch_id) FROM batchintory.batch)}),
	'the abandoned batch comes back as its next attempt, then a range right after the frontier');

# drained, every csv asset is in exactly one live batch
$node->safe_psql('postgres', q{
	SET ROLE worker;
	SELECT batchintory_release(batch, attempt, 'succeeded')
	FROM batchintory.batches WHERE job = 'csv' AND status = 'processing';
	SELECT count(*) FROM batchintory_acquire('csv', batches => 100)});
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE n <> 1) FROM (
		SELECT f.id, count(b.batch_id) AS n FROM files f
		LEFT JOIN batchintory.batch b ON b.job_id = 1 AND b.status <> 'superseded'
			AND f.id BETWEEN b.first_id AND b.last_id
		WHERE f.kind = 'csv' GROUP BY f.id) c}), '0',
	'every csv asset is in exactly one live batch');

# the updated extension is exactly a fresh install of this version
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION batchintory');
my $updated = extension_shape($node, 'postgres');
my $fresh = extension_shape($node, 'fresh');
is($updated, $fresh, 'the updated extension has the shape of a fresh install')
  or diag(join("\n", grep { my $l = $_; index($fresh, $l) < 0 } split /\n/, $updated));

done_testing();
