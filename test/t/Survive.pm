# Survive.pm
#	  Shared by the tests that move a database to a new cluster (pg_upgrade,
#	  pg_dump/pg_restore, the dump chain 15 -> 17 -> 18 of test/chain): a
#	  database "lake" with jobs in every state, a text picture of everything
#	  that must survive, and the checks that the jobs go on exactly where
#	  the old cluster stopped.
#
#	  The metadata table has columns of user-defined types (an enum, a
#	  domain), a column dropped before the move (attribute numbers shift in
#	  a restore) and a renamed column; the filters use only PostgreSQL's own
#	  functions, operators and collations over them.  A filter with a user
#	  collation: survive_collated_* (database "coll").
package Survive;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(survive_setup survive_work survive_picture survive_check_picture
  survive_check_ids survive_continue survive_notify_ok survive_globals
  survive_collated_setup survive_collated_ok);

# each job's filter as plain SQL over lake.files, to count matching ids
# independently of the extension
our %FILTERS = (
	csv => q{kind = 'csv' AND size >= 30},
	labelled => q{label IS NOT NULL AND path COLLATE "C" < 's3://lake/c'},
	backfill => q{true},);
our %UPPER = (backfill => 45);

# roles are global: created in every new cluster before a restore (a dump
# of one database does not hold them; pg_upgrade keeps them)
sub survive_globals
{
	return q{
		CREATE ROLE pipeline;
		CREATE ROLE worker LOGIN IN ROLE pipeline;
		CREATE ROLE stranger LOGIN;
	};
}

# database lake in $node: the table, three jobs owned by pipeline (one a
# stored pipeline, its command written under search_path lake)
sub survive_setup
{
	my ($node) = @_;
	$node->safe_psql('postgres', survive_globals() . 'CREATE DATABASE lake;');
	$node->safe_psql('lake', q{
		CREATE EXTENSION batchintory;
		CREATE SCHEMA lake AUTHORIZATION pipeline;
		CREATE TYPE lake.kind AS ENUM ('csv', 'json', 'parquet');
		CREATE DOMAIN lake.size AS bigint CHECK (VALUE >= 0);
		CREATE TABLE lake.files (id bigserial PRIMARY KEY, gone int, path text,
			bytes bigint, size lake.size, kind lake.kind, tag text);
		ALTER TABLE lake.files OWNER TO pipeline;
		INSERT INTO lake.files (gone, path, bytes, size, kind, tag)
		SELECT g, format('s3://lake/%s/%s', (ARRAY['a', 'b', 'c'])[g % 3 + 1], g), g * 10, g * 10,
			(ARRAY['csv', 'json', 'parquet'])[g % 3 + 1]::lake.kind,
			CASE WHEN g % 4 <> 0 THEN 't' || g END
		FROM generate_series(1, 60) g;
		ALTER TABLE lake.files DROP COLUMN gone;
		ALTER TABLE lake.files RENAME COLUMN tag TO label;
		SET ROLE pipeline;
		SET search_path = lake, public;
		SELECT batchintory_register('csv', 'lake.files', 'id', 'bytes',
			filter => $$kind = 'csv' AND size >= 30$$, max_count => 3,
			config => '{"model": "v1"}',
			command => $$SELECT count(*) FROM files WHERE id BETWEEN $1 AND $2$$);
		SELECT batchintory_register('labelled', 'lake.files', 'id',
			filter => $$label IS NOT NULL AND path COLLATE "C" < 's3://lake/c'$$,
			max_count => 5, notify => true);
		SELECT batchintory_register('backfill', 'lake.files', 'id', 'bytes',
			upper_bound => 45, max_weight => 100, max_attempts => 2, on_failure => 'skip');
	});
	return;
}

# work in every state, as the worker: succeeded with results, failed with
# a retry due, failed for good, in flight (lease of an hour)
sub survive_work
{
	my ($node) = @_;
	$node->safe_psql('lake', q{
		SET ROLE worker;
		CREATE TEMP TABLE got AS
		SELECT * FROM batchintory_acquire('csv', worker => 'w1', batches => 3);
		SELECT batchintory_release(batch, attempt, 'succeeded', result => '{"rows": 3}')
		FROM (SELECT * FROM got ORDER BY batch LIMIT 1) g;
		SELECT batchintory_release(batch, attempt, 'failed', 'oom')
		FROM (SELECT * FROM got ORDER BY batch OFFSET 1 LIMIT 1) g;
		SELECT batchintory_release(batch, attempt, 'succeeded', 'fine', '{"rows": 5}')
		FROM batchintory_acquire('labelled', worker => 'w2', batches => 2);
		SELECT batchintory_release(batch, attempt, 'failed', 'disk')
		FROM batchintory_acquire('backfill', worker => 'w3');
		SELECT batchintory_release(batch, attempt, 'failed', 'disk again')
		FROM batchintory_acquire('backfill', worker => 'w3');
		SELECT batchintory_release(batch, attempt, 'succeeded')
		FROM batchintory_acquire('backfill', worker => 'w3');
		SELECT count(*) FROM batchintory_acquire('backfill', worker => 'w3');
	});
	return;
}

# everything that must survive, as text (times in UTC): jobs (but the
# revision, which only backends' caches read), batches, attempts, progress,
# the sequences, the notify trigger, and what each job has left
sub survive_picture
{
	my ($node) = @_;
	return $node->safe_psql('lake', q{
		SET TimeZone = 'UTC';
		SELECT 'job ' || (to_jsonb(j) - 'revision')::text FROM batchintory.job j ORDER BY job_id;
		SELECT 'batch ' || to_jsonb(b)::text FROM batchintory.batch b ORDER BY batch_id;
		SELECT 'attempt ' || to_jsonb(a)::text FROM batchintory.attempt a ORDER BY batch_id, attempt;
		SELECT 'progress ' || to_jsonb(p)::text FROM batchintory.progress p
		ORDER BY job_id, batches, assets, last_success;
		SELECT 'sequence ' || last_value FROM batchintory.batch_batch_id_seq;
		SELECT 'sequence ' || last_value FROM batchintory.job_job_id_seq;
		SELECT format('trigger %s on %s: %s %s', tgname, tgrelid::regclass, tgfoid::regprocedure, tgenabled)
		FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname;
		SELECT format('backlog %s: %s', name, to_jsonb(b)::text)
		FROM batchintory.job j, batchintory_backlog(j.name) b ORDER BY name;
		SELECT format('peek %s: %s', name, to_jsonb(p)::text)
		FROM batchintory.job j,
			LATERAL (SELECT first_id, last_id, asset_count, weight, ended_by
				FROM batchintory_peek(j.name)) p ORDER BY name;
	});
}

# the picture of $node equals $before, line by line
sub survive_check_picture
{
	my ($node, $before, $what) = @_;
	my $after = survive_picture($node);
	is($after, $before, "$what: jobs, owners, filters, batches, attempts, results, frontiers, "
		  . 'counters, sequences, notify trigger, backlog and next batch all the same');
	like($before, qr/^trigger batchintory_notify on lake\.files: batchintory\.notify_trigger\(\) O$/m,
		"$what: the notify trigger is there");
	return;
}

# against the ids: for every job, its live batches cover one run of keys
# without overlap or gap, each batch's count is the number of ids in its
# range that match the job's filter (counted here with plain SQL), and no
# matching id up to the frontier is outside a batch
sub survive_check_ids
{
	my ($node, $what) = @_;
	for my $job (sort keys %FILTERS)
	{
		my $filter = $FILTERS{$job};
		my $upper = $UPPER{$job} // '9223372036854775807';
		my $bad = $node->safe_psql('lake', qq{
			WITH j AS (SELECT job_id, frontier FROM batchintory.job WHERE name = '$job'),
			b AS (
				SELECT b.*, lag(b.last_id) OVER (ORDER BY b.first_id) AS prev_last
				FROM batchintory.batch b, j
				WHERE b.job_id = j.job_id AND b.status <> 'superseded'),
			problems AS (
				SELECT format('batch %s starts at %s after %s', batch_id, first_id, prev_last) AS p
				FROM b WHERE prev_last IS NOT NULL AND first_id <> prev_last + 1
				UNION ALL
				SELECT format('batch %s counts %s, the table has %s', batch_id, asset_count,
					(SELECT count(*) FROM lake.files f
					 WHERE f.id BETWEEN b.first_id AND b.last_id AND ($filter)))
				FROM b
				WHERE asset_count <> (SELECT count(*) FROM lake.files f
					WHERE f.id BETWEEN b.first_id AND b.last_id AND ($filter))
				UNION ALL
				SELECT format('id %s is in %s batches', f.id, count(b.batch_id))
				FROM lake.files f CROSS JOIN j
				LEFT JOIN b ON f.id BETWEEN b.first_id AND b.last_id
				WHERE ($filter) AND f.id <= least(j.frontier, $upper)
				GROUP BY f.id HAVING count(b.batch_id) <> 1
				UNION ALL
				SELECT format('frontier %s, last batch ends at %s', j.frontier, max(b.last_id))
				FROM j, b GROUP BY j.frontier HAVING j.frontier <> max(b.last_id))
			SELECT string_agg(p, '; ') FROM problems});
		is($bad, '', "$what: job $job, every matching id up to the frontier in exactly one batch, no gap, no overlap");
	}
	return;
}

# after the move: the worker (a member of the owner role) goes on, a
# stranger is refused; retries first, then new work from the old frontier;
# new rows inserted after the move are taken too; everything drained ends
# with each matching id in exactly one batch
sub survive_continue
{
	my ($node, $what, $drain) = @_;
	my $frontiers = $node->safe_psql('lake',
		q{SELECT string_agg(name || '=' || frontier, ' ' ORDER BY name) FROM batchintory.job});
	my %frontier = map { split /=/ } split / /, $frontiers;

	my ($rc, $out, $err) = $node->psql('lake',
		q{SET ROLE stranger; SELECT * FROM batchintory_acquire('csv')});
	like($err, qr/permission denied|must be a member/, "$what: a stranger may not use the job");

	# csv: the failed batch first (its next attempt), then a new range
	# beginning right after the old frontier
	my $failed = $node->safe_psql('lake', q{
		SELECT b.batch_id || ':' || b.first_id || '-' || b.last_id || '/' || (b.attempt + 1)
		FROM batchintory.batch b JOIN batchintory.job j USING (job_id)
		WHERE j.name = 'csv' AND b.status = 'failed'});
	my $next = $node->safe_psql('lake', q{
		SET ROLE worker;
		SELECT format('%s:%s-%s/%s', batch, first_id, last_id, attempt)
		FROM batchintory_acquire('csv', worker => 'after', batches => 2) ORDER BY batch});
	my ($retry, $new) = split /\n/, $next;
	like($failed, qr/^\d+:\d+-\d+\/\d+$/, "$what: csv has a failed batch waiting for a retry");
	is($retry, $failed, "$what: csv's failed batch is retried first, its next attempt");
	like($new // '', qr/^\d+:(\d+)-\d+\/1$/, "$what: then a new batch of csv");
	my ($new_first) = ($new // '') =~ /:(\d+)-/;
	is($new_first // '', $frontier{csv} + 1,
		"$what: csv's new batch begins right after the old frontier $frontier{csv}");

	# the batch in flight before the move: its attempt is still current
	my $inflight = $node->safe_psql('lake', q{
		SELECT b.batch_id || ', ' || b.attempt
		FROM batchintory.batch b JOIN batchintory.job j USING (job_id)
		WHERE j.name = 'csv' AND b.status = 'processing' AND b.attempt = 1
		ORDER BY b.batch_id LIMIT 1});
	is($node->safe_psql('lake', qq{
		SET ROLE worker;
		SELECT batchintory_heartbeat($inflight) > now()}),
		't', "$what: the lease of a batch in flight goes on");

	# rows inserted after the move
	$node->safe_psql('lake', q{
		INSERT INTO lake.files (path, bytes, size, kind, label)
		SELECT format('s3://lake/%s/%s', (ARRAY['a', 'b', 'c'])[g % 3 + 1], g), g * 10, g * 10,
			(ARRAY['csv', 'json', 'parquet'])[g % 3 + 1]::lake.kind, 'new' || g
		FROM generate_series(61, 75) g});
	return unless $drain;

	# everything in flight succeeds; each job drained
	my $processing = $node->safe_psql('lake', q{
		SELECT string_agg(format('SELECT batchintory_release(%s, %s, %L);', batch_id, attempt,
			'succeeded'), ' ')
		FROM batchintory.batch WHERE status = 'processing'});
	$node->safe_psql('lake', qq{
		SET ROLE worker;
		$processing
	} . q{
		DO $$
		DECLARE job text; n int := 0;
		BEGIN
			FOREACH job IN ARRAY ARRAY['backfill', 'csv', 'labelled'] LOOP
				LOOP
					PERFORM batchintory_release(a.batch, a.attempt, 'succeeded')
					FROM batchintory_acquire(job, worker => 'drain') a;
					EXIT WHEN NOT FOUND;
					n := n + 1;
					IF n > 1000 THEN RAISE 'no end to the batches'; END IF;
				END LOOP;
			END LOOP;
		END $$;
	});
	for my $job (sort keys %FILTERS)
	{
		my $upper = $UPPER{$job} // '9223372036854775807';
		is($node->safe_psql('lake', qq{
			SELECT count(*) FROM lake.files, batchintory.job j
			WHERE j.name = '$job' AND ($FILTERS{$job}) AND id <= $upper
			  AND id > coalesce(j.frontier, 0)}),
			'0', "$what: job $job drained: no matching id beyond its frontier");
	}
	is($node->safe_psql('lake', q{SELECT frontier FROM batchintory.job WHERE name = 'backfill'}),
		'45', "$what: the backfill ends at its bound");
	survive_check_ids($node, "$what, drained");
	is($node->safe_psql('lake', q{
		SELECT string_agg(DISTINCT b.status, ',')
		FROM batchintory.batch b JOIN batchintory.job j USING (job_id) WHERE j.name <> 'backfill'}),
		'succeeded', "$what: every batch of csv and labelled succeeded");
	return;
}

# database coll: a job whose filter uses a user collation
sub survive_collated_setup
{
	my ($node) = @_;
	$node->safe_psql('postgres', 'CREATE DATABASE coll');
	$node->safe_psql('coll', q{
		CREATE EXTENSION batchintory;
		CREATE COLLATION names FROM "C";
		CREATE TABLE names (id bigserial PRIMARY KEY, name text);
		INSERT INTO names (name) SELECT 'n' || g FROM generate_series(1, 20) g;
		SELECT batchintory_register('collated', 'names', 'id',
			filter => $$name COLLATE public.names < 'n2'$$);
		SELECT batchintory_release(batch, attempt, 'succeeded')
		FROM batchintory_acquire('collated', max_count => 5);
	});
	return;
}

# the job of database coll reads its table (backlog, peek) and goes on
sub survive_collated_ok
{
	my ($node, $what) = @_;
	my ($rc, $out, $err) = $node->psql('coll', q{
		SELECT asset_count FROM batchintory_backlog('collated');
		SELECT first_id || '-' || last_id || ':' || asset_count FROM batchintory_acquire('collated')});
	is($err, '', "$what: a filter with a user collation is still usable");
	is($out, "6\n14-20:6", "$what: the job with a user collation goes on from its frontier");
	return;
}

# an insert into lake.files notifies the channel of job labelled
sub survive_notify_ok
{
	my ($node, $what) = @_;
	my $channel = $node->safe_psql('lake', q{SELECT batchintory_channel('labelled')});
	my $out = $node->safe_psql('lake', qq{
		LISTEN "$channel";
		INSERT INTO lake.files (path, bytes, size, kind, label) VALUES ('s3://lake/a/x', 1, 1, 'csv', 'x');
		DELETE FROM lake.files WHERE path = 's3://lake/a/x';
		SELECT 1;
	});
	like($out, qr/Asynchronous notification "\Q$channel\E"/,
		"$what: an insert notifies the channel of a job with notify => true");
	return;
}

1;
