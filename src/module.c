/*
 * module.c
 *	  Module entry point of batchintory: the magic block and _PG_init, which
 *	  reserves the GUC prefix and hooks the call guard and the job cache to
 *	  transaction ends and cache invalidation.
 */
#include "postgres.h"

#include "batchintory.h"

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	bi_security_init();
	bi_jobcache_init();
	bi_pipeline_init();
	MarkGUCPrefixReserved("batchintory");
}
