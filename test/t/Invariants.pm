# Invariants.pm
#	  Shared by the crash and stress tests: installs the invariant checks of
#	  test/t/invariants.sql in a node and asserts them as one TAP test.
package Invariants;

use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(install_invariants check_invariants check_key_range_invariants);

# create the functions invariants(job, drained) and
# key_range_invariants(job, drained) in the node's postgres database
sub install_invariants
{
	my ($node) = @_;
	$node->safe_psql('postgres',
		slurp_file(dirname(__FILE__) . '/invariants.sql'));
	return;
}

# every invariant of job "stress" holds; $drained ('true'/'false') adds the
# checks that only hold once no batch is left to hand out
sub check_invariants
{
	my ($node, $drained, $when) = @_;
	my $bad = $node->safe_psql('postgres',
		"SELECT invariant || ': ' || violations FROM invariants('stress', $drained)"
		  . " WHERE violations <> 0");
	is($bad, '', "every invariant holds $when");
	return;
}

# every invariant of job $job, cut by key range alone over table "events",
# holds; $drained as above
sub check_key_range_invariants
{
	my ($node, $job, $drained, $when) = @_;
	my $bad = $node->safe_psql('postgres',
		"SELECT invariant || ': ' || violations FROM key_range_invariants('$job', $drained)"
		  . " WHERE violations <> 0");
	is($bad, '', "every invariant of the key-range job holds $when");
	return;
}

1;
