/*
 * source.c
 *	  What a job reads: checking its metadata table, key and weight columns
 *	  and the sequence behind the key, analyzing its filter once (fixing its
 *	  meaning), finding what broke since, and building the queries over the
 *	  table from the filter's deparse.
 */
#include "postgres.h"

#include "batchintory.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/itup.h"
#include "access/relation.h"
#include "access/transam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "nodes/readfuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

/* Schema-qualified, quoted name of a relation; an error if it is gone */
char *
bi_source_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  relname);
}

/* Is type (a base type: domains looked through) smallint, integer or bigint? */
static bool
is_integer_type(Oid type)
{
	return type == INT2OID || type == INT4OID || type == INT8OID;
}

/* Is type (a base type) one a weight may have: an integer, numeric or float? */
static bool
is_weight_type(Oid type)
{
	return is_integer_type(type) || type == NUMERICOID ||
		type == FLOAT4OID || type == FLOAT8OID;
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
 * A valid, non-partial btree index of the relation whose first column is
 * attnum, unique for an integer key (a time key may repeat), or InvalidOid
 */
static Oid
key_index(Relation rel, AttrNumber attnum)
{
	bool		unique = !BI_KEY_IS_TIME(bi_key_kind(TupleDescAttr(RelationGetDescr(rel),
																  attnum - 1)->atttypid));
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		HeapTuple	tuple;
		Form_pg_index index;

		tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		if (!HeapTupleIsValid(tuple))
			continue;
		index = (Form_pg_index) GETSTRUCT(tuple);
		if ((index->indisunique || !unique) && index->indisvalid &&
			index->indnkeyatts >= 1 && index->indkey.values[0] == attnum &&
			heap_attisnull(tuple, Anum_pg_index_indpred, NULL) &&
			index_am(index->indexrelid) == BTREE_AM_OID)
			found = index->indexrelid;
		ReleaseSysCache(tuple);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);
	return found;
}

/*
 * bi_source_key_kind
 *		The kind of key column of relid makes (KEY_NONE if it is not there)
 */
BiKeyKind
bi_source_key_kind(Oid relid, const char *column)
{
	AttrNumber	attnum = get_attnum(relid, column);

	if (attnum == InvalidAttrNumber)
		return KEY_NONE;
	return bi_key_kind(get_atttype(relid, attnum));
}

/* The attribute number of a live column, or InvalidAttrNumber */
static AttrNumber
live_column(Oid relid, const char *column)
{
	AttrNumber	attnum = get_attnum(relid, column);

	return attnum > 0 ? attnum : InvalidAttrNumber;
}

/*
 * bi_source_check
 *		Check, when a job is registered or changed, that relid is a
 *		permanent table or partitioned table whose id_column is an integer
 *		with a unique btree index leading with it (unless !unique_index: a
 *		job cut by key range alone, which does not read the table in key
 *		order), and whose weight_column (if not NULL) is another, numeric
 *		column; a column of a domain counts as of its base type.
 */
void
bi_source_check(Oid relid, const char *id_column, const char *weight_column,
				bool unique_index)
{
	Relation	rel = try_relation_open(relid, AccessShareLock);
	const char *relname;
	AttrNumber	key;
	Oid			type;
	BiKeyKind	kind;

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("A job whose table was dropped can only be dropped, or given another table before it handed out batches.")));
	relname = RelationGetRelationName(rel);

	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", relname),
				 errdetail("A job reads a table or a partitioned table.")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a temporary table", relname),
				 errdetail("A job outlives the session, a temporary table does not.")));

	key = live_column(relid, id_column);
	if (key == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						id_column, relname)));
	type = get_atttype(relid, key);
	kind = bi_key_kind(type);
	if (kind == KEY_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("key column \"%s\" must be of type smallint, integer, bigint, timestamptz, timestamp or date, not %s",
						id_column, format_type_be(type))));
	if (BI_KEY_IS_TIME(kind) && !unique_index)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_keys needs an integer key, not %s", format_type_be(type)),
				 errdetail("A job cut by key range alone counts keys drawn from a sequence.")));
	if (BI_KEY_IS_TIME(kind) && !OidIsValid(key_index(rel, key)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("key column \"%s\" of relation \"%s\" has no btree index",
						id_column, relname),
				 errdetail("Batches are cut in key order through a btree index that leads with the key."),
				 errhint("CREATE INDEX ON %s (%s);", relname, quote_identifier(id_column))));
	if (unique_index && !OidIsValid(key_index(rel, key)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("key column \"%s\" of relation \"%s\" has no unique index",
						id_column, relname),
				 errdetail("Batches are cut in key order through a unique btree index on the key."),
				 errhint("Make it the primary key or create a unique index on it, or cut batches by key range alone with max_keys.")));

	if (weight_column != NULL)
	{
		AttrNumber	weight = live_column(relid, weight_column);

		if (weight == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							weight_column, relname)));
		if (weight == key)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("weight column \"%s\" is the key column", weight_column),
					 errdetail("An asset's weight is its size or cost, not its key.")));
		type = get_atttype(relid, weight);
		if (!is_weight_type(getBaseType(type)))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("weight column \"%s\" must be of a numeric type, not %s",
							weight_column, format_type_be(type))));
	}
	relation_close(rel, AccessShareLock);
}

/* error context of the analysis of a filter: which filter */
static void
filter_error_context(void *arg)
{
	errcontext("filter: %s", (const char *) arg);
}

static void
invalid_filter(const char *filter, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_SYNTAX_ERROR),
			 errmsg("invalid filter: %s", filter),
			 errdetail("%s", detail)));
}

/* Is a raw expression a star: "*" or "t.*"? */
static bool
is_star(Node *expr)
{
	return IsA(expr, ColumnRef) &&
		IsA(llast(((ColumnRef *) expr)->fields), A_Star);
}

/*
 * The filter's raw expression: it must parse on its own as the single
 * target of a bare SELECT, so "true; DROP TABLE x", "x FROM y" or "1 UNION
 * ..." are refused before anything else -- and not be a star ("*",
 * "t.*"), which only a target list expands (the expression analysis does
 * not expect a bare "*").
 */
static Node *
filter_raw_expression(const char *filter)
{
	MemoryContext context = CurrentMemoryContext;
	char	   *sql = psprintf("SELECT %s", filter);
	List	   *parsed = NIL;
	SelectStmt *select = NULL;

	PG_TRY();
	{
		parsed = raw_parser(sql, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		invalid_filter(filter, psprintf("%s.", edata->message));
	}
	PG_END_TRY();

	if (list_length(parsed) == 1 &&
		IsA(((RawStmt *) linitial(parsed))->stmt, SelectStmt))
		select = (SelectStmt *) ((RawStmt *) linitial(parsed))->stmt;
	if (select == NULL || select->op != SETOP_NONE ||
		list_length(select->targetList) != 1 ||
		((ResTarget *) linitial(select->targetList))->name != NULL ||
		is_star(((ResTarget *) linitial(select->targetList))->val) ||
		select->distinctClause || select->intoClause || select->fromClause ||
		select->whereClause || select->groupClause || select->havingClause ||
		select->windowClause || select->valuesLists || select->sortClause ||
		select->limitOffset || select->limitCount || select->lockingClause ||
		select->withClause)
		invalid_filter(filter,
					   "A filter is a single boolean expression over the columns of the table, like a WHERE clause.");
	return ((ResTarget *) linitial(select->targetList))->val;
}

/*
 * PostgreSQL's functions that read tables other than the one a filter is
 * over (the tables, schemas or database they name, as XML)
 */
static const Oid table_reading_functions[] = {
	F_TABLE_TO_XML, F_TABLE_TO_XMLSCHEMA, F_TABLE_TO_XML_AND_XMLSCHEMA,
	F_SCHEMA_TO_XML, F_SCHEMA_TO_XMLSCHEMA, F_SCHEMA_TO_XML_AND_XMLSCHEMA,
	F_DATABASE_TO_XML, F_DATABASE_TO_XMLSCHEMA, F_DATABASE_TO_XML_AND_XMLSCHEMA
};

/*
 * Is funcid a function a filter may not call: one that is not PostgreSQL's
 * own (created after initdb: by a user or an extension), or one of
 * PostgreSQL's that reads other tables?
 */
static bool
is_foreign_function(Oid funcid, void *context)
{
	size_t		i;

	if (funcid >= FirstNormalObjectId)
		return true;
	for (i = 0; i < lengthof(table_reading_functions); i++)
		if (funcid == table_reading_functions[i])
			return true;
	return false;
}

/*
 * Find in an analyzed filter the first function that is not PostgreSQL's
 * own code (operators are their functions) or domain it casts to (casts run
 * a domain's checks).  A filter runs wherever its job's batches are read -- as
 * the job's owner in a read of the table, as whoever runs the predicate of
 * a batch, in the planner under the jobs view -- so it must contain no
 * code that someone wrote.
 */
typedef struct ForeignCode
{
	Oid			funcid;			/* a function (or an operator's) */
	Oid			domain;			/* a domain cast to (its checks) */
} ForeignCode;

static bool
find_foreign_code(Node *node, ForeignCode *found)
{
	Oid		   *domain = &found->domain;

	if (node == NULL)
		return false;
	if (check_functions_in_node(node, is_foreign_function, NULL))
	{
		if (IsA(node, FuncExpr))
			found->funcid = ((FuncExpr *) node)->funcid;
		else if (IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr))
			found->funcid = ((OpExpr *) node)->opfuncid;
		else if (IsA(node, ScalarArrayOpExpr))
			found->funcid = ((ScalarArrayOpExpr *) node)->opfuncid;
		return true;
	}
	if (IsA(node, CoerceToDomain) &&
		((CoerceToDomain *) node)->resulttype >= FirstNormalObjectId)
	{
		*domain = ((CoerceToDomain *) node)->resulttype;
		return true;
	}
	return expression_tree_walker(node, find_foreign_code, found);
}

/* What of a filter is not PostgreSQL's own code, as a phrase; NULL if none */
static char *
foreign_code(Node *filter)
{
	ForeignCode found = {InvalidOid, InvalidOid};

	if (!find_foreign_code(filter, &found))
		return NULL;
	if (OidIsValid(found.domain))
		return psprintf("domain %s", format_type_be(found.domain));
	if (OidIsValid(found.funcid))
		return psprintf("function %s", format_procedure(found.funcid));
	return pstrdup("a function that is not PostgreSQL's own");
}

/*
 * bi_filter_analyze
 *		Analyze a filter over relid as a WHERE clause, resolving its names
 *		under the caller's search_path once and for all: the result refers
 *		to columns, functions and operators by number and OID, as a CHECK
 *		constraint does.  Refuses code that is not PostgreSQL's own
 *		(foreign_code), and what would make a batch irreproducible from its
 *		range: volatile functions and subqueries (aggregates, window and
 *		set-returning functions are refused by the analysis).
 */
Node *
bi_filter_analyze(Oid relid, const char *filter)
{
	ErrorContextCallback callback;
	ParseState *pstate;
	ParseNamespaceItem *nsitem;
	Relation	rel;
	Node	   *expr;
	char	   *foreign;

	expr = filter_raw_expression(filter);
	callback.callback = filter_error_context;
	callback.arg = (void *) filter;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	pstate = make_parsestate(NULL);
	nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
										   NULL, false, true);
	addNSItemToQuery(pstate, nsitem, true, true, true);
	expr = transformExpr(pstate, expr, EXPR_KIND_WHERE);
	expr = coerce_to_boolean(pstate, expr, "filter");
	assign_expr_collations(pstate, expr);
	relation_close(rel, AccessShareLock);

	if (contain_subplans(expr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("filter must not contain a subquery"),
				 errdetail("A filter reads one row of the job's table at a time, so that a batch can be read again from its range.")));
	if ((foreign = foreign_code(expr)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("filter must not use %s", foreign),
				 errdetail("A filter may use the table's columns, constants and PostgreSQL's own functions and operators only: whoever reads a batch runs it."),
				 errhint("Compute the value when the row is written (a generated column, or a column the loader fills) and filter on that column.")));
	if (contain_volatile_functions(expr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("functions in a filter must not be volatile"),
				 errdetail("A filter must select the same assets each time a range is read."),
				 errhint("Filter on a column instead.")));

	error_context_stack = callback.previous;
	free_parsestate(pstate);
	return expr;
}

/*
 * bi_filter_deparse
 *		The analyzed filter as SQL text under the extension's pinned
 *		search_path: every object outside pg_catalog comes out
 *		schema-qualified, so the text means the same thing wherever it runs
 *		under that path.
 */
char *
bi_filter_deparse(Node *expr, Oid relid)
{
	return deparse_expression(expr,
							  deparse_context_for(get_rel_name(relid), relid),
							  false, false);
}

/* What check_filter_objects found */
typedef struct FilterCheck
{
	Oid			relid;
	const char *problem;
} FilterCheck;

static bool
function_is_gone(Oid funcid, void *context)
{
	return !OidIsValid(funcid) ||
		!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(funcid));
}

/*
 * Walk an analyzed filter: every column it reads must still be there with
 * the type it had, every function and operator it calls must still exist.
 */
static bool
check_filter_objects(Node *node, FilterCheck *check)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;
		HeapTuple	tuple;

		if (var->varattno == 0)
			return false;		/* whole row */
		tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(check->relid),
								Int16GetDatum(var->varattno));
		if (!HeapTupleIsValid(tuple))
		{
			check->problem = "a column it reads no longer exists";
			return true;
		}
		if (((Form_pg_attribute) GETSTRUCT(tuple))->attisdropped)
			check->problem = "a column it reads was dropped";
		else if (((Form_pg_attribute) GETSTRUCT(tuple))->atttypid != var->vartype)
			check->problem = "a column it reads changed its type";
		ReleaseSysCache(tuple);
		return check->problem != NULL;
	}
	if (check_functions_in_node(node, function_is_gone, NULL))
	{
		check->problem = "a function or operator it calls no longer exists";
		return true;
	}
	return expression_tree_walker(node, check_filter_objects, check);
}

/*
 * Is a type or collation an analyzed filter names gone?  A
 * user's collation gets a new object id from pg_upgrade (which copies the
 * stored filters as they are), and a type or collation the filter names
 * only in a constant or a cast may have been dropped.
 */
static bool
objects_missing(Node *node, void *context)
{
	Oid			collation;

	if (node == NULL)
		return false;
	if (IsA(node, List))
		return expression_tree_walker(node, objects_missing, context);
	if (!SearchSysCacheExists1(TYPEOID, ObjectIdGetDatum(exprType(node))))
		return true;
	collation = exprCollation(node);
	if (OidIsValid(collation) &&
		!SearchSysCacheExists1(COLLOID, ObjectIdGetDatum(collation)))
		return true;
	collation = exprInputCollation(node);
	if (OidIsValid(collation) &&
		!SearchSysCacheExists1(COLLOID, ObjectIdGetDatum(collation)))
		return true;
	if (IsA(node, CollateExpr) &&
		!SearchSysCacheExists1(COLLOID, ObjectIdGetDatum(((CollateExpr *) node)->collOid)))
		return true;
	return expression_tree_walker(node, objects_missing, context);
}

/*
 * bi_filter_stored
 *		A job's filter as it was stored analyzed (nodeToString), if every
 *		type and collation it names is still there; else, or when only its
 *		deparse was kept (a restore from a dump, an update that could not
 *		analyze it), the deparse analyzed again under the pinned search_path
 *		-- as a restored view or CHECK constraint is parsed again.
 */
Node *
bi_filter_stored(Oid relid, const char *deparse, const char *expr)
{
	if (expr != NULL)
	{
		Node	   *stored = stringToNode(expr);

		if (!objects_missing(stored, NULL))
			return stored;
	}
	return bi_filter_analyze(relid, deparse);
}

/*
 * A column of the job's table, by name, with the type it must have: its
 * attribute number and in *type its base type (a domain looked through),
 * or InvalidAttrNumber with *problem and *sqlstate set.
 */
static AttrNumber
check_column(Oid relid, const char *column, const char *role, bool weight,
			 Oid *type, char **problem, int *sqlstate)
{
	AttrNumber	attnum = live_column(relid, column);
	Oid			declared;

	if (attnum == InvalidAttrNumber)
	{
		*problem = psprintf("Its %s column \"%s\" no longer exists.", role, column);
		*sqlstate = ERRCODE_UNDEFINED_COLUMN;
		return InvalidAttrNumber;
	}
	declared = get_atttype(relid, attnum);
	*type = getBaseType(declared);
	if (weight ? !is_weight_type(*type) : bi_key_kind(*type) == KEY_NONE)
	{
		*problem = psprintf("Its %s column \"%s\" is now of type %s.", role, column,
							format_type_be(declared));
		*sqlstate = ERRCODE_DATATYPE_MISMATCH;
		return InvalidAttrNumber;
	}
	return attnum;
}

/*
 * bi_source_problem
 *		What keeps job from reading its metadata table now, as a sentence
 *		(with its SQLSTATE in *sqlstate), or NULL if nothing does: its owner
 *		role or its table was dropped, its key or weight column was dropped,
 *		renamed or changed its type, or its filter reads a column or calls a
 *		function that is gone or not PostgreSQL's own.  On success, sets
 *		whether the reader's weights are integers.
 */
char *
bi_source_problem(BiJob *job, Node *filter, BiReader *reader, int *sqlstate)
{
	char	   *problem = NULL;
	Oid			type = InvalidOid;

	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(job->owner)))
	{
		*sqlstate = ERRCODE_UNDEFINED_OBJECT;
		return psprintf("Its owner role (OID %u) no longer exists.", job->owner);
	}
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(job->source)))
	{
		*sqlstate = ERRCODE_UNDEFINED_TABLE;
		return psprintf("Its metadata table (OID %u) no longer exists.", job->source);
	}
	(void) check_column(job->source, job->id_column, "key", false,
						&type, &problem, sqlstate);
	if (problem != NULL)
		return problem;
	reader->key_kind = bi_key_kind(type);
	reader->weight_is_int = false;
	if (job->weight_column != NULL)
	{
		(void) check_column(job->source, job->weight_column, "weight", true,
							&type, &problem, sqlstate);
		if (problem != NULL)
			return problem;
		reader->weight_is_int = is_integer_type(type);
	}
	if (filter != NULL)
	{
		FilterCheck check = {job->source, NULL};

		char	   *foreign;

		if (check_filter_objects(filter, &check))
		{
			*sqlstate = ERRCODE_UNDEFINED_OBJECT;
			return psprintf("Its filter is no longer valid: %s.", check.problem);
		}
		/* stored by an older version, which allowed any stable function */
		if ((foreign = foreign_code(filter)) != NULL)
		{
			*sqlstate = ERRCODE_INVALID_OBJECT_DEFINITION;
			return psprintf("Its filter uses %s, which is not PostgreSQL's own: a filter may no longer use such code.",
							foreign);
		}
	}
	return NULL;
}

/*
 * bi_reader_query
 *		"SELECT <what> FROM <table> WHERE <key> >= $1 AND <key> <= $2 AND
 *		(<filter>) <tail>" for a job: the filter's deparse, so it runs as it
 *		was analyzed.  The caller runs it under the pinned search_path.
 */
char *
bi_reader_query(BiJob *job, BiReader *reader, const char *what, const char *tail)
{
	StringInfoData sql;
	const char *key = quote_identifier(job->id_column);

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s FROM %s WHERE %s OPERATOR(pg_catalog.>=) %s"
					 " AND %s OPERATOR(pg_catalog.<=) %s",
					 what, reader->source_name, key, bi_key_param_sql(reader->key_kind, 1),
					 key, bi_key_param_sql(reader->key_kind, 2));
	if (reader->filter_sql != NULL)
		appendStringInfo(&sql, " AND (%s)", reader->filter_sql);
	appendStringInfo(&sql, " %s", tail);
	return sql.data;
}

/*
 * bi_key_sequence
 *		The sequence that feeds the key column (serial or identity), or
 *		InvalidOid; *cache receives its CACHE setting.  The caller must be
 *		connected to SPI.
 */
Oid
bi_key_sequence(Oid relid, const char *column, int64 *cache)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	bool		isnull;
	Oid			seq;

	args[0] = CStringGetTextDatum(bi_source_name(relid));
	args[1] = CStringGetTextDatum(column);
	if (bi_exec("SELECT s.seqrelid, s.seqcache FROM pg_catalog.pg_sequence s"
				" WHERE s.seqrelid OPERATOR(pg_catalog.=)"
				" pg_catalog.pg_get_serial_sequence($1, $2)::pg_catalog.regclass",
				2, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		return InvalidOid;
	seq = DatumGetObjectId(bi_get(0, 1, &isnull));
	*cache = bi_get_int64(0, 2, &isnull);
	return seq;
}

/*
 * bi_source_last_key
 *		The highest key in rel's unique index on column key, whether its row
 *		is visible or not (read from the index alone, without a snapshot),
 *		into *last: a sign that rows were added since it was seen last.
 *		false if there is no such index or no key.
 */
bool
bi_source_last_key(Relation rel, AttrNumber key, int64 *last)
{
	Oid			indexid = key_index(rel, key);
	Oid			type = TupleDescAttr(RelationGetDescr(rel), key - 1)->atttypid;
	Relation	index;
	IndexScanDesc scan;
	bool		found = false;

	if (!OidIsValid(indexid))
		return false;
	index = index_open(indexid, AccessShareLock);
	scan = BI_INDEX_BEGINSCAN(rel, index, SnapshotAny, 0, 0);
	scan->xs_want_itup = true;
	index_rescan(scan, NULL, 0, NULL, 0);
	/* NULLs come last */
	while (!found && index_getnext_tid(scan, BackwardScanDirection))
	{
		bool		isnull;
		Datum		value = index_getattr(scan->xs_itup, 1, scan->xs_itupdesc, &isnull);

		if (isnull)
			continue;
		*last = bi_key_units(bi_key_kind(type), value);
		found = true;
	}
	index_endscan(scan);
	index_close(index, AccessShareLock);
	return found;
}
