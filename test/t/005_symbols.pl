# The shared library exports only what the server looks up: the magic
# block, _PG_init and the SQL-callable functions with their info records
# (src/exports.list); no generic name of the extension's internals reaches
# the server's global namespace.  Every C function the install script names
# is among them.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;

my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
my $library = "$pkglibdir/batchintory.so";
ok(-f $library, "the library is installed: $library");

my ($stdout, $stderr);
IPC::Run::run([ 'nm', '-D', '--defined-only', $library ], '>', \$stdout, '2>', \$stderr)
  or die "nm failed: $stderr";
my @symbols = map { (split /\s+/)[2] } grep { /\s[TDBR]\s/ } split /\n/, $stdout;
cmp_ok(scalar @symbols, '>', 20, 'nm lists the exported symbols');
my @unexpected = grep {
	!/^(Pg_magic_func|_PG_init|pg_finfo_batchintory_\w+|batchintory_\w+)$/
} @symbols;
is_deeply(\@unexpected, [], 'only the magic block, _PG_init and batchintory_* are exported');

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
my $version = `grep default_version $sharedir/extension/batchintory.control`;
($version) = $version =~ /'([^']+)'/;
my %exported = map { $_ => 1 } @symbols;
my $sql = slurp_file("$sharedir/extension/batchintory--$version.sql");
my @missing = grep { !$exported{$_} || !$exported{"pg_finfo_$_"} }
  ($sql =~ /'MODULE_PATHNAME', '(\w+)'/g);
is_deeply(\@missing, [], 'every C function of the install script is exported with its info record');
done_testing();
