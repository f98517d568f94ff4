/*
 * tl_pg.h — the SQL layer: glue between fmgr and the core.
 */
#ifndef TL_PG_H
#define TL_PG_H

#include "postgres.h"
#include "fmgr.h"
#include "access/tupdesc.h"
#include "utils/array.h"

#include "base/tl_core.h"

/* GUCs (tensorlens.c) */
extern int	tl_guc_blas_threads;
extern int	tl_guc_max_model_size_mb;
extern int	tl_guc_max_batch_memory_mb;
extern int	tl_guc_model_cache_size_mb;
extern int	tl_guc_perception_max_width;
extern int	tl_guc_max_input_length;
extern int	tl_guc_model_parse_timeout_ms;
extern bool tl_guc_fusion;
extern int	tl_guc_fusion_max_memory_mb;

/* Errors (pg_errors.c): raises st as an ERROR with the matching SQLSTATE. */
void		tl_pg_raise(const tl_status *st, const char *model) pg_attribute_noreturn();
int			tl_pg_sqlstate(tl_code code);

/* Core calls made with memory in the current memory context (pg_memory.c). */
void		tl_pg_install_hooks(void);
tl_limits	tl_pg_limits(void);

/*
 * Parses model bytes in a parser process (pg_model_load.c); the model is
 * built in CurrentMemoryContext.  Raises an ERROR naming `name` (may be
 * NULL) if the bytes are not a usable model.
 */
tl_model   *tl_pg_model_load(const void *data, size_t len, const char *name);
/* A model's compiled form (stored at import) and back; NULL if it is unusable. */
bytea	   *tl_pg_model_compile(const tl_model *m);
tl_model   *tl_pg_model_from_compiled(const void *flat, size_t len);

/* The per-backend model cache (pg_model_cache.c). */
typedef struct tl_cached_model
{
	char	   *name;
	int32		revision;
	uint8		sha256[32];
	MemoryContext cxt;
	tl_model   *model;
	size_t		bytes;
	uint64		last_used;
	struct tl_cached_model *next;
} tl_cached_model;

/*
 * Resolves "name" or "name@revision" and returns the parsed model; fn_oid is
 * the calling SQL function (its schema holds tl_model).
 */
tl_cached_model *tl_model_get(Oid fn_oid, const char *spec);

/*
 * A model resolved once per query execution and kept in fn_extra, with a
 * runner for it.  Valid for one execution of one call site (a STABLE
 * function sees one snapshot, so the model row cannot change meanwhile).
 */
typedef struct tl_call_model
{
	char	   *spec;
	tl_cached_model *entry;
	uint64		cache_epoch;
	tl_runner  *runner;
	MemoryContext cxt;			/* fn_mcxt: lives as long as the call site */
	/* a derived plan for this model (e.g. perception layers), keyed by text */
	void	   *plan;
	char	   *plan_key;
	void		(*plan_free) (void *plan);
} tl_call_model;

tl_call_model *tl_call_model_get(FunctionCallInfo fcinfo, text *spec);
tl_runner  *tl_call_runner(tl_call_model *cm);
/* Runs n samples through the call site's runner (buffers live in cm->cxt). */
void		tl_call_forward(tl_call_model *cm, const tl_shape *in, const float *x, int n);

/* Batches over the rows of a query (pg_batch.c). */
typedef struct tl_batch
{
	tl_shape	shape;			/* per-sample input shape */
	int64		per_sample;
	int			cap;
	int			n;				/* samples in this batch */
	char	  **ids;			/* column 1 of each row, as text */
	float	   *x;
	int			n_extra;		/* columns after (id, input) */
	Datum	   *extra;			/* [n][n_extra] */
	bool	   *extra_null;
	TupleDesc	tupdesc;		/* of the query */
} tl_batch;

/* Called after each forward pass; the outputs are in cm->runner. */
typedef void (*tl_batch_emit) (tl_call_model *cm, const tl_batch *b, void *arg);

/*
 * Runs cm's model over the rows of query, which must return at least
 * min_cols columns, (id, input, ...): `columns` names them for errors.
 * requested = rows per batch, 0 for automatic.
 */
void		tl_batch_query(tl_call_model *cm, const char *query, int requested,
						   int min_cols, const char *columns, tl_batch_emit emit,
						   void *arg);

/* A PCA accumulator solved, arrays in the current memory context (pg_pca.c). */
struct tl_pca_acc;
struct tl_pca_model;
void		tl_pg_pca_finish(struct tl_pca_acc *acc, struct tl_pca_model *pm);

/* Runs (pg_analysis.c): the quoted schema of the calling function; an ERROR (42704) unless the caller sees the run. */
const char *tl_pg_schema_of(FunctionCallInfo fcinfo);
void		tl_pg_check_run(const char *schema, int32 run);

/*
 * The metadata of row `row` of a batch (pg_metadata.c): its extra columns
 * from index `first` on, as a jsonb object keyed by column name (NULL values
 * left out); *isnull when the query has no such columns.
 */
Datum		tl_pg_batch_metadata(const tl_batch *b, int row, int first, bool *isnull);

/* Layer names (pg_perception.c): index of a named layer, or an ERROR listing the names. */
int			tl_pg_layer_index(const tl_cached_model *e, const char *layer);

/* Arrays (pg_arrays.c). */
/* Converts a SQL input array for model m; returns palloc'd floats. */
float	   *tl_array_to_input(ArrayType *a, const tl_model *m, const char *model,
							  tl_shape *shape);
/* The same into dst when the input's shape is *want (a batch slot). */
float	   *tl_array_to_input_into(ArrayType *a, const tl_model *m, const char *model,
								   tl_shape *shape, const tl_shape *want, float *dst);
ArrayType  *tl_floats_to_array(const float *v, int64 n);
ArrayType  *tl_shape_to_array(const tl_shape *s);
/* Every element of a real[]/float8[] as floats; NULLs and NaN are errors. */
float	   *tl_array_to_floats(ArrayType *a, const char *what, int *n);

#endif							/* TL_PG_H */
