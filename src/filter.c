/*
 * filter.c
 *	  Checking what a job reads: the metadata table, its key and weight
 *	  columns, the key's unique index, and the filter (one boolean expression).
 */
#include "postgres.h"

#include "batchintory.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/* Schema-qualified, quoted name of a relation */
char *
source_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  relname);
}

/* The access method of an index */
static Oid
index_am(Oid indexrelid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(indexrelid));
	Oid			am;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", indexrelid);
	am = ((Form_pg_class) GETSTRUCT(tuple))->relam;
	ReleaseSysCache(tuple);
	return am;
}

/*
 * Does the relation have a unique, valid, non-partial btree index whose
 * first column is attnum?
 */
static bool
has_unique_key_index(Relation rel, AttrNumber attnum)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		HeapTuple	tuple;
		Form_pg_index index;

		tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		if (!HeapTupleIsValid(tuple))
			continue;
		index = (Form_pg_index) GETSTRUCT(tuple);
		if (index->indisunique && index->indisvalid &&
			index->indnkeyatts >= 1 && index->indkey.values[0] == attnum &&
			heap_attisnull(tuple, Anum_pg_index_indpred, NULL) &&
			index_am(index->indexrelid) == BTREE_AM_OID)
			found = true;
		ReleaseSysCache(tuple);
		if (found)
			break;
	}
	list_free(indexes);
	return found;
}

/*
 * column_check
 *		Check that column exists in relation relid and has a fitting type:
 *		an integer type for the key (which also needs a unique btree index
 *		leading with it), a numeric type for the weight.  role names the
 *		column in messages ("key", "weight").  Returns its attribute number.
 */
AttrNumber
column_check(Oid relid, const char *column, const char *role, bool weight)
{
	Relation	rel;
	AttrNumber	attnum;
	Oid			type;

	rel = relation_open(relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("A job reads a table or a partitioned table.")));

	attnum = get_attnum(relid, column);
	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, RelationGetRelationName(rel))));

	type = get_atttype(relid, attnum);
	if (!weight && type != INT2OID && type != INT4OID && type != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s column \"%s\" must be of type smallint, integer or bigint, not %s",
						role, column, format_type_be(type))));
	if (weight && type != INT2OID && type != INT4OID && type != INT8OID &&
		type != NUMERICOID && type != FLOAT4OID && type != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s column \"%s\" must be of a numeric type, not %s",
						role, column, format_type_be(type))));

	if (!weight && !has_unique_key_index(rel, attnum))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("key column \"%s\" of relation \"%s\" has no unique index",
						column, RelationGetRelationName(rel)),
				 errdetail("Batches are cut in key order through a unique btree index on the key."),
				 errhint("Make it the primary key or create a unique index on it.")));

	relation_close(rel, AccessShareLock);
	return attnum;
}

/*
 * Parse sql (a SELECT around filter); a syntax error is reported as an
 * invalid filter, without a cursor position that would point into the
 * caller's statement.
 */
static List *
parse_filter(const char *sql, const char *filter)
{
	MemoryContext context = CurrentMemoryContext;
	List	   *parsed = NIL;

	PG_TRY();
	{
#if PG_VERSION_NUM >= 140000
		parsed = raw_parser(sql, RAW_PARSE_DEFAULT);
#else
		parsed = raw_parser(sql);
#endif
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("invalid filter: %s", filter),
				 errdetail("%s.", edata->message)));
	}
	PG_END_TRY();
	return parsed;
}

/*
 * filter_check
 *		Check that filter is exactly one boolean expression over the columns
 *		of relid.  It must parse on its own as the single target of a bare
 *		SELECT (so "true; DROP TABLE x", "x FROM y" or "1 UNION ..." fail),
 *		and then serve as the WHERE clause of a query on the table, which
 *		checks column names, the boolean type, and bans aggregates and
 *		set-returning functions.  The caller must be connected to SPI.
 */
void
filter_check(Oid relid, const char *filter)
{
	StringInfoData sql;
	List	   *parsed;
	SelectStmt *select = NULL;
	SPIPlanPtr	plan;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s", filter);
	parsed = parse_filter(sql.data, filter);
	if (list_length(parsed) == 1 &&
		IsA(((RawStmt *) linitial(parsed))->stmt, SelectStmt))
		select = (SelectStmt *) ((RawStmt *) linitial(parsed))->stmt;

	if (select == NULL || select->op != SETOP_NONE ||
		list_length(select->targetList) != 1 ||
		((ResTarget *) linitial(select->targetList))->name != NULL ||
		select->distinctClause || select->intoClause || select->fromClause ||
		select->whereClause || select->groupClause || select->havingClause ||
		select->windowClause || select->valuesLists || select->sortClause ||
		select->limitOffset || select->limitCount || select->lockingClause ||
		select->withClause)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("invalid filter: %s", filter),
				 errdetail("A filter is a single boolean expression over the columns of the table, like a WHERE clause.")));

	resetStringInfo(&sql);
	appendStringInfo(&sql, "SELECT FROM %s WHERE (%s\n)",
					 source_name(relid), filter);
	plan = SPI_prepare(sql.data, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_freeplan(plan);
	pfree(sql.data);
}
