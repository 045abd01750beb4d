/*
 * compat.h
 *	  What differs between the PostgreSQL major versions batchintory builds
 *	  on (15 to 18), behind one name each; the rest of src/ uses these names
 *	  and has no PG_VERSION_NUM of its own.  Included by batchintory.h.
 *	  The macros expand to the calls of the version compiled against; the
 *	  file that uses one includes the headers the call needs (named here).
 */
#ifndef BATCHINTORY_COMPAT_H
#define BATCHINTORY_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "batchintory needs PostgreSQL 15 or later"
#endif

/*
 * BI_VXID_PROC(vxid): the PGPROC of a virtual transaction's backend, or
 * NULL.  17 renamed backend ids to proc numbers (storage/procarray.h);
 * before, BackendIdGetProc (storage/sinvaladt.h).
 */
#if PG_VERSION_NUM >= 170000
#define BI_PROC_HEADER "storage/procarray.h"
#define BI_VXID_PROC(vxid) ProcNumberGetProc((vxid).procNumber)
#else
#define BI_PROC_HEADER "storage/sinvaladt.h"
#define BI_VXID_PROC(vxid) BackendIdGetProc((vxid).backendId)
#endif

/*
 * BI_MY_PROC_NUMBER: this backend's slot among the server's processes, at
 * most MaxBackends and reused once it exits (storage/lock.h includes it):
 * 17 renamed MyBackendId to MyProcNumber.
 */
#if PG_VERSION_NUM >= 170000
#define BI_MY_PROC_NUMBER MyProcNumber
#else
#define BI_MY_PROC_NUMBER MyBackendId
#endif

/*
 * A heap update and its index entries (access/tableam.h,
 * executor/executor.h).  From 16 on simple_table_tuple_update says which
 * indexes need entries for the new version (none after a HOT update, only
 * the summarizing ones, or all: TU_UpdateIndexes) and ExecInsertIndexTuples
 * takes onlySummarizing; 15 has a bool (all or none) and no such argument.
 *
 *	BiUpdateIndexes u = BI_UPDATE_INDEXES_ALL;
 *	simple_table_tuple_update(rel, tid, slot, snapshot, &u);
 *	if (BI_UPDATE_NEEDS_INDEXES(u))
 *		BI_INSERT_INDEX_TUPLES(resultRelInfo, slot, estate, true, u);
 *
 * An insert passes BI_UPDATE_INDEXES_ALL and update = false.  No
 * speculative insertion, no arbiter indexes: a unique violation is an error.
 */
#if PG_VERSION_NUM >= 160000
#define BiUpdateIndexes TU_UpdateIndexes
#define BI_UPDATE_INDEXES_ALL TU_All
#define BI_UPDATE_NEEDS_INDEXES(u) ((u) != TU_None)
#define BI_INSERT_INDEX_TUPLES(rri, slot, estate, update, u) \
	ExecInsertIndexTuples((rri), (slot), (estate), (update), false, NULL, NIL, \
						  (u) == TU_Summarizing)
#else
#define BiUpdateIndexes bool
#define BI_UPDATE_INDEXES_ALL true
#define BI_UPDATE_NEEDS_INDEXES(u) (u)
#define BI_INSERT_INDEX_TUPLES(rri, slot, estate, update, u) \
	ExecInsertIndexTuples((rri), (slot), (estate), (update), false, NULL, NIL)
#endif

/*
 * BI_INDEX_BEGINSCAN(heap, index, snapshot, nkeys, norderbys): an index scan
 * (access/genam.h).  18 added the scan's instrumentation (NULL: none).
 */
#if PG_VERSION_NUM >= 180000
#define BI_INDEX_BEGINSCAN(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), (norderbys))
#else
#define BI_INDEX_BEGINSCAN(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), (norderbys))
#endif

/*
 * BI_NAMESPACE_ACLCHECK(nsp, role, mode), BI_PROC_ACLCHECK(proc, role,
 * mode): a role's privilege on a schema, a function (utils/acl.h,
 * catalog/pg_namespace.h, catalog/pg_proc.h).  16 made the checks of every kind
 * of object one function, object_aclcheck.
 */
#if PG_VERSION_NUM >= 160000
#define BI_NAMESPACE_ACLCHECK(nsp, role, mode) \
	object_aclcheck(NamespaceRelationId, (nsp), (role), (mode))
#define BI_PROC_ACLCHECK(proc, role, mode) \
	object_aclcheck(ProcedureRelationId, (proc), (role), (mode))
#else
#define BI_NAMESPACE_ACLCHECK(nsp, role, mode) \
	pg_namespace_aclcheck((nsp), (role), (mode))
#define BI_PROC_ACLCHECK(proc, role, mode) \
	pg_proc_aclcheck((proc), (role), (mode))
#endif

#endif							/* BATCHINTORY_COMPAT_H */
