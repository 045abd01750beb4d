/*
 * batchintory.c
 *	  Module entry point of batchintory: the magic block and _PG_init, which
 *	  reserves the GUC prefix and hooks the job cache to cache invalidation.
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
	bi_jobcache_init();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("batchintory");
#else
	EmitWarningsOnPlaceholders("batchintory");
#endif
}
