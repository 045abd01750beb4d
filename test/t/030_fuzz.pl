# Fuzz test: two sessions run a few thousand random calls at once (every SQL
# function of batchintory with arguments drawn from pools of edge values,
# valid acquire/release cycles on registered jobs, inserts, updates, deletes
# and DDL on the metadata tables, transaction blocks; test/fuzz/FuzzGen.pm
# writes them), then every job is drained.  Asserts: no backend crashed, no
# error of class XX (internal error), every error carries a SQLSTATE, no
# error escaped from the extension's own statements on its inventory, and
# the inventory invariants of test/fuzz/invariants.sql hold for every job,
# after the calls and after the drain.
#
# The seed is printed; replay a run with FUZZ_SEED=<seed>.  FUZZ_CALLS
# (calls per session, default 1500) and FUZZ_SECONDS (time limit of the
# random calls, default 90) tune it.  The scripts and every error are kept
# in tmp_check/log (030_fuzz_session<N>.sql, 030_fuzz_errors.txt).
use strict;
use warnings;
use File::Basename qw(dirname);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::RealBin/../fuzz";
use FuzzGen;

my $dir = dirname(__FILE__);
my $seed =
  defined $ENV{FUZZ_SEED} && $ENV{FUZZ_SEED} =~ /^\d+$/
  ? $ENV{FUZZ_SEED}
  : int(rand(1_000_000_000));
my $calls = $ENV{FUZZ_CALLS} || 1500;
my $seconds = $ENV{FUZZ_SECONDS} || 90;
my @sessions = (1, 2);

diag("FUZZ_SEED=$seed (replay: FUZZ_SEED=$seed make installcheck REGRESS= ISOLATION= PROVE_TESTS=test/t/030_fuzz.pl)");

my $node = PostgreSQL::Test::Cluster->new('fuzz');
$node->init;
$node->append_conf('postgresql.conf', q{
log_line_prefix = '%m [%p] %e %a '
deadlock_timeout = '100ms'
restart_after_crash = off
});
$node->start;

$node->safe_psql('postgres', slurp_file("$dir/../fuzz/setup.sql"));
$node->safe_psql('postgres', slurp_file("$dir/../fuzz/invariants.sql"));
$node->safe_psql('postgres', join("\n", FuzzGen::valid_registrations()));

#
# 1. the random calls, two sessions at once
#
my $log_dir = $PostgreSQL::Test::Utils::log_path;
my (%script, %out, %err, %run);
my $started = time;
for my $s (@sessions)
{
	$script{$s} = FuzzGen::script($seed, $s, $calls);
	my $file = "$log_dir/030_fuzz_session$s.sql";
	open(my $fh, '>', $file) or die "could not write $file: $!";
	print $fh $script{$s}{text};
	close($fh);
	($out{$s}, $err{$s}) = ('', '');
	$run{$s} = IPC::Run::start(
		[
			'psql', '-X', '-q', '-h', $node->host, '-p', $node->port,
			'-d', 'postgres', '-f', $file
		],
		'>', \$out{$s}, '2>', \$err{$s},
		IPC::Run::timeout($seconds));
}
my %killed;
for my $s (@sessions)
{
	eval { $run{$s}->finish; 1 } or do
	{
		$run{$s}->kill_kill;
		$killed{$s} = 1;
	};
}
my $elapsed = time - $started;

# calls made per session: the last "@N" marker psql echoed
my %made;
for my $s (@sessions)
{
	my @marks = $out{$s} =~ /^\@(\d+)$/mg;
	$made{$s} = @marks ? $marks[-1] : 0;
	if ($killed{$s})
	{
		note "session $s stopped after $seconds s, at call $made{$s} of $calls";
	}
	else
	{
		is($run{$s}->result(0), 0,
			"session $s ran its $calls calls (psql exit status 0)");
	}
}

#
# 2. the errors psql reported, one record per message
#
my @records;
for my $s (@sessions)
{
	my $lines = $script{$s}{lines};
	my @text = split /\n/, $script{$s}{text};
	my $cur;
	for my $l (split /\n/, $err{$s})
	{
		if ($l =~ /^psql:[^:]*:(\d+): (ERROR|WARNING|NOTICE|INFO|FATAL|PANIC):  (?:([0-9A-Z]{5}): )?(.*)$/)
		{
			$cur = {
				session => $s,
				line => $1,
				level => $2,
				sqlstate => $3,
				message => $4,
				extra => '',
				call => $lines->{$1} // '?',
				script => $text[ $1 - 1 ] // ''
			};
			push @records, $cur;
		}
		elsif ($l =~ /^psql:[^:]*:(\d+): STATEMENT:  (.*)$/ && $cur)
		{
			$cur->{statement} = $2;
		}
		elsif ($l =~ /^psql:[^:]*:(\d+): (.*)$/)
		{
			# a message from psql itself or a lost connection: no SQLSTATE
			$cur = {
				session => $s,
				line => $1,
				level => 'CLIENT',
				message => $2,
				extra => '',
				call => $lines->{$1} // '?',
				script => $text[ $1 - 1 ] // ''
			};
			push @records, $cur;
		}
		elsif ($cur)
		{
			$cur->{extra} .= "$l\n";
		}
		else
		{
			push @records,
			  { session => $s, line => 0, level => 'CLIENT', message => $l, extra => '', call => '?', script => '' };
		}
	}
}
my @errors = grep { $_->{level} =~ /^(ERROR|FATAL|PANIC|CLIENT)$/ } @records;
my @warnings = grep { $_->{level} eq 'WARNING' } @records;

# the text of one record, for the diagnostics
sub describe
{
	my ($r) = @_;
	my $sql = $r->{statement} // $r->{script};
	my $extra = join('', map { "      $_\n" } grep { /^(DETAIL|HINT|CONTEXT|QUERY|LOCATION):/ } split /\n/, $r->{extra});
	return sprintf("session %s call %s (script line %s): %s\n    => %s %s: %s\n%s",
		$r->{session}, $r->{call}, $r->{line}, length($sql) > 500 ? substr($sql, 0, 500) . '…' : $sql,
		$r->{level}, $r->{sqlstate} // 'no SQLSTATE', $r->{message}, $extra);
}

# a message with the values taken out, to count alike messages together
sub shape
{
	my ($m) = @_;
	$m =~ s/"[^"]*"/"…"/g;
	$m =~ s/-?\d+(\.\d+)?/N/g;
	$m = substr($m, 0, 100) . '…' if length($m) > 100;
	return $m;
}

# list each failing call once (with how often it failed so)
sub report_failures
{
	my ($what, @list) = @_;
	my (%seen, @order);
	for my $r (@list)
	{
		my $key = ($r->{statement} // $r->{script}) . "\0" . ($r->{sqlstate} // '') . "\0" . $r->{message};
		push @order, $key unless $seen{$key}{count}++;
		$seen{$key}{record} //= $r;
	}
	my $shown = 0;
	for my $key (@order)
	{
		if (++$shown > 300)
		{
			diag(scalar(@order) - 300 . " more distinct calls: see $log_dir/030_fuzz_errors.txt");
			last;
		}
		diag("$what"
			  . ($seen{$key}{count} > 1 ? " ($seen{$key}{count} times)" : '')
			  . ": " . describe($seen{$key}{record}));
	}
}

# every record into a file next to the scripts
{
	open(my $fh, '>', "$log_dir/030_fuzz_errors.txt") or die $!;
	print $fh describe($_), $_->{extra}, "\n" for @records;
	close($fh);
}

#
# 3. assertions on the calls
#

# no backend crashed: psql lost no connection and the server log has no
# crash; the server still answers
my $server_log = slurp_file($node->logfile);
my @crashes = grep {
	/terminated by signal|server process .* was terminated|exited with exit code [1-9]|\bPANIC:|TRAP:|server closed the connection unexpectedly|connection to server was lost/
} (split(/\n/, $server_log), map { $_->{message} } @errors);
is(join("\n", @crashes), '', 'no backend crashed');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server still answers');

my @internal = grep { ($_->{sqlstate} // '') =~ /^XX/ } @errors;
my @log_internal = $server_log =~ /^(.*\[\d+\] XX[0-9A-Z]{3} (?:ERROR|FATAL|PANIC):.*)$/mg;
report_failures('internal error', @internal);
is(scalar(@internal), 0, 'no call failed with an error of class XX (internal error)');
is(scalar(@log_internal), 0, 'the server log has no error of class XX')
  or diag(join("\n", @log_internal));

my @stateless = grep { !defined $_->{sqlstate} } @errors;
report_failures('error without SQLSTATE', @stateless);
is(scalar(@stateless), 0, 'every error carries a SQLSTATE');

# An error raised by one of the extension's own statements on its inventory
# (CONTEXT or QUERY shows SQL on batchintory.job/batch/attempt) means an
# argument or a state was not checked first (an overflow, a CHECK
# violation, ...).  Allowed there: cancellation and time-outs (57, 55P03),
# transaction rollbacks (40), resources (53) and permissions (42501).
my $inventory_sql = qr/^(?:CONTEXT|QUERY):  (?:SQL statement ")?[^\n]*\bbatchintory\.(?:job|batch|attempt)\b/m;
my @escaped = grep {
	$_->{level} eq 'ERROR'
	  && $_->{extra} =~ $inventory_sql
	  && ($_->{sqlstate} // '') !~ /^(57|40|53|55P03|42501)/
} @errors;
report_failures('error inside an inventory statement', @escaped);
is(scalar(@escaped), 0, "no error escaped from the extension's own inventory statements");

#
# 4. the summary
#
my (%by_state, %by_shape, %warn_by_state);
for my $r (@errors)
{
	my $state = $r->{sqlstate} // 'none';
	$by_state{$state}++;
	$by_shape{"$state " . shape($r->{message})}++;
}
$warn_by_state{ $_->{sqlstate} // 'none' }++ for @warnings;
my $made = 0;
$made += $made{$_} for @sessions;
my $statements = () = join('', map { $out{$_} } @sessions) =~ /^\@\d+$/mg;
my @top = (sort { $by_shape{$b} <=> $by_shape{$a} || $a cmp $b } keys %by_shape)[ 0 .. 19 ];
my $inventory = $node->safe_psql('postgres', q{
	SELECT format('%s jobs, %s batches (%s), %s attempts (%s)',
		(SELECT count(*) FROM batchintory.job),
		(SELECT count(*) FROM batchintory.batch),
		(SELECT string_agg(status || ' ' || n, ', ' ORDER BY status)
		 FROM (SELECT status, count(*) n FROM batchintory.batch GROUP BY status) s),
		(SELECT count(*) FROM batchintory.attempt),
		(SELECT string_agg(status || ' ' || n, ', ' ORDER BY status)
		 FROM (SELECT status, count(*) n FROM batchintory.attempt GROUP BY status) s))});
my $leaks = grep {
	$_->{level} eq 'ERROR' && $_->{extra} =~ /^(?:CONTEXT:  SQL statement|QUERY:  )/m
} @errors;
diag(sprintf("fuzz summary: seed %s, %d sessions, %d calls (%s) in %.1f s; %d errors, %d warnings",
	$seed, scalar(@sessions), $made, join(' + ', map { $made{$_} } @sessions), $elapsed,
	scalar(@errors), scalar(@warnings)));
diag("errors by SQLSTATE: "
	  . join(', ', map { "$_ $by_state{$_}" } sort { $by_state{$b} <=> $by_state{$a} || $a cmp $b } keys %by_state));
diag("warnings by SQLSTATE: "
	  . join(', ', map { "$_ $warn_by_state{$_}" } sort keys %warn_by_state));
diag("errors that show SQL the extension ran (CONTEXT/QUERY): $leaks");
diag("inventory after the calls: $inventory");
diag("top messages:\n" . join("\n", map { sprintf("  %5d  %s", $by_shape{$_}, $_) } grep { defined } @top));

# the calls did reach deep: batches were handed out, released, retried
my ($succeeded, $retried) = split /\|/, $node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM batchintory.attempt WHERE status = 'succeeded'),
		(SELECT count(*) FROM batchintory.attempt WHERE attempt > 1)});
cmp_ok($succeeded, '>=', 20, 'the calls released batches as succeeded');
cmp_ok($retried, '>=', 5, 'the calls retried batches');

#
# 5. the invariants, after the calls and after draining every job
#
sub check_invariants
{
	my ($when) = @_;
	my $bad = $node->safe_psql('postgres', q{
		SELECT format('job %s: %s (%s): %s', job, invariant, violations, example)
		FROM fuzz_invariants()});
	is($bad, '', "the inventory invariants hold for every job $when");
	my $gaps = $node->safe_psql('postgres',
		"SELECT string_agg(format('%s: %s, e.g. %s', job, gaps, example), '; ') FROM fuzz_gaps()");
	note "holes between live ranges $when: $gaps" if $gaps ne '';
	return;
}
check_invariants('after the calls');

# let the leases of abandoned attempts run out, put the tables back, drain
sleep(2.1);
$node->safe_psql('postgres', 'SELECT fuzz_restore()');
my $drained = $node->safe_psql('postgres', q{
	SET statement_timeout = '30s';
	SELECT format('%s: %s', name, fuzz_drain(name)) FROM batchintory.job ORDER BY name});
note "drain: " . join('; ', split /\n/, $drained);
my @drain_internal = grep { /^[^:]*: XX/ } split /\n/, $drained;
is(join("\n", @drain_internal), '', 'draining the jobs hit no internal error');
check_invariants('after the drain');

$server_log = substr(slurp_file($node->logfile), length($server_log));
@log_internal = $server_log =~ /^(.*\[\d+\] XX[0-9A-Z]{3} (?:ERROR|FATAL|PANIC):.*)$/mg;
is(scalar(@log_internal), 0, 'the server log has no error of class XX after the drain')
  or diag(join("\n", @log_internal));

$node->stop;
done_testing();
