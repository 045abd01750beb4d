-- Run before the whole regression suite a second time (test/run, suite
-- "regress-hostile"): a schema "hostile" whose operators and functions, for
-- every type pair and name the extension's SQL uses, raise an error when
-- called; every function of the extension is then set to run with
-- search_path = hostile, pg_catalog, public -- hostile objects first, as an
-- attacker with CREATE on a schema early in a victim's path would arrange.
-- The suite must give exactly the same output as without them: nothing the
-- extension runs may resolve a name through the caller's search_path.
CREATE SCHEMA hostile;

CREATE FUNCTION hostile.boom() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'a hostile object was called';
END $$;

-- an operator of every kind the extension uses, for every type pair (none
-- can take type unknown: a literal compared with text resolves to text)
DO $$
DECLARE
	pair text[];
	op text;
	n int := 0;
BEGIN
	FOREACH pair SLICE 1 IN ARRAY ARRAY[
		['numeric', 'integer'], ['numeric', 'numeric'], ['numeric', 'bigint'],
		['integer', 'numeric'], ['bigint', 'numeric'],
		['text', 'text'],
		['bigint', 'bigint'], ['bigint', 'integer'], ['integer', 'bigint'],
		['integer', 'integer'], ['smallint', 'bigint'],
		['timestamptz', 'timestamptz'], ['timestamptz', 'interval'],
		['interval', 'interval'], ['interval', 'double precision'],
		['oid', 'oid'], ['regclass', 'regclass'], ['regrole', 'regrole'],
		['name', 'name'], ['name', 'text'], ['jsonb', 'jsonb'], ['jsonb', 'text'],
		['jsonb', 'text[]'], ['int8range', 'bigint'], ['text', 'text[]'],
		['boolean', 'boolean']]
	LOOP
		n := n + 1;
		EXECUTE format('CREATE FUNCTION hostile.op%s(%s, %s) RETURNS boolean'
			' LANGUAGE plpgsql AS $f$ BEGIN PERFORM hostile.boom(); RETURN true; END $f$',
			n, pair[1], pair[2]);
		FOREACH op IN ARRAY ARRAY['=', '<>', '<', '<=', '>', '>=', '+', '-', '*', '/',
			'@>', '#>>', '->', '->>', '&&']
		LOOP
			EXECUTE format('CREATE OPERATOR hostile.%s (LEFTARG = %s, RIGHTARG = %s,'
				' FUNCTION = hostile.op%s)', op, pair[1], pair[2], n);
		END LOOP;
	END LOOP;
END $$;

-- functions of the same names as those the extension calls
DO $$
DECLARE
	f text;
BEGIN
	FOREACH f IN ARRAY ARRAY[
		'now()', 'clock_timestamp()', 'pg_backend_pid()', 'inet_client_addr()',
		'current_setting(text)', 'pg_has_role(oid, oid, text)',
		'pg_has_role(oid, text)', 'pg_has_role(name, text)',
		'int8range(bigint, bigint, text)', 'round(numeric)', 'round(double precision)',
		'power(integer, integer)', 'format(text)', 'jsonb_build_object()',
		'pg_get_serial_sequence(text, text)', 'pg_sequence_last_value(regclass)',
		'quote_ident(text)', 'nextval(regclass)']
	LOOP
		EXECUTE format('CREATE FUNCTION hostile.%s RETURNS boolean LANGUAGE plpgsql'
			' AS $f$ BEGIN PERFORM hostile.boom(); RETURN true; END $f$', f);
	END LOOP;
END $$;

-- aggregates too
CREATE FUNCTION hostile.agg_step(bigint, anyelement) RETURNS bigint
LANGUAGE plpgsql AS $$ BEGIN PERFORM hostile.boom(); RETURN 0; END $$;
CREATE AGGREGATE hostile.sum(numeric) (SFUNC = hostile.agg_step, STYPE = bigint);
CREATE AGGREGATE hostile.sum(bigint) (SFUNC = hostile.agg_step, STYPE = bigint);
CREATE AGGREGATE hostile.max(bigint) (SFUNC = hostile.agg_step, STYPE = bigint);
CREATE AGGREGATE hostile.min(bigint) (SFUNC = hostile.agg_step, STYPE = bigint);
CREATE AGGREGATE hostile.max(timestamptz) (SFUNC = hostile.agg_step, STYPE = bigint);
CREATE AGGREGATE hostile.count("any") (SFUNC = hostile.agg_step, STYPE = bigint);

-- the hostile objects do fire when looked up first
SET search_path = hostile, pg_catalog, public;
SELECT 1::numeric = 1::integer;
SELECT now();
RESET search_path;

-- every function of the extension, once created, runs with the hostile
-- schema first in its search_path -- but register, alter and analyze_filter:
-- they analyze a filter under the search_path of their caller on purpose
-- (what the caller wrote means what it means in the caller's own path, as
-- in a view), and a SET clause would become that path; and the procedure
-- batchintory_run, which commits (a procedure with a SET clause cannot)
CREATE FUNCTION hostile.arm() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN
		SELECT d.objid::regprocedure FROM pg_depend d
		JOIN pg_extension e ON e.oid = d.refobjid
		JOIN pg_proc p ON p.oid = d.objid
		WHERE e.extname = 'batchintory' AND d.classid = 'pg_proc'::regclass
		AND d.deptype = 'e'
		AND p.proname NOT IN ('batchintory_register', 'batchintory_alter', 'analyze_filter')
		AND p.prokind = 'f'
	LOOP
		EXECUTE format('ALTER FUNCTION %s SET search_path = hostile, pg_catalog, public', f);
	END LOOP;
END $$;
CREATE EVENT TRIGGER hostile_arm ON ddl_command_end
	WHEN TAG IN ('CREATE EXTENSION') EXECUTE FUNCTION hostile.arm();

-- armed: the extension's functions carry the hostile search_path
CREATE EXTENSION batchintory;
SELECT count(*) AS armed_functions FROM pg_proc
WHERE proconfig @> ARRAY['search_path=hostile, pg_catalog, public'];
DROP EXTENSION batchintory;
