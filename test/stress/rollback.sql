-- pgbench script of an acquirer whose transaction rolls back
BEGIN;
SELECT count(*) FROM batchintory_acquire('stress', max_count => 5, worker => 'rollback');
ROLLBACK;
