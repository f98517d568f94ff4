/*
 * tl_memory.c — the core's allocator indirection and interrupt hook.
 *
 * Inside the server the SQL layer installs palloc-based functions so that
 * everything the core allocates lives in a memory context; standalone (unit
 * tests, fuzzers) it is plain malloc.
 */
#include <stdlib.h>
#include <string.h>

#include "base/tl_core.h"

static void *
std_alloc(size_t size, void *arg)
{
	(void) arg;
	return malloc(size ? size : 1);
}

static void *
std_realloc(void *ptr, size_t size, void *arg)
{
	(void) arg;
	return realloc(ptr, size ? size : 1);
}

static void
std_free(void *ptr, void *arg)
{
	(void) arg;
	free(ptr);
}

static const tl_allocator std_allocator = {std_alloc, std_realloc, std_free, NULL};
static const tl_allocator *allocator = &std_allocator;
static void (*interrupt_hook) (void) = NULL;

void
tl_set_allocator(const tl_allocator *a)
{
	allocator = a ? a : &std_allocator;
}

void *
tl_malloc(size_t size)
{
	return allocator->alloc(size, allocator->arg);
}

void *
tl_calloc(size_t n, size_t size)
{
	void	   *p;

	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	p = tl_malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void *
tl_realloc(void *ptr, size_t size)
{
	if (ptr == NULL)
		return tl_malloc(size);
	return allocator->realloc(ptr, size, allocator->arg);
}

void
tl_free(void *ptr)
{
	if (ptr)
		allocator->free(ptr, allocator->arg);
}

char *
tl_strdup(const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *p = tl_malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

void
tl_set_interrupt_hook(void (*hook) (void))
{
	interrupt_hook = hook;
}

void
tl_check_interrupt(void)
{
	if (interrupt_hook)
		interrupt_hook();
}
