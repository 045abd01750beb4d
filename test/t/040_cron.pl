# Stored pipelines on pg_cron (Debian's postgresql-NN-cron), as
# docs/operations.md walks through them -- this test runs the page's
# blocks: the job owns its pg_cron entry (made when the pipeline is
# registered with a schedule, changed by alter, removed by pause and drop,
# made again by resume) and runs as its owner; a command that fails on a
# batch fails the run (cron.job_run_details says so) and halts the job
# until the cause is fixed and the batch requeued; then the summary equals
# a one-shot aggregate of the source.  Also what a schedule needs: pg_cron's
# schema for the owner, an owner that can log in, a valid schedule; and an
# hourly summary on calendar windows whose late events re-open their hours.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# a PostgreSQL major version whose Debian suite has no pg_cron package is
# skipped, and says so (test/run prints the skip)
my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
plan skip_all => "pg_cron is not installed for this PostgreSQL ($sharedir/extension/pg_cron.control missing)"
  unless -f "$sharedir/extension/pg_cron.control";

# the walkthrough's steps: <!-- cron-step: NAME --> then an sql block
my $page = slurp_file(abs_path(dirname(__FILE__) . '/../../docs/operations.md'));
my %step;
$step{$1} = $2 while $page =~ /^<!-- cron-step: ([\w-]+) -->\n```sql\n(.*?)^```$/msg;
is(join(' ', sort keys %step), 'caught-up fix halted lifecycle register setup',
	'docs/operations.md: the steps of the pg_cron walkthrough');

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->start;

$node->safe_psql('postgres', $step{setup});
# pg_cron 1.5 and later run a schedule every few seconds; 1.4 (PostgreSQL
# 15's) every minute at best
my $seconds = $node->safe_psql('postgres',
	q{SELECT extversion >= '1.5' FROM pg_extension WHERE extname = 'pg_cron'}) eq 't';
my $every = $seconds ? '2 seconds' : '* * * * *';
note "runs: $every";

# what a schedule needs is checked when it is stored
$node->safe_psql('postgres', q{
	CREATE ROLE no_cron LOGIN;
	CREATE ROLE no_login NOLOGIN;
	GRANT USAGE ON SCHEMA cron TO no_login;
	CREATE TABLE t (id bigserial PRIMARY KEY);
	GRANT SELECT ON t TO no_cron, no_login;
	GRANT SELECT ON SEQUENCE t_id_seq TO no_cron, no_login;
});
my ($rc, $out, $err) = $node->psql('postgres', q{
	SET ROLE no_cron;
	SELECT batchintory_register('x', 't', 'id', command => 'SELECT $1', schedule => '* * * * *')});
like($err, qr/its owner no_cron may not use pg_cron.*HINT:  GRANT USAGE ON SCHEMA cron TO no_cron;/s,
	'a schedule needs USAGE on schema cron for the owner, and says which GRANT');
($rc, $out, $err) = $node->psql('postgres', q{
	SET ROLE no_login;
	SELECT batchintory_register('x', 't', 'id', command => 'SELECT $1', schedule => '* * * * *')});
like($err, qr/its owner no_login cannot log in/,
	'a schedule needs an owner that can log in: pg_cron runs the pipeline as it');
($rc, $out, $err) = $node->psql('postgres', q{
	SELECT batchintory_register('x', 't', 'id', command => 'SELECT $1', schedule => 'now and then')});
like($err, qr/invalid schedule/, "pg_cron's own check of the schedule");
is($node->safe_psql('postgres', q{SELECT count(*) FROM batchintory.jobs}), '0', 'no job was made');

# the walkthrough
(my $register = $step{register}) =~ s/'\* \* \* \* \*'/'$every'/;
is($node->safe_psql('postgres', $register),
	"\nbatchintory daily|$every|CALL public.batchintory_run('daily')|rollup",
	'registered with a schedule, the pipeline has its pg_cron entry, as its owner');

# the first run aggregates two batches, then the command fails on the
# third: the run fails, the job halts there (max_attempts 1)
ok( $node->poll_query_until('postgres', q{
		SELECT halted_by IS NOT NULL FROM batchintory.jobs WHERE job = 'daily'}),
	'the batch the command fails on halts the job');
my $halted = $node->safe_psql('postgres', $step{halted});
like($halted, qr/^failed\|ERROR: batch 3 of job "daily" failed: invalid input syntax for type numeric: "n\/a"$/m,
	'cron.job_run_details: the run that met it failed, with the error');
like($halted,
	qr/^daily\|80\|3\|halted: batch 3 \(keys 81 to 120\) failed for good: invalid input syntax for type numeric: "n\/a"$/m,
	'batchintory.jobs: halted by batch 3, and why; the batches before it processed');
is($node->safe_psql('postgres', q{SELECT sum(total) FROM daily}), '3240',
	'the summary holds ids 1 to 80, committed with their releases, none after the bad batch');
SKIP:
{
	skip 'the next run is a minute away with pg_cron 1.4', 1 unless $seconds;
	ok( $node->poll_query_until('postgres', q{
			SELECT count(*) >= 2 FROM cron.job_run_details
			WHERE status = 'failed' AND return_message LIKE '%job "daily" is halted%'}),
		'the runs after it fail at once, saying the job is halted');
}

# fixed, requeued: the next runs take the batch, then the rest
$node->safe_psql('postgres', $step{fix});
ok( $node->poll_query_until('postgres', q{
		SELECT processed = 151 FROM batchintory.jobs WHERE job = 'daily'}),
	'fixed and requeued, the runs catch up');
is($node->safe_psql('postgres', $step{'caught-up'}), "t\ndaily|151|",
	'the summary equals a one-shot aggregate of the source: every row once');
is($node->safe_psql('postgres', q{
		SELECT string_agg(day || '=' || total, ' ' ORDER BY day) FROM daily}),
	'2026-01-01=17683 2026-01-02=18717 2026-01-03=18650', 'each day, checked against the data');
is($node->safe_psql('postgres', q{
		SELECT count(*) FROM batchintory.attempts
		WHERE job = 'daily' AND worker = 'batchintory_run' AND status = 'succeeded'
		AND result ? 'rows'}),
	$node->safe_psql('postgres', q{
		SELECT count(*) FROM batchintory.batches WHERE job = 'daily' AND state = 'succeeded'}),
	'every batch was run by batchintory_run and stored its result');

# the entry follows the pipeline: alter, pause, resume, drop
my @lifecycle;
for my $line (grep { /batchintory_/ } split /\n/, $step{lifecycle})
{
	push @lifecycle, $node->safe_psql('postgres', "SET ROLE rollup;\n$line\nRESET ROLE;\n"
		  . q{SELECT coalesce(string_agg(jobname || ' ' || schedule, ','), 'none') FROM cron.job});
}
is(join(' / ', map { (split /\n/)[-1] } @lifecycle),
	'batchintory daily */5 * * * * / none / batchintory daily */5 * * * * / none',
	'alter changes the entry, pause removes it, resume makes it again, drop removes it');

# an hourly summary on calendar windows, on pg_cron: a day of events, then
# late events, which re-open their hours (late => 'reprocess'); the summary
# ends equal to a GROUP BY of the source
$node->safe_psql('postgres', q{
	CREATE TABLE clicks (at timestamptz NOT NULL, n int NOT NULL);
	CREATE INDEX ON clicks (at);
	INSERT INTO clicks SELECT '2026-01-01 00:00+00'::timestamptz + g * interval '7 minutes', g % 10
	FROM generate_series(0, 205) g;
	CREATE TABLE per_hour (hour timestamptz PRIMARY KEY, clicks bigint, total bigint);
	CREATE VIEW clicks_by_hour AS
	SELECT date_trunc('hour', at) AS hour, count(*) AS clicks, sum(n) AS total FROM clicks GROUP BY 1;
});
$node->safe_psql('postgres', q{
	SELECT batchintory_register('hourly', 'clicks', 'at', window_size => '1 hour',
		late_commit_guard => false, late => 'reprocess',
		command => $$INSERT INTO per_hour SELECT date_trunc('hour', at), count(*), sum(n)
			FROM clicks WHERE at BETWEEN $1 AND $2 GROUP BY 1
			ON CONFLICT (hour) DO UPDATE SET clicks = excluded.clicks, total = excluded.total$$,
		schedule => '} . $every . q{')});
my $summed = q{SELECT NOT EXISTS (TABLE per_hour EXCEPT TABLE clicks_by_hour)
	AND NOT EXISTS (TABLE clicks_by_hour EXCEPT TABLE per_hour)};
ok($node->poll_query_until('postgres', $summed),
	'pg_cron ran the hourly summary: it equals a GROUP BY of the day');
is($node->safe_psql('postgres', q{SELECT count(*), sum(clicks) FROM per_hour}), '24|206',
	'24 hours, every click once');
$node->safe_psql('postgres',
	q{INSERT INTO clicks VALUES ('2026-01-01 03:30+00', 100), ('2026-01-01 17:05+00', 200)});
ok($node->poll_query_until('postgres', $summed),
	'late clicks re-opened their hours: the summary equals the GROUP BY again');
is($node->safe_psql('postgres', q{
		SET TimeZone = 'UTC';
		SELECT string_agg(first_key || ' attempt ' || attempt, ', ' ORDER BY batch)
		FROM batchintory.batches WHERE job = 'hourly' AND attempt > 1}),
	'2026-01-01 03:00:00+00 attempt 2, 2026-01-01 17:00:00+00 attempt 2',
	'the two hours, and only they, were processed again');
$node->safe_psql('postgres', q{SELECT batchintory_drop('hourly')});

# an owner that may no longer use pg_cron cannot remove its entry: the job
# is dropped all the same, the entry left with a warning
$node->safe_psql('postgres', q{
	SET ROLE rollup;
	SELECT batchintory_register('leftover', 'events', 'id', command => 'SELECT $1',
		schedule => '0 4 * * *');
	RESET ROLE;
	REVOKE USAGE ON SCHEMA cron FROM rollup});
($rc, $out, $err) = $node->psql('postgres', q{SELECT batchintory_drop('leftover')});
is($rc, 0, 'a job whose owner lost pg_cron can be dropped');
like($err, qr/WARNING:  the pg_cron entry "batchintory leftover" of job "leftover" was left in place/,
	'its entry is left, with a warning');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cron.job}), '1', 'the entry is there');

$node->stop;
done_testing();
