/*
 * tl_simd.h — the vector types and CPU clones of the core's hand-written
 * kernels.
 *
 * The server is built for plain x86-64 (SSE2), so the fast paths are
 * compiled again for newer CPUs as target_clones, picked at load time.
 * Kernels written with vector types (v8) use the FMA clone: GCC's "avx2"
 * and "avx512f" clones would not contract their multiply-adds.  Plain
 * loops left to the auto-vectoriser use TL_VECTOR_CLONES.  The v8u loads
 * and stores are unaligned: rows of activations and weights start at any
 * float, and on AVX an unaligned access that is aligned costs nothing more.
 */
#ifndef TL_SIMD_H
#define TL_SIMD_H

/* 8 floats: one AVX register (two SSE ones in the default clone). */
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(TL_SANITIZE)
#define TL_CLONES __attribute__((target_clones("fma", "default")))
#define TL_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TL_CLONES
#define TL_VECTOR_CLONES
#endif

#endif							/* TL_SIMD_H */
