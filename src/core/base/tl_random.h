/*
 * tl_random.h — a small fixed-seed generator (splitmix64, Steele, Lea and
 * Flood 2014) for algorithms that must give the same result for the same
 * seed on every machine: no global state, no library generator.
 */
#ifndef TL_RANDOM_H
#define TL_RANDOM_H

#include <stdint.h>

static inline uint64_t
tl_random_next(uint64_t *state)
{
	uint64_t	z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, n) for 1 <= n < 2^32 (Lemire's multiply-shift; the bias is below 2^-32). */
static inline uint32_t
tl_random_below(uint64_t *state, uint32_t n)
{
	return (uint32_t) (((tl_random_next(state) >> 32) * (uint64_t) n) >> 32);
}

#endif							/* TL_RANDOM_H */
