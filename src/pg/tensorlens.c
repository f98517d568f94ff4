/*
 * tensorlens.c — module entry: settings and one-time set-up.
 *
 * Settings that bound what one backend may take of the server (memory,
 * threads, time, sizes) are PGC_SUSET: a superuser sets them (also per role
 * or database, ALTER ROLE/DATABASE ... SET); an ordinary user's SET is
 * refused.  Settings that change results rather than costs stay the users'.
 */
#include "tl_pg.h"

#include <cblas.h>

#include "utils/guc.h"

PG_MODULE_MAGIC;

int			tl_guc_blas_threads = 1;
int			tl_guc_max_model_size_mb = 512;
int			tl_guc_max_batch_memory_mb = 64;
int			tl_guc_model_cache_size_mb = 256;
int			tl_guc_perception_max_width = 4096;
int			tl_guc_max_input_length = 4194304;
int			tl_guc_model_parse_timeout_ms = 60000;
bool		tl_guc_fusion = true;
int			tl_guc_fusion_max_memory_mb = 64;

void		_PG_init(void);

static void
assign_blas_threads(int newval, void *extra)
{
	(void) extra;
	openblas_set_num_threads(newval);
}

void
_PG_init(void)
{
	tl_blas_check_at_load();
	/* before MarkGUCPrefixReserved: a value set at server start must be kept */
	tl_progress_init();
	DefineCustomIntVariable("tensorlens.blas_threads",
							"OpenBLAS threads per backend.",
							"Parallel workers already spread work over cores; "
							"one thread per backend avoids oversubscription.",
							&tl_guc_blas_threads, 1, 1, 64,
							PGC_SUSET, 0, NULL, assign_blas_threads, NULL);
	DefineCustomIntVariable("tensorlens.max_model_size",
							"Largest model file (and its weights as float32) tensorlens will parse.",
							NULL, &tl_guc_max_model_size_mb, 512, 1, 16384,
							PGC_SUSET, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("tensorlens.max_batch_memory",
							"Memory for the layer outputs of one batch.",
							"Batches are sized to fit; one sample that does not fit is an error.",
							&tl_guc_max_batch_memory_mb, 64, 1, 4096,
							PGC_SUSET, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("tensorlens.model_cache_size",
							"Memory for parsed models cached in each backend.",
							"Least recently used models are dropped beyond it.",
							&tl_guc_model_cache_size_mb, 256, 1, 65536,
							PGC_SUSET, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("tensorlens.perception_max_width",
							"Widest perception vector; wider ones are reduced by a fixed random projection per layer.",
							NULL, &tl_guc_perception_max_width, 4096, 16, 1048576,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tensorlens.max_input_length",
							"Most elements one input array may have.",
							"Longer arrays are refused before anything is allocated for them.",
							&tl_guc_max_input_length, 4194304, 1, 268435456,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tensorlens.model_parse_timeout",
							"Time a model file may take to parse.",
							"Files are parsed in a separate process, killed after this.",
							&tl_guc_model_parse_timeout_ms, 60000, 100, 3600000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("tensorlens.knn_exact_max",
							"Most samples whose neighbour graph is computed exactly.",
							"Larger runs get an approximate graph (NN-descent); exact is quadratic in the samples.",
							&tl_guc_knn_exact_max, 50000, 2, 100000000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("tensorlens.fusion",
							 "Runs layers that read an Embedding from the token ids (per-token tables, gathers).",
							 "Off: the plain GEMM paths only (doc/performance.md).",
							 &tl_guc_fusion, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tensorlens.fusion_max_memory",
							"Memory for the per-token tables of one cached model.",
							"Tables that do not fit are not built; those layers run the plain path.",
							&tl_guc_fusion_max_memory_mb, 64, 0, 16384,
							PGC_SUSET, GUC_UNIT_MB, NULL, NULL, NULL);
	MarkGUCPrefixReserved("tensorlens");

	openblas_set_num_threads(tl_guc_blas_threads);
	tl_pg_install_hooks();
}
