#!/usr/bin/env perl
# The README's walkthrough is the pg_regress test "walkthrough": this checks
# that README.md shows exactly the SQL of sql/walkthrough.sql and, after each
# block of it, exactly what expected/walkthrough.out says psql prints.
#
#   perl test/docs/walkthrough.pl               check; prints TAP ("ok N - ...")
#   perl test/docs/walkthrough.pl --write-sql   write sql/walkthrough.sql from
#                                               the README's ```sql blocks
#   perl test/docs/walkthrough.pl --write-readme
#                                               rewrite the README's output
#                                               blocks from expected/walkthrough.out
#
# The walkthrough is the part of README.md between the lines
# "<!-- walkthrough: begin ..." and "<!-- walkthrough: end -->". In it, every
# fenced block is either SQL (```sql) or output (```text). The SQL blocks,
# joined by one empty line, are sql/walkthrough.sql (after a comment that
# says so). pg_regress runs that file with "psql -a -q", so
# expected/walkthrough.out is its lines echoed in order (all but the blank
# lines between statements) with psql's output after each statement. The
# output of an SQL block is what psql prints while its lines run (without
# the blank lines around it); the block right after it must be a ```text
# block with exactly that text (trailing blanks ignored), and an SQL block
# that prints nothing must not be followed by one.
use strict;
use warnings;
use File::Basename qw(dirname);

my $top = dirname(dirname(dirname(__FILE__)));
my $readme = "$top/README.md";
my $sql_file = "$top/sql/walkthrough.sql";
my $out_file = "$top/expected/walkthrough.out";
my $mode = $ARGV[0] // '';
die "usage: $0 [--write-sql | --write-readme]\n"
  if $mode ne '' && $mode ne '--write-sql' && $mode ne '--write-readme';

sub slurp
{
	my ($path) = @_;
	open(my $fh, '<', $path) or die "cannot read $path: $!\n";
	local $/;
	my $text = <$fh>;
	close $fh;
	return $text;
}

sub spew
{
	my ($path, $text) = @_;
	open(my $fh, '>', $path) or die "cannot write $path: $!\n";
	print $fh $text;
	close $fh or die "cannot write $path: $!\n";
}

# parse_readme: the README's lines, and the fenced blocks of the walkthrough:
# { kind => 'sql' | 'text', open => index of the ``` line, close => index of
# the closing ```, lines => [...] }
sub parse_readme
{
	my @lines = split /\n/, slurp($readme), -1;
	my ($begin, $end);
	for my $i (0 .. $#lines)
	{
		$begin = $i if $lines[$i] =~ /^<!-- walkthrough: begin\b/;
		$end = $i if $lines[$i] =~ /^<!-- walkthrough: end\b/;
	}
	die "README.md: no \"<!-- walkthrough: begin -->\" ... \"<!-- walkthrough: end -->\"\n"
	  unless defined $begin && defined $end && $begin < $end;
	my @blocks;
	my $i = $begin + 1;
	while ($i < $end)
	{
		if ($lines[$i] =~ /^```(\S*)\s*$/)
		{
			my $kind = $1;
			die sprintf("README.md line %d: a walkthrough block must be ```sql or ```text, not ```%s\n",
				$i + 1, $kind)
			  unless $kind eq 'sql' || $kind eq 'text';
			my $j = $i + 1;
			$j++ while $j < $end && $lines[$j] !~ /^```\s*$/;
			die sprintf("README.md line %d: block not closed before the walkthrough's end\n", $i + 1)
			  if $j >= $end;
			push @blocks, { kind => $kind, open => $i, close => $j,
				lines => [ @lines[ $i + 1 .. $j - 1 ] ] };
			$i = $j + 1;
		}
		else
		{
			$i++;
		}
	}
	return (\@lines, \@blocks);
}

# the first lines of sql/walkthrough.sql, before the README's SQL
my @header = (
	'-- The walkthrough "Five minutes in psql" of README.md, written by',
	'-- "perl test/docs/walkthrough.pl --write-sql": edit README.md, not this',
	'-- file (docs/testing.md says how to update expected/walkthrough.out).');

# walkthrough_sql: the text of sql/walkthrough.sql the README's SQL blocks make
sub walkthrough_sql
{
	my ($blocks) = @_;
	return join("\n", @header) . "\n"
	  . join("\n\n", map { join("\n", @{ $_->{lines} }) }
		  grep { $_->{kind} eq 'sql' } @$blocks) . "\n";
}

sub trim_blank
{
	my @l = @_;
	shift @l while @l && $l[0] =~ /^\s*$/;
	pop @l while @l && $l[-1] =~ /^\s*$/;
	return @l;
}

# outputs: for each SQL block (in order), the lines psql printed while it
# ran, from expected/walkthrough.out; dies if that file does not echo the
# SQL file's lines in order
sub outputs
{
	my ($blocks) = @_;
	my @out = split /\n/, slurp($out_file), -1;
	pop @out if @out && $out[-1] eq '';
	my @result;
	my $k = 0;
	for my $line (@header)
	{
		$k++ while $k < @out && $out[$k] ne $line;
		die "expected/walkthrough.out does not start with the header of sql/walkthrough.sql\n"
		  if $k >= @out;
		$k++;
	}
	for my $b (grep { $_->{kind} eq 'sql' } @$blocks)
	{
		# psql -a echoes every line of a statement, but not the blank lines
		# between statements; what is printed before the block's first
		# line belongs to the block before
		my @echo = grep { !/^\s*$/ } @{ $b->{lines} };
		my $first = 0;
		my @printed;
		for my $e (0 .. $#echo)
		{
			while ($k < @out && $out[$k] ne $echo[$e])
			{
				push @printed, $out[$k++];
			}
			die "expected/walkthrough.out does not echo the line \"$echo[$e]\" where it should: "
			  . "run the walkthrough test again (see docs/testing.md)\n"
			  if $k >= @out;
			$k++;
			if ($e == $first)
			{
				push @{ $result[-1] }, @printed if @result;
				@printed = ();
			}
		}
		push @result, [@printed];
	}
	push @{ $result[-1] }, @out[ $k .. $#out ] if @result;
	return map { [ trim_blank(@$_) ] } @result;
}

my ($lines, $blocks) = parse_readme();
my $sql = walkthrough_sql($blocks);

if ($mode eq '--write-sql')
{
	spew($sql_file, $sql);
	print "wrote $sql_file\n";
	exit 0;
}

if ($mode eq '--write-readme')
{
	my @outputs = outputs($blocks);
	# rebuild the walkthrough: each SQL block, then its output block (if it
	# prints anything); prose between blocks stays as it is
	my @new;
	my $prev = 0;
	my $n = 0;
	my $i = 0;
	while ($i < @$blocks)
	{
		my $b = $blocks->[$i];
		die "README.md line $b->{open}: an output block without an SQL block before it\n"
		  if $b->{kind} ne 'sql';
		push @new, @$lines[ $prev .. $b->{close} ];
		$prev = $b->{close} + 1;
		my $printed = $outputs[ $n++ ];
		my $next = $blocks->[ $i + 1 ];
		my $has_out = $next && $next->{kind} eq 'text';
		if ($has_out)
		{
			# keep the prose between the SQL and its old output block
			push @new, @$lines[ $prev .. $next->{open} - 1 ];
			$prev = $next->{close} + 1;
			$i++;
		}
		push @new, '```text', (map { s/\s+$//r } @$printed), '```' if @$printed;
		$i++;
	}
	push @new, @$lines[ $prev .. $#$lines ];
	spew($readme, join("\n", @new));
	print "rewrote the walkthrough's output blocks in $readme\n";
	exit 0;
}

# the check
my $t = 0;
my $failed = 0;
sub ok
{
	my ($cond, $what, $why) = @_;
	$t++;
	print(($cond ? "ok" : "not ok") . " $t - $what\n");
	if (!$cond)
	{
		$failed++;
		print "# $_\n" for split /\n/, ($why // '');
	}
}

ok(-f $sql_file && slurp($sql_file) eq $sql,
	'sql/walkthrough.sql is the SQL the README walkthrough shows',
	"README.md and sql/walkthrough.sql differ; after editing the README run\n"
	  . "perl test/docs/walkthrough.pl --write-sql, then regenerate the expected output");

my $makefile = slurp("$top/Makefile");
# the REGRESS assignment, over its continued lines (in scalar context: a
# failed match in ok()'s list of arguments would shift them)
ok(scalar($makefile =~ /^REGRESS\s*[+:]?=(?:[^\n]*\\\n)*[^\n]*\bwalkthrough\b/m),
	'the Makefile runs the walkthrough as a pg_regress test (REGRESS)');

my $n = 0;
my $mismatch = '';
my @outputs = eval { outputs($blocks) };
$mismatch = $@ if $@;
for (my $i = 0; !$@ && $i < @$blocks; $i++)
{
	my $b = $blocks->[$i];
	if ($b->{kind} ne 'sql')
	{
		$mismatch .= sprintf("README.md line %d: an output block without an SQL block before it\n",
			$b->{open} + 1);
		next;
	}
	my @want = map { s/\s+$//r } @{ $outputs[ $n++ ] };
	my $next = $blocks->[ $i + 1 ];
	my @shown;
	if ($next && $next->{kind} eq 'text')
	{
		@shown = map { s/\s+$//r } @{ $next->{lines} };
		$i++;
	}
	if (join("\n", @want) ne join("\n", @shown))
	{
		$mismatch .= sprintf("README.md line %d: the SQL block's output differs from expected/walkthrough.out\n",
			$b->{open} + 1);
		$mismatch .= "README shows:\n" . join("\n", map { "  $_" } @shown) . "\n";
		$mismatch .= "psql prints:\n" . join("\n", map { "  $_" } @want) . "\n";
	}
}
ok($mismatch eq '', 'every output the README walkthrough shows is what psql prints (expected/walkthrough.out)',
	$mismatch . ($mismatch ? "(perl test/docs/walkthrough.pl --write-readme rewrites them)" : ''));

print "1..$t\n";
exit($failed ? 1 : 0);
