/*
 * pg_memory.c — the core's allocator and interrupt hook inside a backend.
 *
 * Core allocations go to CurrentMemoryContext, so a parsed model lives in
 * its own context (freed by deleting it) and per-call buffers die with the
 * query.  Allocation failures are returned to the core as NULL (it cleans up
 * and reports TL_ERR_NOMEM) rather than thrown from inside it.
 */
#include "tl_pg.h"

#include "miscadmin.h"
#include "utils/memutils.h"

static void *
pg_alloc(size_t size, void *arg)
{
	(void) arg;
	return palloc_extended(size ? size : 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void *
pg_realloc(void *ptr, size_t size, void *arg)
{
	(void) arg;
	return repalloc_huge(ptr, size ? size : 1);
}

static void
pg_free(void *ptr, void *arg)
{
	(void) arg;
	pfree(ptr);
}

static void
pg_interrupt(void)
{
	CHECK_FOR_INTERRUPTS();
}

static const tl_allocator pg_allocator = {pg_alloc, pg_realloc, pg_free, NULL};

void
tl_pg_install_hooks(void)
{
	tl_set_allocator(&pg_allocator);
	tl_set_interrupt_hook(pg_interrupt);
}

tl_limits
tl_pg_limits(void)
{
	tl_limits	lim;

	lim.max_file_bytes = (size_t) tl_guc_max_model_size_mb * 1024 * 1024;
	lim.max_weight_bytes = lim.max_file_bytes;
	return lim;
}
