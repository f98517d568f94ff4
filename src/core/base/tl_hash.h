/*
 * tl_hash.h — a string hash for the core's open-addressing tables (FNV-1a,
 * 64 bits): short, no state, the same on every machine.
 */
#ifndef TL_HASH_H
#define TL_HASH_H

#include <stdint.h>

static inline uint64_t
tl_hash_string(const char *s)
{
	uint64_t	h = UINT64_C(1469598103934665603);

	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * UINT64_C(1099511628211);
	return h;
}

#endif
