# One stage of the dump chain 15 -> 17 -> 18 (test/chain/stage.sh runs it,
# in each version's chroot): database "lake" with jobs in every state
# (test/t/Survive.pm) is made on 15 and dumped with 15's pg_dump; restored
# into 17 (pg_restore), checked, worked on, dumped with 17's pg_dump;
# restored into 18, checked, drained.  At each step: everything that must
# survive is the same as the stage before left it, and the jobs go on where
# it stopped, checked against the ids.  A job whose filter uses a user
# collation (database "coll") goes along.
#
#   CHAIN_STAGE  first (make and dump), middle (restore, work, dump) or
#                last (restore, drain)
#   CHAIN_IN     the stage before's dump (roles.sql, lake.dump, coll.dump,
#                picture.txt); CHAIN_OUT: this stage's
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__) . '/../t';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Survive;
use Test::More;

my $stage = $ENV{CHAIN_STAGE} // '';
my ($in, $out) = ($ENV{CHAIN_IN}, $ENV{CHAIN_OUT});
die "CHAIN_STAGE must be first, middle or last" unless $stage =~ /^(first|middle|last)$/;
my $version = $1 if `pg_config --version` =~ /PostgreSQL (\d+)/;
my $what = "PostgreSQL $version ($stage)";

my $node = PostgreSQL::Test::Cluster->new("chain_$stage");
$node->init;
$node->start;

if ($stage eq 'first')
{
	survive_setup($node);
	survive_work($node);
	survive_collated_setup($node);
}
else
{
	$node->psql('postgres', undef, extra_params => [ '-f', "$in/roles.sql" ],
		on_error_stop => 0);
	$node->safe_psql('postgres', 'CREATE DATABASE lake');
	$node->safe_psql('postgres', 'CREATE DATABASE coll');
	command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('lake'), "$in/lake.dump" ],
		"$what: pg_restore of the stage before's dump of lake");
	command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('coll'), "$in/coll.dump" ],
		"$what: pg_restore of the stage before's dump of coll");
	survive_check_picture($node, slurp_file("$in/picture.txt"), $what);
	survive_notify_ok($node, $what);
}
survive_check_ids($node, $what);

if ($stage eq 'middle')
{
	# work on 17: the retry and a new range, rows inserted; the retry fails
	# again, so that the next cluster has a retry to serve too
	survive_continue($node, $what, 0);
	is($node->safe_psql('coll', q{SELECT asset_count FROM batchintory_backlog('collated')}),
		'6', "$what: the job with a user collation counts its backlog");
	my $retried = $node->safe_psql('lake', q{
		SELECT b.batch_id || ', ' || b.attempt
		FROM batchintory.batch b JOIN batchintory.job j USING (job_id)
		WHERE j.name = 'csv' AND b.status = 'processing' AND b.attempt = 2});
	$node->safe_psql('lake', qq{SET ROLE worker;
		SELECT batchintory_release($retried, 'failed', 'oom on 17')});
	survive_check_ids($node, "$what, after work");
}
elsif ($stage eq 'last')
{
	survive_continue($node, $what, 1);
	survive_collated_ok($node, $what);
}

if ($stage ne 'last')
{
	my $picture = survive_picture($node);
	open my $fh, '>', "$out/picture.txt" or die $!;
	print $fh $picture;
	close $fh;
	command_ok([ 'pg_dumpall', '--roles-only', '-d', $node->connstr('postgres'),
			'-f', "$out/roles.sql" ], "$what: pg_dumpall --roles-only");
	command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('lake'), '-f', "$out/lake.dump" ],
		"$what: pg_dump of lake");
	command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('coll'), '-f', "$out/coll.dump" ],
		"$what: pg_dump of coll");
}

$node->stop;
done_testing();
