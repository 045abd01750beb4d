-- pgbench script of a stress worker: acquire a batch of 1 to 40 assets, then
-- succeed it (65%), fail it (25%) or never release it (10%: abandoned, its
-- lease runs out and it is retried)
\set n random(1, 40)
\set r random(1, 100)
SELECT coalesce(max(batch), 0) AS b, coalesce(max(attempt), 0) AS a FROM batchintory_acquire('stress', max_count => :n, worker => 'pgbench') \gset
\if :b > 0
\if :r <= 10
\elif :r <= 35
SELECT release_or_record(:b, :a, 'failed');
\else
SELECT release_or_record(:b, :a, 'succeeded');
\endif
\endif
