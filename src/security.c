/*
 * security.c
 *	  Who may use a job, and as whom the extension works: the inventory is
 *	  written as its owner, a metadata table is read as the job's owner in a
 *	  security-restricted operation, always under a pinned search_path.
 */
#include "postgres.h"

#include "batchintory.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/indexing.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(batchintory_may_see);

/* the search_path of everything the extension runs, as PostgreSQL 17's maintenance commands */
#define BI_SAFE_SEARCH_PATH "pg_catalog, pg_temp"

/*
 * The subtransaction in which the function of the extension now running
 * called bi_call_begin, or InvalidSubTransactionId: calls never nest (code
 * the extension runs -- a row security policy of a job's table, say --
 * cannot call it back while it works with a job's state).
 */
static SubTransactionId active_call = InvalidSubTransactionId;

/* owner of batchintory.job, and that table's OID; InvalidOid: look again */
static Oid	inventory_relid = InvalidOid;
static Oid	inventory_owner = InvalidOid;

static void
set_guc(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

static void
inventory_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == inventory_relid)
		inventory_relid = inventory_owner = InvalidOid;
}

/*
 * bi_inventory_owner
 *		The role that owns the inventory (the table batchintory.job): the
 *		extension's functions write the inventory as this role.
 */
Oid
bi_inventory_owner(void)
{
	static bool callback_registered = false;
	HeapTuple	tuple;

	if (OidIsValid(inventory_owner))
		return inventory_owner;
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(inventory_invalidate, (Datum) 0);
		callback_registered = true;
	}
	inventory_relid = get_relname_relid("job", get_namespace_oid("batchintory", false));
	if (!OidIsValid(inventory_relid))
		elog(ERROR, "table batchintory.job does not exist");
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(inventory_relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", inventory_relid);
	inventory_owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return inventory_owner;
}

/* Whether dotted version a ("0.2.0") comes before b, number by number */
static bool
version_older(const char *a, const char *b)
{
	while (*a != '\0' || *b != '\0')
	{
		char	   *a_end;
		char	   *b_end;
		unsigned long a_part = strtoul(a, &a_end, 10);
		unsigned long b_part = strtoul(b, &b_end, 10);

		if (a_part != b_part)
			return a_part < b_part;
		a = *a_end == '.' ? a_end + 1 : a_end;
		b = *b_end == '.' ? b_end + 1 : b_end;
		if (a == a_end && b == b_end)
			return strcmp(a, b) < 0;	/* not numbers: by their text */
	}
	return false;
}

/*
 * The extension's SQL must be of this library's version: between the
 * installation of a new library and ALTER EXTENSION UPDATE, the old SQL
 * definitions and inventory would meet code that expects the new ones.
 * Checked until it matched once in a backend (it cannot stop matching).
 */
static void
check_installed_version(void)
{
	static bool matched = false;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	char	   *installed = NULL;

	/* an update runs the scripts of every version it passes with this library */
	if (matched || creating_extension)
		return;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("batchintory"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		version = heap_getattr(tuple, Anum_pg_extension_extversion,
										   RelationGetDescr(rel), &isnull);

		if (!isnull)
			installed = TextDatumGetCString(version);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (installed != NULL && strcmp(installed, BI_EXTVERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 version_older(installed, BI_EXTVERSION) ?
				 errmsg("the SQL of extension batchintory is older than its library") :
				 errmsg("the library of extension batchintory is older than its SQL"),
				 errdetail("The database has batchintory %s; the library installed is %s.",
						   installed, BI_EXTVERSION),
				 version_older(installed, BI_EXTVERSION) ?
				 errhint("Run ALTER EXTENSION batchintory UPDATE.") :
				 errhint("Install the library of batchintory %s (make install in its sources).",
						 installed)));
	matched = true;
}

/* A call that an error ended is over once its (sub)transaction aborts */
static void
call_xact_callback(XactEvent event, void *arg)
{
	active_call = InvalidSubTransactionId;
}

static void
call_subxact_callback(SubXactEvent event, SubTransactionId subid,
					  SubTransactionId parent, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && subid == active_call)
		active_call = InvalidSubTransactionId;
}

void
bi_security_init(void)
{
	RegisterXactCallback(call_xact_callback, NULL);
	RegisterSubXactCallback(call_subxact_callback, NULL);
}

/*
 * bi_call_begin
 *		Start the work of an SQL function -- the one frame every function of
 *		the extension runs in: refuse a call from inside another one
 *		(re-entrancy), remember the caller, pin the search_path and the
 *		planner settings, become the inventory's owner and connect to SPI.
 *		Must be paired with bi_call_end; an error unwinds both (transaction
 *		or subtransaction abort restores the user and the GUCs, closes SPI
 *		and ends the call).
 */
void
bi_call_begin(BiCall *call)
{
	Oid			owner;

	check_installed_version();
	if (active_call != InvalidSubTransactionId)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("batchintory cannot be called while one of its functions is running"),
				 errdetail("Code that a function of batchintory ran (a row security policy of a job's table, say) called batchintory again.")));
	owner = bi_inventory_owner();
	active_call = GetCurrentSubTransactionId();

	call->caller = GetUserId();
	call->caller_search_path = pstrdup(namespace_search_path);
	GetUserIdAndSecContext(&call->saved_userid, &call->saved_sec_context);
	call->guc_nest_level = NewGUCNestLevel();
	set_guc("search_path", BI_SAFE_SEARCH_PATH);

	/*
	 * Every statement on the inventory is a lookup by an index; plans are
	 * generic and kept, and made while a job's batches were few (or under
	 * the statistics of an empty inventory) they could be sequential scans,
	 * or merge or hash joins over whole indexes, for good (a generic plan
	 * cannot tell how the tables grew): the inventory is only ever read
	 * through plain index scans (which, unlike bitmap scans, mark the dead
	 * rows of batchintory.progress they meet), rows matched up by nested
	 * loops of lookups.  The job's table, too, is read in key order through
	 * its key's index.  A generic plan's cost over a large table says
	 * nothing of the rows a call reads: no JIT compilation on every call.
	 */
	set_guc("enable_seqscan", "off");
	set_guc("enable_bitmapscan", "off");
	set_guc("enable_mergejoin", "off");
	set_guc("enable_hashjoin", "off");
	set_guc("jit", "off");
	SetUserIdAndSecContext(owner,
						   call->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
}

/* End the frame bi_call_begin started: close SPI, restore who we were */
void
bi_call_end(BiCall *call)
{
	SPI_finish();
	AtEOXact_GUC(false, call->guc_nest_level);
	SetUserIdAndSecContext(call->saved_userid, call->saved_sec_context);
	active_call = InvalidSubTransactionId;
}

/*
 * bi_as_owner_begin
 *		Become the job's owner in a security-restricted operation, to read
 *		its metadata table: the filter and anything it calls run with the
 *		owner's rights and cannot change the session for the caller (GUC
 *		changes are rolled back by bi_as_role_end).  The search_path stays
 *		pinned by bi_call_begin.
 */
void
bi_as_owner_begin(BiAsRole *state, Oid owner)
{
	GetUserIdAndSecContext(&state->saved_userid, &state->saved_sec_context);
	state->guc_nest_level = NewGUCNestLevel();
	SetUserIdAndSecContext(owner, state->saved_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

/*
 * bi_as_reader_begin
 *		bi_as_owner_begin, to read the job's metadata table.  The table of a
 *		job cut by key range alone (max_keys) may have no btree on its key,
 *		only an index that serves bitmap scans (BRIN): its reads may use
 *		them, which bi_call_begin turns off for the inventory's.
 */
void
bi_as_reader_begin(BiAsRole *state, const BiJob *job)
{
	bi_as_owner_begin(state, job->owner);
	if (job->has_max_keys)
		set_guc("enable_bitmapscan", "on");
}

/* Back to who we were before bi_as_owner_begin or bi_as_caller_begin */
void
bi_as_role_end(BiAsRole *state)
{
	AtEOXact_GUC(false, state->guc_nest_level);
	SetUserIdAndSecContext(state->saved_userid, state->saved_sec_context);
}

/*
 * bi_as_caller_begin
 *		Become the caller again, with the caller's search_path, to analyze
 *		what the caller wrote (a filter: its names resolve as the caller
 *		meant them, once).  End with bi_as_role_end.
 */
void
bi_as_caller_begin(const BiCall *call, BiAsRole *state)
{
	GetUserIdAndSecContext(&state->saved_userid, &state->saved_sec_context);
	state->guc_nest_level = NewGUCNestLevel();
	(void) set_config_option("search_path", call->caller_search_path,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	SetUserIdAndSecContext(call->caller, call->saved_sec_context);
}

/*
 * Who may use a job owned by owner -- the one rule: a role with the
 * privileges of the owner role (its members, superusers).  It also says who
 * may give a job to a role: one that may act as that role.
 */
bool
bi_may_use(Oid role, Oid owner)
{
	return has_privs_of_role(role, owner);
}

/* Who may see a job's inventory: who may use it, and pg_monitor's members */
bool
bi_may_see(Oid role, Oid owner)
{
	return bi_may_use(role, owner) || has_privs_of_role(role, ROLE_PG_MONITOR);
}

/*
 * batchintory.may_see(owner regrole) RETURNS boolean
 *		bi_may_see for the current role: the views show the jobs it is true
 *		for.  Strict.
 */
Datum
batchintory_may_see(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(bi_may_see(GetUserId(), PG_GETARG_OID(0)));
}

/*
 * Is role an ordinary role -- not a superuser, and unable to create roles
 * or databases, replicate or bypass row security -- whose membership a hint
 * may suggest granting?
 */
static bool
is_plain_role(Oid role)
{
	HeapTuple	tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));
	Form_pg_authid form;
	bool		plain;

	if (!HeapTupleIsValid(tuple))
		return false;
	form = (Form_pg_authid) GETSTRUCT(tuple);
	plain = !form->rolsuper && !form->rolcreaterole && !form->rolcreatedb &&
		!form->rolreplication && !form->rolbypassrls;
	ReleaseSysCache(tuple);
	return plain;
}

/*
 * bi_check_may_use
 *		Error out (42501) unless the caller may use the job: it must have the
 *		privileges of the job's owner role.
 */
void
bi_check_may_use(const BiCall *call, const char *job, Oid owner)
{
	char	   *owner_name;
	char	   *caller_name;

	if (bi_may_use(call->caller, owner))
		return;
	owner_name = GetUserNameFromId(owner, true);
	caller_name = GetUserNameFromId(call->caller, true);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for job \"%s\"", job),
			 errdetail("Job \"%s\" is owned by role %s; only roles with its privileges may use it.",
					   job, owner_name ? quote_identifier(owner_name) : "(dropped)"),
			 owner_name == NULL || caller_name == NULL ? 0 :
			 is_plain_role(owner) ?
			 errhint("Grant the owner role to the caller: GRANT %s TO %s;",
					 quote_identifier(owner_name), quote_identifier(caller_name)) :
			 errhint("Role %s has rights a job does not need: give the job to a role of its own (batchintory_alter(%s, owner => ...), by a superuser), then grant that role to %s.",
					 quote_identifier(owner_name), quote_literal_cstr(job),
					 quote_identifier(caller_name))));
}
