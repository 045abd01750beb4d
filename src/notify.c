/*
 * notify.c
 *	  Waking workers instead of polling: the statement trigger that NOTIFYs
 *	  a metadata table's channel after inserts, putting it on (and taking it
 *	  off) a table as jobs opt in and out, and batchintory_channel.
 */
#include "postgres.h"

#include "batchintory.h"

#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(batchintory_notify_trigger);
PG_FUNCTION_INFO_V1(batchintory_channel);

/* the name of the trigger batchintory puts on a metadata table */
#define NOTIFY_TRIGGER "batchintory_notify"

/* The channel a table's trigger notifies: one per table, its OID in it */
char *
bi_channel_name(Oid source)
{
	return psprintf("batchintory_%u", source);
}

/*
 * batchintory.notify_trigger() RETURNS trigger
 *		AFTER INSERT ... FOR EACH STATEMENT on a metadata table: NOTIFY its
 *		channel (delivered at commit, once per transaction and channel).
 */
Datum
batchintory_notify_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("batchintory.notify_trigger() was not called by the trigger manager")));
	Async_Notify(bi_channel_name(RelationGetRelid(trigdata->tg_relation)), "");
	return PointerGetDatum(NULL);
}

/*
 * bi_notify_sync
 *		Put the notify trigger on source if a job over it has notify on, take
 *		it off if none has (only our own trigger, by name and function).
 *		Runs as the inventory's owner; the job's owner was checked to have
 *		TRIGGER on the table.  The caller must be connected to SPI.
 */
void
bi_notify_sync(Oid source)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(source)};
	bool		isnull;
	bool		wanted;
	bool		present;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(source)))
		return;
	bi_exec("SELECT EXISTS (SELECT FROM batchintory.job"
			"  WHERE source OPERATOR(pg_catalog.=) $1 AND notify),"
			" EXISTS (SELECT FROM pg_catalog.pg_trigger"
			"  WHERE tgrelid OPERATOR(pg_catalog.=) $1"
			"  AND tgname OPERATOR(pg_catalog.=) '" NOTIFY_TRIGGER "'"
			"  AND tgfoid OPERATOR(pg_catalog.=)"
			"   'batchintory.notify_trigger()'::pg_catalog.regprocedure)",
			1, argtypes, args, NULL, SPI_OK_SELECT);
	wanted = DatumGetBool(bi_get(0, 1, &isnull));
	present = DatumGetBool(bi_get(0, 2, &isnull));

	if (wanted && !present)
		bi_exec_once(psprintf("CREATE TRIGGER " NOTIFY_TRIGGER " AFTER INSERT ON %s"
							  " FOR EACH STATEMENT EXECUTE FUNCTION batchintory.notify_trigger()",
							  bi_source_name(source)),
					 SPI_OK_UTILITY);
	else if (!wanted && present)
		bi_exec_once(psprintf("DROP TRIGGER " NOTIFY_TRIGGER " ON %s", bi_source_name(source)),
					 SPI_OK_UTILITY);
}

/*
 * batchintory_channel(job text) RETURNS text
 *		The channel to LISTEN on to hear of new assets of a job, NULL if the
 *		job does not notify (registered without notify => true).  Strict.
 */
Datum
batchintory_channel(PG_FUNCTION_ARGS)
{
	BiCall		call;
	BiJob	   *job;
	Oid			source;
	bool		notify;

	bi_call_begin(&call);
	job = bi_job_open(&call, text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	source = job->source;
	notify = job->notify;
	bi_call_end(&call);
	if (!notify)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(bi_channel_name(source)));
}
