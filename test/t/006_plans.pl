# The extension's kept plans stay lookups by key when they were made under
# the statistics of an empty inventory (ANALYZE right after CREATE
# EXTENSION, autovacuum off): a whole scan of an index then costs what a
# lookup costs.  One session makes its plans on the empty inventory, grows
# it to thousands of batches (some in flight, some abandoned, some failed),
# and shows its plans with auto_explain: no sequential, bitmap, merge or
# hash scan of the inventory, no rows read to be thrown away, no JIT.
# (A hand-out, a retry, release and heartbeat write the inventory with no
# statement: src/inventory/ reads and writes their rows through the
# indexes; what is left are the statements that read.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('plans');
$node->init;
$node->append_conf('postgresql.conf', "autovacuum = off\n");
$node->start;

# from here on, every statement's plan, nested ones included, as a NOTICE
my $show_plans = q{
	LOAD 'auto_explain';
	SET auto_explain.log_min_duration = 0;
	SET auto_explain.log_nested_statements = on;
	SET auto_explain.log_analyze = on;
	SET auto_explain.log_timing = off;
	SET auto_explain.log_level = notice;
};

my ($out, $err) = ('', '');
$node->psql('postgres', q{
	CREATE EXTENSION batchintory;
	ANALYZE batchintory.job, batchintory.batch, batchintory.attempt, batchintory.progress;
	CREATE TABLE files (id bigserial PRIMARY KEY, bytes bigint);
	INSERT INTO files (bytes) SELECT 1 FROM generate_series(1, 100000);
	SELECT batchintory_register('j', 'files', 'id', 'bytes', max_count => 10,
		lease => '1 second', max_attempts => 2, on_failure => 'skip') IS NOT NULL AS registered;
	-- the plans are made here, on an empty inventory
	SELECT batchintory_release(batch, attempt, 'succeeded') FROM batchintory_acquire('j');
	SELECT batchintory_heartbeat(batch, attempt) IS NOT NULL AS beat
	FROM batchintory_acquire('j');
	-- 2000 batches done, 20 failed for good, 60 left in flight to be abandoned
	DO $$
	DECLARE
		r record;
	BEGIN
		FOR i IN 1 .. 2000 LOOP
			SELECT * INTO r FROM batchintory_acquire('j');
			PERFORM batchintory_release(r.batch, r.attempt, 'succeeded');
		END LOOP;
		-- no backoff: a failed batch is the next acquire's, and fails again
		FOR i IN 1 .. 40 LOOP
			SELECT * INTO r FROM batchintory_acquire('j');
			PERFORM batchintory_release(r.batch, r.attempt, 'failed');
		END LOOP;
		PERFORM batchintory_acquire('j') FROM generate_series(1, 60);
	END
	$$;
	SELECT pg_sleep(1.2);
} . $show_plans . q{
	SELECT batch, attempt FROM batchintory_acquire('j') \gset
	SELECT batchintory_heartbeat(:batch, :attempt) IS NOT NULL AS beat;
	SELECT batchintory_release(:batch, :attempt, 'succeeded');
	SELECT batch, attempt FROM batchintory_acquire('j') \gset
	SELECT batchintory_release(:batch, :attempt, 'failed');
	SELECT count(*) FROM batchintory_lookup('j', 12345);
	SELECT batchintory_details(:batch) IS NOT NULL AS details;
},
	stdout => \$out, stderr => \$err, on_error_die => 1);

# after a rewind, the live batch covering a key is still a probe of
# batch_job_live, not a walk over the superseded batches before it (a new
# session: its lookup plan, too, is made under the empty inventory's
# statistics)
my $rewound_err = '';
$node->psql('postgres', q{
	SELECT batchintory_rewind('j', 5000) > 0 AS rewound;
} . $show_plans . q{
	SELECT count(*) FROM batchintory_lookup('j', 12345);
},
	stdout => \$out, stderr => \$rewound_err, on_error_die => 1);
$err .= $rewound_err;

# the plans, for whoever reads a failure
open(my $fh, '>', $node->basedir . '/plans.txt') or die $!;
print $fh $err;
close($fh);

my @plans = grep { /batchintory\./ } split /NOTICE:  duration: /, $err;
cmp_ok(scalar(@plans), '>=', 7, 'auto_explain showed the plans of the extension\'s statements');
like($err, qr/Index Scan using batch_pkey on batch/, 'batches are found by key');
like($err, qr/Index Scan using batch_job_retry on batch/,
	'failed batches due for a retry are a range of batch_job_retry');
like($err, qr/Index Scan using batch_job_leased on batch/, 'expired leases are a range of batch_job_leased');
like($err, qr/Index Scan Backward using batch_job_live on batch/,
	'lookup probes the live batches by key');
like($err, qr/Index Scan using batch_range on batch/,
	'lookup finds superseded batches through their ranges');

my @whole = $err =~ /^.*(?:Seq Scan on (?:job|batch|attempt|progress)\b|Bitmap Heap Scan|Merge Join|Hash Join|Hash Semi Join).*$/mg;
is(join("\n", @whole), '', 'no whole scan, bitmap scan, merge or hash join in a kept plan');

# rows of an inventory table read and thrown away (a CTE's few rows may be)
my ($node_line, @thrown) = ('');
foreach my $line (split /\n/, $err)
{
	$node_line = $line if $line =~ /\(cost=/;
	next unless $line =~ /Rows Removed by (?:Join )?Filter: (\d+)/;
	my $removed = $1;
	push @thrown, "$node_line: $removed"
	  if $removed >= 5
	  && $node_line =~ /(?:Scan|Join)\b/
	  && $node_line !~ /CTE Scan/;
}
is(join("\n", @thrown), '', 'no statement reads rows of the inventory only to throw them away');
unlike($err, qr/JIT:/, 'no JIT compilation of the extension\'s statements');

# every part of the jobs view is an index lookup by job: with sequential
# scans priced out, none is left in its plan
my $view_plan = $node->safe_psql('postgres', q{
	SET enable_seqscan = off;
	EXPLAIN (COSTS OFF) SELECT * FROM batchintory.jobs;
});
my ($scan, @filtered) = ('');
foreach my $line (split /\n/, $view_plan)
{
	$scan = $line if $line =~ /(?:->|^)\s*\S/ && $line !~ /^\s*(?:Index Cond|Filter|Sort Key|Group Key|Join Filter|Recheck Cond|InitPlan|SubPlan)/;
	push @filtered, $scan if $line =~ /^\s*Filter:/ && $scan =~ /Scan.* on (?:batch|progress)\b/;
}
unlike($view_plan, qr/Seq Scan on (?:batch|progress)\b/,
	'the jobs view has an index for each of its counts and minima');
is(join("\n", @filtered), '', 'each of them reads only the batches it counts (no filter on a scan of the inventory)');

$node->stop;
done_testing();
