# pg_dump / pg_restore into a new cluster (roles first, from pg_dumpall
# --roles-only): database "lake" with jobs in every state
# (test/t/Survive.pm) is dumped in the custom format and restored into a new
# cluster.  Jobs, owners, filters, batches, attempts, results, frontiers and
# the notify trigger survive, and the jobs go on exactly where they stopped,
# checked against the ids.  The analyzed filters are not dumped (their
# object ids would be wrong in the new cluster): each restored job analyzes
# its filter's deparse again on first use -- over a table whose columns have
# new attribute numbers (a column was dropped before the dump), a renamed
# column, an enum and a domain with new type ids, and a user collation.
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
my $before = survive_picture($old);

my $dir = PostgreSQL::Test::Utils::tempdir;
command_ok([ 'pg_dumpall', '--roles-only', '-d', $old->connstr('postgres'),
		'-f', "$dir/roles.sql" ], 'pg_dumpall --roles-only');
command_ok([ 'pg_dump', '-Fc', '-d', $old->connstr('lake'), '-f', "$dir/lake.dump" ],
	'pg_dump -Fc of a database with batchintory');
command_ok([ 'pg_dump', '-Fc', '-d', $old->connstr('coll'), '-f', "$dir/coll.dump" ],
	'pg_dump -Fc of a database with a job whose filter uses a user collation');

my $new = PostgreSQL::Test::Cluster->new('new');
$new->init;
$new->start;
# the new cluster's bootstrap superuser is in the dump too: an error there
$new->psql('postgres', undef, extra_params => [ '-f', "$dir/roles.sql" ], on_error_stop => 0);
is($new->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname IN ('pipeline', 'worker', 'stranger')}),
	'3', 'the roles restored');
$new->safe_psql('postgres', 'CREATE DATABASE lake');
command_ok([ 'pg_restore', '--exit-on-error', '-d', $new->connstr('lake'), "$dir/lake.dump" ],
	'pg_restore into a new cluster');
$new->safe_psql('postgres', 'CREATE DATABASE coll');
command_ok([ 'pg_restore', '--exit-on-error', '-d', $new->connstr('coll'), "$dir/coll.dump" ],
	'pg_restore of the database with a user collation');

is($new->safe_psql('lake', 'SELECT count(*) FROM batchintory.job_filter'),
	'0', 'the analyzed filters are not dumped');
isnt($new->safe_psql('lake', q{SELECT attnum FROM pg_attribute
		WHERE attrelid = 'lake.files'::regclass AND attname = 'label'}),
	$old->safe_psql('lake', q{SELECT attnum FROM pg_attribute
		WHERE attrelid = 'lake.files'::regclass AND attname = 'label'}),
	'the restored table numbers its columns anew (the dropped column is gone)');
survive_check_picture($new, $before, 'after pg_dump/pg_restore');
survive_notify_ok($new, 'after pg_dump/pg_restore');
survive_check_ids($new, 'after pg_dump/pg_restore');
survive_continue($new, 'after pg_dump/pg_restore', 1);
survive_collated_ok($new, 'after pg_dump/pg_restore');

$old->stop;
$new->stop;
done_testing();
