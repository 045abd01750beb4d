# batchintory run in a real terminal (tmux): the live progress line on the
# last line of the screen, visible while the command runs and prints, and
# updated after each batch; given back empty when run ends.
use strict;
use warnings;

use File::Temp qw(tempdir);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

plan skip_all => 'tmux is not installed' if system('tmux -V >/dev/null 2>&1') != 0;

my $node = PostgreSQL::Test::Cluster->new('cli_terminal');
$node->init;
$node->start;

# 40 assets, a backfill of 8 batches of 5
$node->safe_psql('postgres', q{
	CREATE EXTENSION batchintory;
	CREATE TABLE files (id bigserial PRIMARY KEY, bytes bigint);
	INSERT INTO files (bytes) SELECT i FROM generate_series(1, 40) i;
	ANALYZE files;
	SELECT batchintory_register('fill', 'files', 'id', upper_bound => 40, max_count => 5);
});

my $dir = tempdir(CLEANUP => 1);
my @tmux = ('tmux', '-S', "$dir/tmux.sock");

# The command prints a line, then waits until the test lets batch N end
# by creating the file go.N.
my $command = qq{echo "working on \$BATCHINTORY_FIRST_ID";}
  . qq{ while [ ! -e $dir/go.\$BATCHINTORY_BATCH ]; do sleep 0.05; done};
my $run = join(' ',
	'env', 'PGHOST=' . $node->host, 'PGPORT=' . $node->port, 'PGDATABASE=postgres',
	'TERM=xterm', 'batchintory', 'run', 'fill', '--', 'sh', '-c', quote($command));
system(@tmux, 'new-session', '-d', '-s', 'cli', '-x', '100', '-y', '12',
	"$run; echo \"exit \$?\"; sleep 600") == 0
  or die 'could not start tmux';

sub quote
{
	my ($s) = @_;
	$s =~ s/'/'\\''/g;
	return "'$s'";
}

# the screen, as lines without trailing blanks
sub screen
{
	my $text = `@tmux capture-pane -p -t cli`;
	chomp $text;
	return [ map { s/\s+$//r } split /\n/, $text, -1 ];
}

# wait until a line of the screen matches $re; return the screen
sub wait_for_screen
{
	my ($re, $what) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	for (;;)
	{
		my $lines = screen();
		return $lines if grep { $_ =~ $re } @$lines;
		die "timed out waiting for $what; screen:\n" . join("\n", @$lines)
		  if time > $deadline;
		select(undef, undef, undef, 0.1);
	}
}

# the last line of the screen that is not empty
sub last_line
{
	my ($lines) = @_;
	my @full = grep { $_ ne '' } @$lines;
	return $full[-1];
}

my $lines = wait_for_screen(qr/^working on 1$/, 'batch 1 to start');
is($lines->[-1] // '', last_line($lines), 'progress: on the last line of the terminal');
like($lines->[-1], qr/^\[-{20}\] 0\.0% 0 batches, 0 assets, ~\d+ left$/,
	'progress: drawn before the first batch ends, while the command runs');

open(my $fh, '>', "$dir/go.1") or die;
close $fh;
wait_for_screen(qr/^working on 6$/, 'batch 2 to start');
# the line is redrawn in place: read the screen until the redraw is whole
my $after_1 = qr/^\[#*-*\] \d+\.\d% 1 batch, 5 assets, [\d.]+ assets\/s, ~\d+ left, ETA \d+[hms]/;
$lines = wait_for_screen($after_1, 'the progress line after batch 1');
like($lines->[-1], $after_1, 'progress: updated after batch 1, with rate, backlog and ETA');
ok((grep { /^batch 1 attempt 1: ids 1\.\.5, 5 assets: succeeded/ } @$lines),
	'progress: the report of batch 1 scrolls above it');
is(scalar(grep { /assets\/s/ } @$lines), 1, 'progress: one progress line, not a trail of them');

for my $batch (2 .. 8)
{
	open($fh, '>', "$dir/go.$batch") or die;
	close $fh;
}
$lines = wait_for_screen(qr/^exit \d+$/, 'run to end');
ok((grep { /^exit 0$/ } @$lines), 'run in a terminal: exit 0');
ok((grep { /^8 batches: 8 succeeded, 0 failed$/ } @$lines), 'run in a terminal: summary');
is(scalar(grep { /assets\/s|~\d+ left/ } @$lines), 0, 'progress: erased when run ends');

system(@tmux, 'kill-server');
$node->stop;
done_testing();
