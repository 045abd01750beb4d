# The inventory module is the only code that writes the inventory: no SQL
# statement outside src/inventory/ writes batchintory.job, job_filter,
# batch, attempt or progress, and no file outside it writes heap or index
# tuples.  (Reads stay where they are: the views, lookups, the job cache.)
use strict;
use warnings;
use File::Find;
use FindBin;
use Test::More;

my $top = "$FindBin::RealBin/../..";
my (@outside, @inside);
find(
	sub {
		return unless /\.[ch]$/;
		my $path = $File::Find::name =~ s{^\Q$top\E/}{}r;
		open(my $fh, '<', $_) or die "$path: $!";
		my $text = do { local $/; <$fh> };
		close($fh);
		my $writes = () = $text =~
		  /(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+batchintory\.(?:job|job_filter|batch|attempt|progress)\b/g;
		my $direct = () = $text =~ /\b(?:simple_table_tuple_(?:insert|update|delete)|ExecInsertIndexTuples|BI_INSERT_INDEX_TUPLES)\s*\(/g;
		if ($path =~ m{^src/inventory/})
		{
			push @inside, $path if $writes + $direct > 0;
		}
		elsif ($path ne 'src/compat.h')
		{
			push @outside, "$path: $writes statement(s), $direct direct write(s)"
			  if $writes + $direct > 0;
		}
	},
	"$top/src");

is(join("\n", @outside), '', 'no file outside src/inventory/ writes the inventory');
is(join(' ', sort @inside), 'src/inventory/jobs.c src/inventory/tables.c',
	'inside it, the tables are written directly (tables.c) and with SQL (jobs.c): the check looks where it should');
done_testing();
