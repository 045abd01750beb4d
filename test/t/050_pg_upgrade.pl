# pg_upgrade of the whole cluster (same major version, as PostgreSQL's own
# pg_upgrade test runs it): database "lake" with jobs in every state
# (test/t/Survive.pm) is served by a new cluster made by pg_upgrade.  Jobs,
# owners, filters, batches, attempts, results, frontiers and the notify
# trigger survive, and the jobs go on exactly where they stopped, checked
# against the ids.  pg_upgrade copies the inventory's files as they are,
# batchintory.job_filter (the analyzed filters, with object ids in them)
# included: the filters there must still mean what they meant -- they do
# for PostgreSQL's own functions, operators and collations and for the
# user's types (pg_upgrade keeps type and enum ids); a user collation gets
# a new id, and a filter naming it is analyzed again from its deparse.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Survive;
use Test::More;

my $old = PostgreSQL::Test::Cluster->new('old');
$old->init;
$old->start;
survive_setup($old);
survive_work($old);
survive_collated_setup($old);
# a time-keyed job records what its cut saw, in the cluster's transaction
# ids: a row that came after the cut is late, before and after pg_upgrade
$old->safe_psql('lake', q{
	CREATE TABLE stamps (t timestamptz NOT NULL);
	CREATE INDEX ON stamps (t);
	INSERT INTO stamps SELECT '2026-01-01 00:00+00'::timestamptz + g * interval '1 minute'
	FROM generate_series(0, 2) g;
	SELECT batchintory_register('stamped', 'stamps', 't', late_commit_guard => false);
});
$old->safe_psql('lake', q{SELECT batchintory_release(batch, attempt, 'succeeded')
	FROM batchintory_acquire('stamped')});
$old->safe_psql('lake', q{INSERT INTO stamps VALUES ('2026-01-01 00:01:30+00')});
is($old->safe_psql('lake', q{SELECT late_count FROM batchintory_verify('stamped')}),
	'1', 'a row that came after the cut is late before pg_upgrade');
survive_check_ids($old, 'before pg_upgrade');
my $before = survive_picture($old);
my $filters = $old->safe_psql('lake', 'SELECT count(*) FROM batchintory.job_filter');
is($filters, '2', 'two analyzed filters stored before pg_upgrade');
$old->stop;

my $new = PostgreSQL::Test::Cluster->new('new');
$new->init;
my $bindir = $new->config_data('--bindir');
my $dir = PostgreSQL::Test::Utils::tempdir;
command_ok(
	[
		'pg_upgrade', '--no-sync',
		'-d', $old->data_dir, '-D', $new->data_dir,
		'-b', $bindir, '-B', $bindir,
		'-s', $new->host, '-p', $old->port, '-P', $new->port
	],
	'pg_upgrade of a cluster with batchintory');
$new->start;

is($new->safe_psql('lake', 'SELECT count(*) FROM batchintory.job_filter'),
	$filters, 'pg_upgrade kept the analyzed filters');
survive_check_picture($new, $before, 'after pg_upgrade');
survive_notify_ok($new, 'after pg_upgrade');
survive_check_ids($new, 'after pg_upgrade');
survive_continue($new, 'after pg_upgrade', 1);

# pg_upgrade copies batchintory.job_filter as it is, and a user collation
# gets a new object id in the new cluster: the stored filter names a
# collation that is gone, so the job analyzes its deparse again (as after a
# dump) and goes on -- never "cache lookup failed for collation N".
survive_collated_ok($new, 'after pg_upgrade');

is($new->safe_psql('lake', q{SELECT late_count FROM batchintory_verify('stamped')}),
	'1', 'pg_upgrade keeps the transaction ids a cut recorded: the same row is late after it');
$new->safe_psql('lake', 'VACUUM (FREEZE) stamps');
is($new->safe_psql('lake', q{SELECT late_count FROM batchintory_verify('stamped')}),
	'1', 'and after VACUUM FREEZE');

$new->stop;
done_testing();
