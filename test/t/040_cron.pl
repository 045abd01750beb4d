# In-database pipelines on a schedule: pg_cron (Debian's postgresql-15-cron)
# runs CALL batchintory_run every minute; rows inserted before and between
# the runs are aggregated into a summary table, each batch exactly once, and
# cron.job_run_details and batchintory.jobs show what happened.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# a PostgreSQL major version whose Debian suite has no pg_cron package is
# skipped, and says so (test/run prints the skip)
my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
plan skip_all => "pg_cron is not installed for this PostgreSQL ($sharedir/extension/pg_cron.control missing)"
  unless -f "$sharedir/extension/pg_cron.control";

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_cron;
	CREATE EXTENSION batchintory;
	CREATE TABLE events (id bigserial PRIMARY KEY, day date NOT NULL, amount int NOT NULL);
	INSERT INTO events (day, amount)
	SELECT date '2026-01-01' + g % 3, g FROM generate_series(1, 100) g;
	CREATE TABLE daily (day date PRIMARY KEY, total bigint NOT NULL);
	SELECT batchintory_register('daily', 'events', 'id', max_count => 40);
	SELECT cron.schedule('daily-rollup', '* * * * *', $cron$
		CALL batchintory_run('daily', $cmd$
			INSERT INTO daily SELECT day, sum(amount) FROM events
			WHERE id BETWEEN $1 AND $2 GROUP BY day
			ON CONFLICT (day) DO UPDATE SET total = daily.total + excluded.total$cmd$)
	$cron$);
});

# the first scheduled run (within a minute) takes the 100 rows in 3 batches
ok( $node->poll_query_until('postgres',
		q{SELECT (SELECT sum(total) FROM daily) = (SELECT sum(amount) FROM events)}),
	'the first scheduled run aggregated every row');
is($node->safe_psql('postgres',
		q{SELECT processed || '/' || succeeded FROM batchintory.jobs WHERE job = 'daily'}),
	'100/3', 'the jobs view: 100 assets in 3 succeeded batches');

# rows inserted later are taken by a later run, added once
$node->safe_psql('postgres', q{
	INSERT INTO events (day, amount)
	SELECT date '2026-01-01' + g % 3, 1000 FROM generate_series(1, 30) g});
ok( $node->poll_query_until('postgres',
		q{SELECT (SELECT sum(total) FROM daily) = (SELECT sum(amount) FROM events)}),
	'a later scheduled run aggregated the new rows');
is($node->safe_psql('postgres', q{
		SELECT string_agg(day || '=' || total, ' ' ORDER BY day) FROM daily}),
	$node->safe_psql('postgres', q{
		SELECT string_agg(day || '=' || total, ' ' ORDER BY day)
		FROM (SELECT day, sum(amount) AS total FROM events GROUP BY day) s}),
	'each day totals its rows exactly once');

# what the operator watches: the runs, and the job
ok( $node->poll_query_until('postgres', q{
		SELECT count(*) >= 2 AND bool_and(status = 'succeeded')
		FROM cron.job_run_details WHERE status <> 'running'}),
	'cron.job_run_details: every finished run succeeded');
is($node->safe_psql('postgres', q{
		SELECT processed || ' ' || failed || ' ' || coalesce(problem, 'ok')
		FROM batchintory.jobs WHERE job = 'daily'}),
	'130 0 ok', 'batchintory.jobs: 130 assets processed, nothing failed');
is($node->safe_psql('postgres', q{
		SELECT count(*) FROM batchintory.attempts
		WHERE job = 'daily' AND worker = 'batchintory_run' AND result ? 'rows'}),
	$node->safe_psql('postgres',
		q{SELECT count(*) FROM batchintory.batches WHERE job = 'daily'}),
	'every attempt was made by batchintory_run and stored its result');

$node->safe_psql('postgres', q{SELECT cron.unschedule('daily-rollup')});
$node->stop;
done_testing();
