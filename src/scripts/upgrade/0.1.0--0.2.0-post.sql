-- batchintory 0.1.0 -> 0.2.0, second part: a job's filter becomes its
-- analyzed expression, resolved under the search_path of this update (0.1.0
-- resolved it under each caller's); a filter that no longer analyzes stays
-- as it was and the job shows the problem in batchintory.jobs.
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT name, filter FROM batchintory.job WHERE filter IS NOT NULL
	LOOP
		BEGIN
			PERFORM batchintory.analyze_filter(r.name, r.filter);
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'filter of job "%" kept as it was: %', r.name, SQLERRM;
		END;
	END LOOP;
END $$;

-- Jobs whose table a superuser owned now belong to that superuser: a worker
-- would need the superuser's membership to use them.  Say how to give each
-- to a role of its own.
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT j.name, j.owner FROM batchintory.job j
		JOIN pg_catalog.pg_roles o ON o.oid OPERATOR(pg_catalog.=) j.owner::pg_catalog.oid
		WHERE o.rolsuper ORDER BY j.name
	LOOP
		RAISE WARNING 'job "%" now belongs to superuser %', r.name, r.owner
			USING DETAIL = 'Its workers would need the privileges of a superuser.',
			HINT = pg_catalog.format('Give it to a role of its own: CREATE ROLE ingest NOLOGIN; GRANT SELECT ON <table> TO ingest; SELECT batchintory_alter(%L, owner => ''ingest''); GRANT ingest TO <worker>;', r.name);
	END LOOP;
END $$;
