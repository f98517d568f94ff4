/*
 * pg_blas.c — which OpenBLAS kernels run: tl_blas_info() and a LOG line at
 * load when they are a fallback.
 *
 * OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels from the
 * CPU's family and model when the library loads.  0.3.21 does not know
 * some CPUs that have AVX-512 (recent AMD cores) and falls back to its AVX2
 * kernels ("Haswell", "Zen"), about half the speed; OPENBLAS_CORETYPE in the
 * server's environment overrides the choice (doc/performance.md).  A
 * fallback is told apart from a right choice by what the CPU can do: AVX-512
 * (F, BW, DQ, VL: what the SkylakeX kernels use) with a core that is not an
 * AVX-512 one, or AVX2 + FMA with a core older than Haswell.
 */
#include "tl_pg.h"

#include <cblas.h>

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);

typedef struct blas_check
{
	const char *core;
	const char *features;		/* "avx512", "avx2", "sse" */
	const char *best;			/* the OPENBLAS_CORETYPE to set, or NULL */
} blas_check;

static bool
core_is(const char *core, const char *const *list)
{
	for (; *list; list++)
		if (pg_strcasecmp(core, *list) == 0)
			return true;
	return false;
}

static const char *const avx512_cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};

static blas_check
check_blas(void)
{
	static const char *const pre_avx2_cores[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
	"Atom", "Nano", "Barcelona", "Bobcat", "Opteron", "Opteron(SSE3)", "Sandybridge", "Bulldozer",
	"Piledriver", "Katmai", "Coppermine", "Northwood", "Banias", "Athlon", NULL};
	blas_check c = {openblas_get_corename(), "sse", NULL};

	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		__builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
	{
		c.features = "avx512";
		if (!core_is(c.core, avx512_cores))
			c.best = "SkylakeX";
	}
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
	{
		c.features = "avx2";
		if (core_is(c.core, pre_avx2_cores))
			c.best = "Haswell";
	}
	return c;
}

/*
 * At load: an ERROR when OPENBLAS_CORETYPE asks for AVX-512 kernels on a CPU
 * without AVX-512 (the first BLAS call would kill the backend with SIGILL,
 * and the postmaster would restart every session); a LOG line when the
 * kernels are a fallback (once, in the postmaster, when preloaded).
 */
void
tl_blas_check_at_load(void)
{
	blas_check c = check_blas();

	if (core_is(c.core, avx512_cores) && strcmp(c.features, "avx512") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("OpenBLAS runs its %s (AVX-512) kernels on a CPU without AVX-512: every BLAS call would crash",
						c.core),
				 errhint("Remove OPENBLAS_CORETYPE=%s from the server's environment and restart it.",
						 getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : c.core)));
	if (c.best)
		ereport(process_shared_preload_libraries_in_progress ? LOG : DEBUG1,
				(errmsg("tensorlens: OpenBLAS runs its %s kernels on a CPU with %s; the %s kernels are faster",
						c.core, c.features, c.best),
				 errhint("Set OPENBLAS_CORETYPE=%s in the server's environment (doc/performance.md).", c.best)));
}

/*
 * tl_blas_info() → (config, core, cpu_features, coretype_setting, threads,
 * fallback, advice)
 */
PG_FUNCTION_INFO_V1(pg_tl_blas_info);
Datum
pg_tl_blas_info(PG_FUNCTION_ARGS)
{
	TupleDesc	td;
	Datum		values[7];
	bool		nulls[7] = {0};
	blas_check	c = check_blas();
	const char *setting = getenv("OPENBLAS_CORETYPE");

	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "tensorlens: tl_blas_info must return a row");
	values[0] = CStringGetTextDatum(openblas_get_config());
	values[1] = CStringGetTextDatum(c.core);
	values[2] = CStringGetTextDatum(c.features);
	values[3] = setting ? CStringGetTextDatum(setting) : (Datum) 0;
	nulls[3] = setting == NULL;
	values[4] = Int32GetDatum(openblas_get_num_threads());
	values[5] = BoolGetDatum(c.best != NULL);
	if (c.best)
		values[6] = CStringGetTextDatum(psprintf("set OPENBLAS_CORETYPE=%s in the server's environment "
												 "(doc/performance.md)", c.best));
	else
		nulls[6] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(td, values, nulls)));
}
