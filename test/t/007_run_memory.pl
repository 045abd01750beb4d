# batchintory_run keeps no memory per batch: over thousands of one-asset
# batches of the documented INSERT ... ON CONFLICT pipeline, the backend's
# memory (its memory contexts, logged by pg_log_backend_memory_contexts from
# inside the command at two batches far apart) stays flat.  0.2.0 kept
# about 21 kB per batch (its SPI results) until the CALL ended.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $batches = 3000;
my ($early, $late) = (500, $batches);

my $node = PostgreSQL::Test::Cluster->new('run_memory');
$node->init;
$node->start;

$node->safe_psql('postgres', qq{
	CREATE EXTENSION batchintory;
	CREATE TABLE events (id bigserial PRIMARY KEY, day date NOT NULL, amount int NOT NULL);
	INSERT INTO events (day, amount)
	SELECT date '2026-01-01' + g % 3, g FROM generate_series(1, $batches) g;
	CREATE TABLE daily (day date PRIMARY KEY, total bigint NOT NULL);
	SELECT batchintory_register('daily', 'events', 'id', max_count => 1);
});

my $log_offset = -s $node->logfile;
my $result = $node->safe_psql('postgres', qq{
	CALL batchintory_run('daily', \$cmd\$
		INSERT INTO daily SELECT day, sum(amount) FROM events
		WHERE id BETWEEN \$1 AND \$2 GROUP BY day
		ON CONFLICT (day) DO UPDATE SET total = daily.total + excluded.total;
		SELECT CASE WHEN \$3 IN ($early, $late)
			THEN pg_log_backend_memory_contexts(pg_backend_pid()) END\$cmd\$)});
is($result, "$batches|0", "the pipeline ran $batches batches, none failed");
is($node->safe_psql('postgres', 'SELECT sum(total) = (SELECT sum(amount) FROM events) FROM daily'),
	't', 'the summary holds every row once');

# the memory in use at each of the two batches: "Grand total: ... used"
my @used;
for (1 .. 100)
{
	my $log = slurp_file($node->logfile, $log_offset);
	@used = $log =~ /Grand total: \d+ bytes in \d+ blocks; \d+ free \(\d+ chunks\); (\d+) used/g;
	last if @used >= 2;
	sleep(0.1);
}
is(scalar(@used), 2, 'the backend logged its memory at two batches');
my $growth = ($used[1] // 0) - ($used[0] // 0);
note("memory in use at batch $early: $used[0] bytes, at batch $late: $used[1] bytes");
cmp_ok($growth, '<', 256 * 1024,
	'memory grew by less than 256 kB over ' . ($late - $early) . " batches (grew $growth bytes)");

$node->stop;
done_testing();
