# The examples of docs/cli.md are what a user sees: the page's first sql
# block makes the table they use, then every ```console block runs, in page
# order, as one session -- each "$ batchintory ..." line (continued by a
# trailing backslash) in a shell, its standard output compared with the
# lines that follow it on the page.  Times and durations are masked, and
# runs of blanks and of dashes count as one (column widths follow the
# times).  A failure shows the page's and the actual output; the actual
# outputs are also in tmp_check/log/015_cli_docs_actual.txt, ready to paste.
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $page = abs_path(dirname(__FILE__) . '/../../docs/cli.md');
my $text = slurp_file($page);

my ($setup) = $text =~ /^```sql\n(.*?)^```$/ms;
ok(defined $setup, 'docs/cli.md: the sql block that makes the examples\' table');

# the examples: [ command, expected output ]
my @examples;
while ($text =~ /^```console\n(.*?)^```$/msg)
{
	my @lines = split /\n/, $1;
	while (@lines)
	{
		my $line = shift @lines;
		die "docs/cli.md: a console block line that is not a command: $line"
		  unless $line =~ s/^\$ //;
		my $command = $line;
		while ($command =~ /\\$/ && @lines)
		{
			$command .= "\n" . shift @lines;
		}
		my @output;
		push @output, shift @lines while @lines && $lines[0] !~ /^\$ /;
		push @examples, [ $command, join('', map { "$_\n" } @output) ];
	}
}
cmp_ok(scalar @examples, '>=', 10, 'docs/cli.md: examples found');

my $node = PostgreSQL::Test::Cluster->new('cli_docs');
$node->init;
$node->start;
$node->safe_psql('postgres', $setup);

# a user's environment: the PG* variables, the client's application name
$ENV{PGHOST} = $node->host;
$ENV{PGPORT} = $node->port;
$ENV{PGDATABASE} = 'postgres';
delete $ENV{PGAPPNAME};

# what may differ from run to run: times, durations; column widths
sub normalize
{
	my ($s) = @_;
	$s =~ s/\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d(?::\d\d)?)?/<time>/g;
	$s =~ s/\bin \d+\.\d s\b/in <n> s/g;
	# status: how long ago, and the planner's estimate (autovacuum may ANALYZE)
	$s =~ s/^(registered_ago: +)\S+$/$1<interval>/mg;
	$s =~ s/^(backlog_estimate: +)\d+$/$1<n>/mg;
	$s =~ s/-{2,}/--/g;
	$s =~ s/ +/ /g;
	$s =~ s/ +$//mg;
	return $s;
}

# the actual outputs, ready to paste into the page
my $actual = "$PostgreSQL::Test::Utils::log_path/015_cli_docs_actual.txt";
open(my $actual_fh, '>', $actual) or die "could not write $actual: $!";
for my $example (@examples)
{
	my ($command, $expected) = @$example;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'bash', '-c', $command ], '<', \undef, '>', \$out, '2>', \$err);
	print $actual_fh "\$ $command\n$out";
	is(normalize($out), normalize($expected), "docs/cli.md: \$ $command")
	  or diag("standard error:\n$err");
}

close $actual_fh;
$node->stop;
done_testing();
