-- pgbench script of an operator who rewinds the job by up to 200 keys
\set back random(1, 200)
SELECT rewind_or_record('stress', :back);
