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
			PERFORM @extschema@.batchintory_alter(r.name, filter => r.filter);
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'filter of job "%" kept as it was: %', r.name, SQLERRM;
		END;
	END LOOP;
END $$;
