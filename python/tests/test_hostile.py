"""The client under a hostile search_path: nothing it runs resolves through the path.

A role with CREATE on a schema that comes early in a worker's search_path
can define functions with the names and signatures of the extension's,
operators and functions of the names the client's own SQL uses, and types
of the names it casts to.  Whatever the client resolved there would run as
the worker.  Here the worker connects with ``search_path = <hostile>,
pg_catalog, public`` -- the hostile schema even before pg_catalog -- and
each hostile object counts its call (a sequence: it survives the rollback
of the statement) and raises.  The whole client surface runs; nothing
hostile may have run.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from batchintory import Client

# operators of the names and type pairs a client's SQL would use
OPERATORS = [
    ("=", "text", "text", "boolean"),
    ("=", "name", "name", "boolean"),
    ("=", "oid", "oid", "boolean"),
    ("=", "bigint", "bigint", "boolean"),
    ("<>", "text", "text", "boolean"),
    ("-", "timestamptz", "timestamptz", "interval"),
    ("||", "text", "text", "text"),
    ("->>", "jsonb", "text", "text"),
    ("#>>", "jsonb", "text[]", "text"),
]

# functions of the names a client's SQL would use
FUNCTIONS = [
    ("clock_timestamp()", "timestamptz"),
    ("now()", "timestamptz"),
    ("date_part(text, interval)", "double precision"),
    ("date_part(text, timestamptz)", "double precision"),
    ("extract(text, interval)", "numeric"),
    ("quote_ident(text)", "text"),
    ("string_to_array(text, text)", "text[]"),
    ("to_jsonb(anyelement)", "jsonb"),
    ("jsonb_each(jsonb)", "SETOF record"),
]

# type names a client's SQL would cast to (bigint, integer, numeric, boolean
# and interval are keywords: always pg_catalog's)
TYPES = ["text", "jsonb", "float8", "int8", "int4", "bool", "name", "regclass", "regrole",
         "timestamptz"]


@pytest.fixture
def hostile(db: psycopg.Connection) -> Iterator[str]:
    """A schema of hostile objects; yields its name.  Needs a superuser (the test's)."""
    row = db.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if not (row and row[0]):
        pytest.skip("needs a superuser")
    h = f"hostile_{os.getpid()}"
    hs = sql.Identifier(h)

    def run(query: str, *args: object) -> None:
        db.execute(sql.SQL(query).format(*args))

    run("DROP SCHEMA IF EXISTS {} CASCADE", hs)
    run("CREATE SCHEMA {}", hs)
    try:
        _create_hostile_objects(db, h)
        yield h
    finally:
        run("DROP SCHEMA {} CASCADE", hs)


def _create_hostile_objects(db: psycopg.Connection, h: str) -> None:
    hs = sql.Identifier(h)

    def run(query: str, *args: object) -> None:
        db.execute(sql.SQL(query).format(*args))

    run("CREATE SEQUENCE {}.calls", hs)
    run("""CREATE FUNCTION {}.hit(what text) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_catalog.nextval({});
            RAISE EXCEPTION 'a hostile object was called: %', what;
        END $$""", hs, sql.Literal(f"{h}.calls"))

    def body(what: str, value: str = "") -> sql.Composable:
        return sql.SQL("$$ BEGIN PERFORM {}.hit({}); RETURN {}; END $$").format(
            hs, sql.Literal(what), sql.SQL(value))

    # every function and procedure of the extension, same name and signature
    # (the columns of a TABLE result renamed: PL/pgSQL wants them apart from
    # the arguments' names)
    extension = db.execute("""
        SELECT p.proname, pg_get_function_arguments(p.oid),
               CASE WHEN 't' = ANY (p.proargmodes) THEN
                   'TABLE(' || (SELECT string_agg(format('c%s %s', i, format_type(t, NULL)),
                                                  ', ' ORDER BY i)
                                FROM unnest(p.proallargtypes, p.proargmodes)
                                    WITH ORDINALITY AS a (t, m, i)
                                WHERE m = 't') || ')'
               ELSE pg_get_function_result(p.oid) END,
               p.prokind
        FROM pg_proc p
        JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
            AND d.deptype = 'e'
        JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'batchintory'
        WHERE p.pronamespace = e.extnamespace""").fetchall()
    assert len(extension) >= 15, extension
    for name, args, result, kind in extension:
        what = f"{name}({args})"
        # text of the statements below, not placeholders; PL/pgSQL takes no
        # "any": a key (a bound) becomes anycompatible
        args = args.replace('"any" DEFAULT NULL::unknown', "anycompatible DEFAULT NULL")
        args = args.replace('"any"', "anycompatible").replace("{", "{{").replace("}", "}}")
        result = (result or "").replace("{", "{{").replace("}", "}}")
        if kind == "p":
            run("CREATE PROCEDURE {}.{}(" + args + ") LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM {}.hit({}); END $$",
                hs, sql.Identifier(name), hs, sql.Literal(what))
        else:
            run("CREATE FUNCTION {}.{}(" + args + ") RETURNS " + result
                + " LANGUAGE plpgsql AS $$ BEGIN PERFORM {}.hit({}); END $$",
                hs, sql.Identifier(name), hs, sql.Literal(what))
    for n, (op, left, right, result) in enumerate(OPERATORS):
        fn = sql.Identifier(f"op{n}")
        run("CREATE FUNCTION {}.{}(" + left + ", " + right + ") RETURNS " + result
            + " LANGUAGE plpgsql AS {}", hs, fn, body(f"operator {op}({left}, {right})", "NULL"))
        run("CREATE OPERATOR {}." + op + " (LEFTARG = " + left + ", RIGHTARG = " + right
            + ", FUNCTION = {}.{})", hs, hs, fn)
    for signature, result in FUNCTIONS:
        value = "" if result.startswith("SETOF") else "NULL"
        run("CREATE FUNCTION {}." + signature + " RETURNS " + result
            + " LANGUAGE plpgsql AS {}", hs, body(f"function {signature}", value))
    for t in TYPES:
        run("CREATE DOMAIN {}.{} AS pg_catalog.{} CHECK ({}.hit({}))",
            hs, sql.Identifier(t), sql.Identifier(t), hs, sql.Literal(f"type {t}"))


def hostile_calls(db: psycopg.Connection, h: str) -> int:
    """How many times a hostile object was called (0: never)."""
    row = db.execute(sql.SQL("SELECT CASE WHEN is_called THEN last_value ELSE 0 END"
                             " FROM {}.calls").format(sql.Identifier(h))).fetchone()
    assert row is not None
    return int(row[0])


def test_hostile_objects_do_fire(dsn, db, hostile) -> None:
    """The hostile schema works: unqualified names in its path reach it."""
    path = make_conninfo(dsn, options=f"-c search_path={hostile},pg_catalog,public")
    with psycopg.connect(path, autocommit=True) as conn:
        for query in ["SELECT batchintory_heartbeat(1, 1)", "SELECT clock_timestamp()",
                      "SELECT 'a'::text", "SELECT 'a'::pg_catalog.text = 'b'"]:
            with pytest.raises(psycopg.errors.RaiseException, match="a hostile object"):
                conn.execute(query)
    assert hostile_calls(db, hostile) == 4


def test_client_under_a_hostile_search_path(dsn, db, hostile, table, insert, job) -> None:
    """Every call of the client, heartbeats and LISTEN included, is immune to the path."""
    path = make_conninfo(dsn, options=f"-c search_path={hostile},pg_catalog,public")
    insert(12)
    (me,) = db.execute("SELECT current_user").fetchone()  # type: ignore[misc]
    with Client(path, worker="victim") as client:
        (shown,) = client.connection.execute("SHOW search_path").fetchone()  # type: ignore[misc]
        assert shown.replace(" ", "") == f"{hostile},pg_catalog,public"
        client.register(
            job, table, "id", "bytes", filter="kind OPERATOR(pg_catalog.=) 'csv'",
            lower_bound=1, max_count=2, max_weight=10**6, max_attempts=3, lease=30,
            config={"k": 1}, retry_backoff=0, late_commit_guard=True,
            guard_timeout="5 seconds", notify=True)
        client.alter(job, max_count=3, reset=["max_weight"], owner=me)
        assert job in [j["job"] for j in client.jobs()]
        assert client.backlog(job).asset_count == 12
        assert client.backlog(job, exact=False).first_id == 1
        assert client.peek(job) is not None
        assert client.channel(job)
        assert client.stores_results

        with client.batch(job, heartbeat=0.05) as b:
            assert [r["id"] for r in b.assets()] == [1, 2, 3]
            assert b.asset_ids() == [1, 2, 3]
            assert b.predicate.startswith('"id" >= 1')
            assert b.details()["worker"] == "victim"
            b.heartbeat()
            time.sleep(0.3)  # the heartbeat thread, on its own connection
            b.result = {"rows": 3}
        assert b.status == "succeeded"
        assert b.source == f'"public".{sql.Identifier(table).as_string(db)}'

        # a type named like the table, created after the client looked it up
        db.execute(sql.SQL("CREATE DOMAIN {}.{} AS {} CHECK ({}.hit('row type'))").format(
            sql.Identifier(hostile), sql.Identifier(table), sql.Identifier(table),
            sql.Identifier(hostile)))
        with pytest.raises(ValueError):
            with client.batch(job) as b2:
                assert [r["id"] for r in b2.assets()] == [4, 5, 6]
                raise ValueError("failed on purpose")
        assert b2.status == "failed"
        with client.batch(job, transaction=True) as b3:
            assert (b3.batch, b3.attempt) == (b2.batch, 2)
            b3.connection.execute("SELECT 1")
        batches = client.acquire(job, batches=2)
        assert len(batches) == 2
        batches[0].release("succeeded")
        batches[1].release("failed", "no")
        assert [a["status"] for a in client.lookup(job, 4)] == ["failed", "succeeded"]
        client.requeue(b.batch)
        assert client.rewind(job, 10) >= 1

        # follow: LISTEN, woken by a notification
        got: list[int] = []

        def follow() -> None:
            for fb in client.batches(job, follow=True, recheck=60, handle_signals=False,
                                     heartbeat=0.05):
                with fb:
                    got.extend(fb.asset_ids())

        t = threading.Thread(target=follow, daemon=True)
        t.start()
        deadline = time.monotonic() + 10
        while 12 not in got and time.monotonic() < deadline:
            time.sleep(0.05)
        (new,) = insert(1)
        while new not in got and time.monotonic() < deadline:
            time.sleep(0.05)
        client.stop()
        t.join(10)
        assert new in got

        # batch(wait=): LISTEN too
        timer = threading.Timer(0.3, insert, (1,))
        timer.start()
        with client.batch(job, wait=10) as b4:
            assert b4.asset_count == 1
        timer.join()
        client.drop(job)
        assert client.schema == "public"
    assert hostile_calls(db, hostile) == 0
