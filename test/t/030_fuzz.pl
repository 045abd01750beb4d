# Fuzz test: two sessions run thousands of random calls at once (every SQL
# function of batchintory with arguments drawn from pools of edge values,
# valid acquire/release cycles on registered jobs, inserts, updates, deletes
# and DDL on the metadata tables, transaction blocks; test/fuzz/FuzzGen.pm
# writes them), while a third drops the valid jobs and registers them again
# all along, racing every function.  Then the tables are put back in shape, the valid jobs get
# their settings back and every job is drained.
#
# Asserts: no backend crashed, no error of class XX (internal error), every
# error carries a SQLSTATE, no error escaped from the extension's own
# statements on its inventory, the view batchintory.jobs never fails
# because of one job's state, the inventory invariants of
# test/fuzz/invariants.sql hold for every job (after the calls and after the
# drain), and every valid job drains to the end (its acquires cycling
# through max_count NULL, 1, the bigint maximum and 2), after which peek
# shows no new batch and backlog no asset beyond the frontier.  The
# extension's deadlocks are shown, not asserted.
#
# The seed is printed; replay a run with FUZZ_SEED=<seed>.  FUZZ_CALLS
# (calls per session, default 4000) and FUZZ_SECONDS (time limit of the
# random calls, default 90) tune it.  The scripts, every message and the
# distinct messages are kept in tmp_check/log (030_fuzz_session<N>.sql,
# 030_fuzz_errors.txt, 030_fuzz_distinct.txt).
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
my $calls = $ENV{FUZZ_CALLS} || 4000;
my $seconds = $ENV{FUZZ_SECONDS} || 90;
my @sessions = (1, 2, 3);
my $recycler = 3;    # drops and registers again, only
my $log_dir = $PostgreSQL::Test::Utils::log_path;

{
	my $perl_lib = dirname(dirname(dirname($INC{'PostgreSQL/Test/Cluster.pm'})));
	diag("FUZZ_SEED=$seed; replay: FUZZ_SEED=$seed make installcheck REGRESS= ISOLATION="
		  . " PROVE_TESTS=test/t/030_fuzz.pl, or FUZZ_SEED=$seed PG_REGRESS="
		  . ($ENV{PG_REGRESS} // '<pg_regress>') . " prove -I $perl_lib test/t/030_fuzz.pl");
}

my $node = PostgreSQL::Test::Cluster->new('fuzz');
$node->init;
$node->append_conf('postgresql.conf', q{
log_line_prefix = '%m [%p] %e %a '
deadlock_timeout = '100ms'
restart_after_crash = on
});
$node->start;

$node->safe_psql('postgres', slurp_file("$dir/../fuzz/setup.sql"));
$node->safe_psql('postgres', slurp_file("$dir/../fuzz/invariants.sql"));
$node->safe_psql('postgres', join("\n", FuzzGen::valid_registrations()));

#
# Reading what psql printed
#

# The messages psql printed on stderr for a script run with VERBOSITY
# verbose and ECHO errors: one record per message, with its level,
# SQLSTATE, message, the DETAIL/HINT/CONTEXT/QUERY/LOCATION lines (extra),
# the statement and the number of the call that made it.
sub parse_psql
{
	my ($session, $stderr, $script) = @_;
	my @text = split /\n/, $script->{text};
	my (@records, $cur);
	my $record = sub {
		my ($line, $level, $sqlstate, $message) = @_;
		$cur = {
			session => $session,
			line => $line,
			level => $level,
			sqlstate => $sqlstate,
			message => $message,
			extra => '',
			call => $script->{lines}{$line} // '?',
			script => $line ? $text[ $line - 1 ] // '' : ''
		};
		push @records, $cur;
	};
	for my $l (split /\n/, $stderr)
	{
		if ($l =~ /^psql:[^:]*:(\d+): (ERROR|WARNING|NOTICE|INFO|FATAL|PANIC):  (?:([0-9A-Z]{5}): )?(.*)$/)
		{
			$record->($1, $2, $3, $4);
		}
		elsif ($l =~ /^psql:[^:]*:(\d+): STATEMENT:  (.*)$/ && $cur)
		{
			$cur->{statement} = $2;
		}
		elsif ($l =~ /^psql:[^:]*:(\d+): (.*)$/)
		{
			# a message of psql itself or a lost connection: no SQLSTATE
			$record->($1, 'CLIENT', undef, $2);
		}
		elsif ($cur)
		{
			$cur->{extra} .= "$l\n";
		}
		else
		{
			$record->(0, 'CLIENT', undef, $l);
		}
	}
	return @records;
}

# the text of one record, for the diagnostics
sub describe
{
	my ($r) = @_;
	my $sql = $r->{statement} // $r->{script};
	my $extra = join('',
		map { "      " . (length($_) > 400 ? substr($_, 0, 400) . '…' : $_) . "\n" }
		grep { /^(DETAIL|HINT|CONTEXT|QUERY|LOCATION):/ } split /\n/, $r->{extra});
	return sprintf("session %s call %s (script line %s): %s\n    => %s %s: %s\n%s",
		$r->{session}, $r->{call}, $r->{line},
		length($sql) > 500 ? substr($sql, 0, 500) . '…' : $sql,
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

# the function that raised a message (its LOCATION line)
sub location
{
	my ($r) = @_;
	my ($where) = $r->{extra} =~ /^LOCATION:  ([^\n]*)/m;
	return defined $where ? $where =~ s/:\d+$//r : '';
}

# Diagnostics for failing calls: each distinct call once (with how often it
# failed so), then the distinct failures (SQLSTATE, message, where raised)
sub report_failures
{
	my ($what, @list) = @_;
	my (%seen, @order, %kinds);
	for my $r (@list)
	{
		my $key = ($r->{statement} // $r->{script}) . "\0" . ($r->{sqlstate} // '') . "\0" . $r->{message};
		push @order, $key unless $seen{$key}{count}++;
		$seen{$key}{record} //= $r;
		$kinds{ ($r->{sqlstate} // 'no SQLSTATE') . ' ' . shape($r->{message}) . ' [' . location($r) . ']' }++;
	}
	my $shown = 0;
	for my $key (@order)
	{
		if (++$shown > 200)
		{
			diag(scalar(@order) - 200 . " more distinct failing calls: see $log_dir/030_fuzz_errors.txt");
			last;
		}
		diag("$what"
			  . ($seen{$key}{count} > 1 ? " ($seen{$key}{count} times)" : '')
			  . ": " . describe($seen{$key}{record}));
	}
	diag("$what, distinct:\n"
		  . join("\n", map { sprintf("  %5d  %s", $kinds{$_}, $_) } sort keys %kinds))
	  if %kinds;
	return;
}

# An error raised by one of the extension's own statements on its inventory
# (CONTEXT or QUERY shows SQL on batchintory.job/batch/attempt) means an
# argument or a state was not checked first (an overflow, a CHECK
# violation, ...).  Allowed there: cancellation and time-outs (57, 55P03),
# transaction rollbacks (40), resources (53) and permissions (42501).
my $inventory_sql = qr/^(?:CONTEXT|QUERY):  (?:SQL statement ")?[^\n]*\bbatchintory\.(?:job|batch|attempt)\b/m;

# The assertions on the messages of a set of calls
sub check_messages
{
	my ($when, @records) = @_;
	my @errors = grep { $_->{level} =~ /^(ERROR|FATAL|PANIC|CLIENT)$/ } @records;

	my @crashes = grep {
		$_->{level} =~ /^(FATAL|PANIC)$/
		  || ($_->{level} eq 'CLIENT'
			&& $_->{message} =~ /server closed the connection unexpectedly|connection to server was lost|no connection to the server/)
	} @errors;
	report_failures('connection lost', @crashes);
	is(scalar(@crashes), 0, "no connection was lost $when");

	my @internal = grep { ($_->{sqlstate} // '') =~ /^XX/ } @errors;
	report_failures('internal error', @internal);
	is(scalar(@internal), 0, "no call failed with an error of class XX (internal error) $when");

	my @stateless = grep { !defined $_->{sqlstate} } @errors;
	report_failures('error without SQLSTATE', @stateless);
	is(scalar(@stateless), 0, "every error carries a SQLSTATE $when");

	my @escaped = grep {
		$_->{level} eq 'ERROR'
		  && $_->{extra} =~ $inventory_sql
		  && ($_->{sqlstate} // '') !~ /^(57|40|53|55P03|42501)/
	} @errors;
	report_failures('error inside an inventory statement', @escaped);
	is(scalar(@escaped), 0, "no error escaped from the extension's own inventory statements $when");

	# one broken job (its table, columns or filter changed) must not break
	# the jobs view for everyone
	my @view = grep {
		$_->{level} eq 'ERROR'
		  && ($_->{statement} // $_->{script}) =~ /\bFROM batchintory\.jobs\b/
		  && ($_->{sqlstate} // '') !~ /^(57|40|53|55P03|42501|25P02)/
	} @errors;
	report_failures('the jobs view failed', @view);
	is(scalar(@view), 0, "batchintory.jobs shows the jobs whatever state they are in $when");

	# not asserted (DDL in the calls' transaction blocks can deadlock with
	# anything), but shown: deadlocks of the extension's calls
	my @deadlocks = grep {
		($_->{sqlstate} // '') eq '40P01'
		  && ($_->{statement} // $_->{script}) =~ /batchintory_/
	} @errors;
	report_failures('deadlock (not asserted)', @deadlocks);
	return;
}

# no backend crashed since offset in the server log, which has no error of
# class XX either; the server still answers.  Returns the new offset.
sub check_server
{
	my ($when, $offset) = @_;
	my $log = slurp_file($node->logfile);
	my $new = substr($log, $offset);
	my @crashes = grep {
		/terminated by signal|server process .* was terminated|exited with exit code [1-9]|\bPANIC:|TRAP:/
	} split /\n/, $new;
	is(join("\n", @crashes), '', "no backend crashed $when");
	my @internal = $new =~ /^(.*\[\d+\] XX[0-9A-Z]{3} (?:ERROR|FATAL|PANIC):.*)$/mg;
	is(join("\n", @internal), '', "the server log has no error of class XX $when");
	is($node->safe_psql('postgres', 'SELECT 1'), '1', "the server still answers $when");
	return length($log);
}

# the inventory invariants hold for every job
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

#
# 1. the random calls, three sessions at once
#
my (%script, %out, %err, %run);
my $started = time;
for my $s (@sessions)
{
	$script{$s} = FuzzGen::script($seed, $s, $s == $recycler ? int($calls / 8) : $calls,
		$s == $recycler);
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

# after a crash the server restarts (restart_after_crash): wait for it, so
# that what follows can tell what happened
for (1 .. 600)
{
	my ($ret) = $node->psql('postgres', 'SELECT 1');
	last if $ret == 0;
	sleep(0.1);
}

# calls made per session: the last "@N" marker psql echoed
my %made;
for my $s (@sessions)
{
	my @marks = $out{$s} =~ /^\@(\d+)$/mg;
	$made{$s} = @marks ? $marks[-1] : 0;
	if ($killed{$s})
	{
		diag("session $s stopped after $seconds s, at call $made{$s} of $script{$s}{calls}");
	}
	else
	{
		is($run{$s}->result(0), 0, "session $s ran its $script{$s}{calls} calls (psql exit status 0)");
	}
}

my @records = map { parse_psql($_, $err{$_}, $script{$_}) } @sessions;

# every message into a file next to the scripts, and the distinct messages
# (level, SQLSTATE, message shape, function that raised it) with an example
{
	open(my $fh, '>', "$log_dir/030_fuzz_errors.txt") or die $!;
	print $fh describe($_), "\n" for @records;
	close($fh);
	my %distinct;
	for my $r (@records)
	{
		my $key = join(' ', $r->{level}, $r->{sqlstate} // 'none', shape($r->{message}),
			'[' . location($r) . ']');
		$distinct{$key}{count}++;
		$distinct{$key}{example} //= describe($r);
	}
	open($fh, '>', "$log_dir/030_fuzz_distinct.txt") or die $!;
	for my $key (sort { $distinct{$b}{count} <=> $distinct{$a}{count} || $a cmp $b } keys %distinct)
	{
		print $fh "$distinct{$key}{count} × $key\n  e.g. $distinct{$key}{example}\n";
	}
	close($fh);
}

#
# 2. the summary
#
{
	my @errors = grep { $_->{level} =~ /^(ERROR|FATAL|PANIC|CLIENT)$/ } @records;
	my @warnings = grep { $_->{level} eq 'WARNING' } @records;
	my (%by_state, %by_shape, %warn_by_state);
	for my $r (@errors)
	{
		my $state = $r->{sqlstate} // 'none';
		$by_state{$state}++;
		$by_shape{"$state " . shape($r->{message})}++;
	}
	$warn_by_state{ ($_->{sqlstate} // 'none') . ' ' . shape($_->{message}) }++ for @warnings;
	my $made = 0;
	$made += $made{$_} for @sessions;
	my @top = grep { defined }
	  (sort { $by_shape{$b} <=> $by_shape{$a} || $a cmp $b } keys %by_shape)[ 0 .. 19 ];
	my $leaks = grep {
		$_->{level} eq 'ERROR' && $_->{extra} =~ /^(?:CONTEXT:  SQL statement|QUERY:  )/m
	} @errors;
	my $inventory = $node->safe_psql('postgres', q{
		SELECT format('%s jobs, %s batches ever cut; now %s batches (%s), %s attempts (%s)',
			(SELECT count(*) FROM batchintory.job),
			(SELECT last_value FROM batchintory.batch_batch_id_seq),
			(SELECT count(*) FROM batchintory.batch),
			(SELECT string_agg(status || ' ' || n, ', ' ORDER BY status)
			 FROM (SELECT status, count(*) n FROM batchintory.batch GROUP BY status) s),
			(SELECT count(*) FROM batchintory.attempt),
			(SELECT string_agg(status || ' ' || n, ', ' ORDER BY status)
			 FROM (SELECT status, count(*) n FROM batchintory.attempt GROUP BY status) s))});
	diag(sprintf("fuzz summary: seed %s, %d sessions, %d calls (%s) in %.1f s; %d errors, %d warnings",
		$seed, scalar(@sessions), $made, join(' + ', map { $made{$_} } @sessions), $elapsed,
		scalar(@errors), scalar(@warnings)));
	diag("errors by SQLSTATE: "
		  . join(', ', map { "$_ $by_state{$_}" }
			  sort { $by_state{$b} <=> $by_state{$a} || $a cmp $b } keys %by_state));
	diag("top messages:\n" . join("\n", map { sprintf("  %5d  %s", $by_shape{$_}, $_) } @top));
	diag("warnings:\n" . join("\n", map { sprintf("  %5d  %s", $warn_by_state{$_}, $_) }
		  sort { $warn_by_state{$b} <=> $warn_by_state{$a} || $a cmp $b } keys %warn_by_state));
	diag("errors that show SQL the extension ran (CONTEXT/QUERY): $leaks");
	diag("inventory after the calls: $inventory");
	diag("all messages: $log_dir/030_fuzz_errors.txt, distinct: $log_dir/030_fuzz_distinct.txt");
}

#
# 3. the assertions on the random calls
#
my $log_offset = check_server('during the random calls', 0);
check_messages('in the random calls', @records);

# the calls did reach deep: batches were cut, taken again, released (the
# activity statistics count what later drops deleted; the sessions that
# wrote them have ended, so they are flushed)
my ($cut, $attempts, $updates) = split /\|/, $node->safe_psql('postgres', q{
	SELECT (SELECT last_value FROM batchintory.batch_batch_id_seq), n_tup_ins, n_tup_upd
	FROM pg_stat_all_tables WHERE relid = 'batchintory.attempt'::regclass});
note "batches cut: $cut, attempts recorded: $attempts, attempt updates: $updates";
cmp_ok($cut, '>=', int($calls / 20), 'the calls cut batches');
cmp_ok($attempts, '>', $cut, 'the calls took batches again');
cmp_ok($updates, '>=', int($calls / 100), 'the calls released attempts');

check_invariants('after the random calls');

#
# 4. settle: tables back in shape, the valid jobs back to their settings
#    (re-registered when their table is gone), then drain every job
#
sleep(2.1);    # the leases of abandoned attempts run out
my $settle = {
	lines => {},
	text => join("\n",
		'\set VERBOSITY verbose', '\set ECHO errors', '\o /dev/null',
		"SET statement_timeout = '30s';", 'SELECT fuzz_settle();',
		map { FuzzGen::ensure_lines($_, 1) } @FuzzGen::valid_names)
	  . "\n"
};
$settle->{lines}{$_} = 'settle' for 1 .. ($settle->{text} =~ tr/\n//);
my ($settle_out, $settle_err) = ('', '');
$node->psql('postgres', $settle->{text}, stdout => \$settle_out, stderr => \$settle_err);
my @settle_records = grep { $_->{level} !~ /^(NOTICE|WARNING|INFO)$/ } parse_psql('settle', $settle_err, $settle);
is(join('', map { describe($_) } @settle_records), '',
	'the valid jobs get their settings back after the calls');

my %drained = map { split /\t/, $_, 2 } split /\n/, $node->safe_psql('postgres', q{
	SET statement_timeout = '300s';
	SELECT name, fuzz_drain(name) FROM batchintory.job ORDER BY name},
	extra_params => [ '-F', "\t" ]);
note "drain: $_: $drained{$_}" for sort keys %drained;
is(join("\n", map { "$_: $drained{$_}" } grep { $drained{$_} =~ /^XX/ } sort keys %drained),
	'', 'draining the jobs hit no internal error');
for my $j (@FuzzGen::valid_names)
{
	like($drained{$j} // 'missing', qr/^ok /, "valid job $j drains to the end");
	next unless ($drained{$j} // '') =~ /^ok /;
	my ($ret, $left, $stderr) = $node->psql('postgres', "SELECT fuzz_leftover('$j')");
	is("$left$stderr", 'peek: 0 new batch(es); backlog: 0 asset(s)',
		"once acquire hands out nothing more, peek and backlog show no work left for $j");
}
check_invariants('after the drain');
check_server('during the drain', $log_offset);

$node->stop;
done_testing();
