/*
 * schedule.c
 *	  A pipeline's pg_cron entry, kept by its job: made when a schedule is
 *	  stored, changed with it, removed when the job is paused or dropped --
 *	  always as the job's owner, in the job's database.
 */
#include "postgres.h"

#include "batchintory.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/* pg_cron's entries are named "batchintory <job>", a name of at most 63 bytes */
#define ENTRY_PREFIX "batchintory "
#define MAX_JOB_NAME (NAMEDATALEN - 1 - (int) strlen(ENTRY_PREFIX))

/* pg_cron's schema: its extension is not relocatable */
#define CRON_SCHEMA "cron"

/* The name of the pg_cron entry of job */
static char *
entry_name(const char *job)
{
	return psprintf(ENTRY_PREFIX "%s", job);
}

static bool
pg_cron_installed(void)
{
	return OidIsValid(get_extension_oid("pg_cron", true));
}

/*
 * What pg_cron needs to run a pipeline as owner: its extension in this
 * database, USAGE on its schema, a role that can log in (its runs connect
 * as that role), and a job name that fits an entry's name
 */
static void
check_can_schedule(const char *job, Oid owner)
{
	const char *owner_name = quote_identifier(GetUserNameFromId(owner, false));
	HeapTuple	role;
	bool		can_login;

	if (!pg_cron_installed())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot schedule job \"%s\": pg_cron is not installed in database \"%s\"",
						job, get_database_name(MyDatabaseId)),
				 errhint("Install pg_cron (shared_preload_libraries = 'pg_cron', cron.database_name = '%s', CREATE EXTENSION pg_cron), or leave the schedule out and CALL batchintory_run('%s') from a scheduler of your own.",
						 get_database_name(MyDatabaseId), job)));
	if (BI_NAMESPACE_ACLCHECK(get_namespace_oid(CRON_SCHEMA, false), owner,
							  ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot schedule job \"%s\": its owner %s may not use pg_cron",
						job, owner_name),
				 errdetail("The pg_cron entry of a pipeline belongs to the job's owner."),
				 errhint("GRANT USAGE ON SCHEMA cron TO %s;", owner_name)));
	role = SearchSysCache1(AUTHOID, ObjectIdGetDatum(owner));
	if (!HeapTupleIsValid(role))
		elog(ERROR, "cache lookup failed for role %u", owner);
	can_login = ((Form_pg_authid) GETSTRUCT(role))->rolcanlogin;
	ReleaseSysCache(role);
	if (!can_login)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot schedule job \"%s\": its owner %s cannot log in",
						job, owner_name),
				 errdetail("pg_cron runs a pipeline by connecting as the job's owner."),
				 errhint("ALTER ROLE %s LOGIN, or give the job to a role that can log in.",
						 owner_name)));
	if (strlen(job) > MAX_JOB_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("cannot schedule job \"%s\": its name is longer than %d bytes",
						job, MAX_JOB_NAME),
				 errdetail("Its pg_cron entry is named \"%s<job>\", at most %d bytes.",
						   ENTRY_PREFIX, NAMEDATALEN - 1)));
}

/* Make or change job's entry (pg_cron keeps its id), as the owner */
static void
schedule_entry(const char *schema, const char *job, Oid owner, const char *schedule)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		args[3];
	BiAsRole	as_owner;

	check_can_schedule(job, owner);
	args[0] = CStringGetTextDatum(entry_name(job));
	args[1] = CStringGetTextDatum(schedule);
	args[2] = CStringGetTextDatum(psprintf("CALL %s.batchintory_run(%s)",
										   quote_identifier(schema),
										   quote_literal_cstr(job)));
	bi_as_owner_begin(&as_owner, owner);
	bi_exec("SELECT " CRON_SCHEMA ".schedule($1::pg_catalog.name, $2, $3)",
			3, argtypes, args, NULL, SPI_OK_SELECT);
	bi_as_role_end(&as_owner);
}

/*
 * Remove job's entry of owner, if there is one (pg_cron may be gone).  An
 * owner role that was dropped, or lost USAGE on pg_cron's schema, cannot:
 * its entry is left, with a warning saying so.
 */
static void
unschedule_entry(const char *job, Oid owner)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(entry_name(job))};
	BiAsRole	as_owner;

	if (!pg_cron_installed())
		return;
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(owner)) ||
		BI_NAMESPACE_ACLCHECK(get_namespace_oid(CRON_SCHEMA, false), owner,
							  ACL_USAGE) != ACLCHECK_OK)
	{
		ereport(WARNING,
				(errmsg("the pg_cron entry \"%s\" of job \"%s\" was left in place",
						entry_name(job), job),
				 errdetail("Its owner role no longer exists or may no longer use pg_cron."),
				 errhint("Remove it with cron.unschedule(jobid), as a superuser.")));
		return;
	}
	bi_as_owner_begin(&as_owner, owner);
	bi_exec("SELECT " CRON_SCHEMA ".unschedule(j.jobid) FROM " CRON_SCHEMA ".job j"
			" WHERE j.jobname OPERATOR(pg_catalog.=) $1::pg_catalog.name"
			" AND j.username OPERATOR(pg_catalog.=) CURRENT_USER",
			1, argtypes, args, NULL, SPI_OK_SELECT);
	bi_as_role_end(&as_owner);
}

/*
 * bi_schedule_sync
 *		Give job's pg_cron entry its new state: owned by owner, running
 *		CALL schema.batchintory_run(job) on schedule, or none (schedule
 *		NULL: no schedule, or paused).  old_job is the job as it was (NULL:
 *		a new job); an entry of the old owner is removed.
 */
void
bi_schedule_sync(const char *schema, const BiJob *old_job, const char *job,
				 Oid owner, const char *schedule)
{
	if (old_job != NULL && old_job->schedule != NULL && !old_job->paused &&
		(schedule == NULL || old_job->owner != owner))
		unschedule_entry(old_job->name, old_job->owner);
	if (schedule != NULL)
		schedule_entry(schema, job, owner, schedule);
}
