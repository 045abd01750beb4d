# OldRelease.pm: a server running a released version of batchintory (built
# from the git history by test/run), then the same data directory served by
# this build -- for the update tests (004_upgrade.pl, 009_upgrade_0_2_0.pl).
#
#	my $node = old_release_node('old', $ENV{BATCHINTORY_OLD_BUILD}, '0.1.0');
#	... work under the old version ...
#	serve_with_this_build($node);	# then ALTER EXTENSION batchintory UPDATE
package OldRelease;

use strict;
use warnings;
use Exporter 'import';
use File::Copy qw(copy);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(old_release_node serve_with_this_build extension_shape);

my ($bindir, $sharedir, $pkglibdir) =
  map { my $d = `pg_config --$_`; chomp $d; $d } qw(bindir sharedir pkglibdir);
my @served;

sub dirname_of
{
	my ($path) = @_;
	$path =~ s{/[^/]+/?$}{};
	return $path;
}

# old_release_node(NAME, BUILD, VERSION): a started node of a copy of this
# PostgreSQL installation, relocated (its binaries find share/ and lib/ next
# to themselves), whose batchintory is VERSION as built in BUILD
sub old_release_node
{
	my ($name, $build, $version) = @_;
	ok(defined $build && -f "$build/batchintory.so",
		"test/run built $version from the git history (tag v$version)")
	  or BAIL_OUT("no $version build: run this test through test/run, in a clone with its history");
	my $root = PostgreSQL::Test::Utils::tempdir;
	my $prefix = dirname_of($bindir);
	system_or_bail('mkdir', '-p', "$root" . dirname_of($prefix), "$root" . dirname_of($sharedir));
	system_or_bail('cp', '-a', $prefix, "$root" . dirname_of($prefix));
	system_or_bail('cp', '-a', $sharedir, "$root" . dirname_of($sharedir));
	unlink glob("$root$sharedir/extension/batchintory*");
	copy("$build/batchintory.so", "$root$pkglibdir/batchintory.so") or die $!;
	copy("$build/batchintory.control", "$root$sharedir/extension/") or die $!;
	copy("$build/batchintory--$version.sql", "$root$sharedir/extension/") or die $!;
	my $node = PostgreSQL::Test::Cluster->new($name, install_path => "$root$prefix");
	$node->init;
	$node->start;
	is($node->safe_psql('postgres', 'CREATE EXTENSION batchintory;'
			  . q{ SELECT extversion FROM pg_extension WHERE extname = 'batchintory'}),
		$version, "the old server runs $version");
	return $node;
}

# serve_with_this_build(NODE): stop the old server and start its data
# directory with this build's binaries and library (stopped however the
# test ends: the node object only knows the old server)
sub serve_with_this_build
{
	my ($node) = @_;
	$node->stop;
	system_or_bail("$bindir/pg_ctl", '-D', $node->data_dir, '-l', $node->logfile,
		'-o', "-p " . $node->port . " -k " . $node->host, '-w', 'start');
	push @served, $node->data_dir;
	return;
}

my $shape_query = q{
	SELECT string_agg(d, E'\n' ORDER BY d) FROM (
		SELECT format('function %s %s %s %s %s %s', p.oid::regprocedure,
			pg_get_function_result(p.oid), p.provolatile, p.proisstrict,
			md5(p.prosrc || coalesce(p.probin, '')), obj_description(p.oid, 'pg_proc')) AS d
		FROM pg_proc p JOIN pg_depend dep ON dep.objid = p.oid AND dep.deptype = 'e'
		WHERE dep.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'batchintory')
		UNION ALL
		SELECT format('relation %s %s %s %s', c.relname, c.relkind, c.relacl,
			coalesce(pg_get_viewdef(c.oid), ''))
		FROM pg_class c WHERE c.relnamespace = 'batchintory'::regnamespace
		UNION ALL
		SELECT format('column %s.%s %s %s %s', c.relname, a.attname,
			format_type(a.atttypid, a.atttypmod), a.attnotnull,
			pg_get_expr(ad.adbin, ad.adrelid))
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
		WHERE c.relnamespace = 'batchintory'::regnamespace AND c.relkind IN ('r', 'v')
		AND a.attnum > 0 AND NOT a.attisdropped
		UNION ALL
		SELECT format('constraint %s %s', c.conrelid::regclass, pg_get_constraintdef(c.oid))
		FROM pg_constraint c WHERE c.connamespace = 'batchintory'::regnamespace
		UNION ALL
		SELECT format('index %s', pg_get_indexdef(i.indexrelid))
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relnamespace = 'batchintory'::regnamespace
		UNION ALL
		SELECT format('dumped %s', unnest(e.extconfig)::regclass)
		FROM pg_extension e WHERE e.extname = 'batchintory') x};
# extension_shape(NODE, DB): every function, relation, column, constraint,
# index and dumped table of the extension in database DB, one line each --
# equal for an updated extension and a fresh install of the same version
sub extension_shape
{
	my ($node, $db) = @_;
	return $node->safe_psql($db, $shape_query);
}

END
{
	system("$bindir/pg_ctl", '-D', $_, '-m', 'immediate', '-w', 'stop')
	  for grep { -f "$_/postmaster.pid" } @served;
}

1;
