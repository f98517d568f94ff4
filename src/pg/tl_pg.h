/*
 * tl_pg.h — the SQL layer: glue between fmgr and the core.
 */
#ifndef TL_PG_H
#define TL_PG_H

#include "postgres.h"
#include "fmgr.h"
#include "access/tupdesc.h"
#include "nodes/execnodes.h"
#include "utils/array.h"

#include "base/tl_core.h"
#include "nn/tl_output.h"

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
	int			progress_id;	/* tl_progress_per_row's report, 0: none */
} tl_call_model;

tl_call_model *tl_call_model_get(FunctionCallInfo fcinfo, text *spec);
tl_runner  *tl_call_runner(tl_call_model *cm);
/*
 * Counts one sample done by a per-row function (table-wide saliency) in a
 * progress report of its call site, begun at the first row and ended with
 * the query (pg_progress.c).
 */
void		tl_progress_per_row(tl_call_model *cm, const char *function);
/* Runs n samples through the call site's runner (buffers live in cm->cxt). */
void		tl_call_forward(tl_call_model *cm, const tl_shape *in, const float *x, int n);

/*
 * Running a run's stored SQL as the run's creator (pg_run_as.c): init reads
 * the run with the caller's rights and checks that the caller has the
 * creator's privileges; between enter and leave the user id is the
 * creator's (a security-restricted operation: no role changes) and
 * search_path the run's, and every setting made meanwhile is discarded at
 * leave.  Leave on every path (PG_FINALLY).
 */
typedef struct tl_run_as
{
	int32		run;
	Oid			creator;		/* InvalidOid: the creator's role is gone */
	char	   *creator_name;
	char	   *search_path;
	char	   *input_query;	/* NULL if the run has none */
	char	   *model;			/* "name@revision" or "name" */
	bool		inside;
	Oid			saved_user;
	int			saved_context;
	int			nest_level;
} tl_run_as;

void		tl_run_as_init(tl_run_as *ra, Oid fn_oid, int32 run);
/* As init without the check's ERROR: false when the caller may not run the run's SQL. */
bool		tl_run_as_prepare(tl_run_as *ra, Oid fn_oid, int32 run);
void		tl_run_as_enter(tl_run_as *ra);
void		tl_run_as_leave(tl_run_as *ra);

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
/*
 * The same over the rows of a run's input query whose sample_id is in ids
 * (a text[]), fetched as the run's creator (ra, after tl_run_as_init).
 */
void		tl_batch_run_query(tl_call_model *cm, tl_run_as *ra, Datum ids,
							   tl_batch_emit emit, void *arg);
/*
 * The same rows converted to the model's input (b->x, b->shape) and
 * emitted without running the model: near-duplicates in input space.
 */
void		tl_batch_run_inputs(tl_call_model *cm, tl_run_as *ra, Datum ids,
								tl_batch_emit emit, void *arg);

/* ---- near-duplicates (pg_near_dup.c) ---- */
/* A pair of samples and its distance in each space (NaN: not found there). */
typedef struct tl_pg_dup_pair
{
	char	   *a,
			   *b;
	float		perception,
				input;
} tl_pg_dup_pair;

/*
 * The near-duplicate pairs of run in input space (other != run: each of
 * run's samples with its nearest sample of other, leakage), a < b within a
 * run; 0 pairs and a NOTICE when a run's inputs cannot be read.
 */
int			tl_pg_input_duplicates(FunctionCallInfo fcinfo, const char *schema, int32 run,
								   int32 other, tl_pg_dup_pair **out);
/*
 * Rows (sample_id, duplicate_run, duplicate_id, distance, input_distance,
 * method) of the n pairs found in either space (each pair once, its
 * distances merged), nearest in perception space first.
 */
void		tl_pg_emit_duplicates(ReturnSetInfo *rsinfo, int32 other, tl_pg_dup_pair *pairs, int n);
/*
 * Prepares a query with nargs parameters (inside SPI): an ERROR unless it
 * parses and is a SELECT; `columns` names what it must return, for errors.
 */
struct _SPI_plan *tl_batch_prepare(const char *query, int nargs, Oid *argtypes,
								   const char *columns);

/*
 * Progress of long work (pg_progress.c): NOTICE lines every
 * tensorlens.progress_interval and the view tl_progress.  begin pushes a
 * report (run -1: none) and returns its id for end; the others change the
 * innermost report and do nothing when none was begun.
 */
extern int	tl_guc_progress_interval_ms;
void		tl_progress_init(void);
int			tl_progress_begin(const char *function, int32 run);
void		tl_progress_phase(const char *phase, int64 total, bool estimated);
void		tl_progress_set(int64 done);
void		tl_progress_add(int64 n);
void		tl_progress_phase_done(void);
void		tl_progress_end(int id);

/* OpenBLAS' kernels (pg_blas.c): ERROR if they cannot run here, LOG if slow. */
void		tl_blas_check_at_load(void);

/* A PCA accumulator solved, arrays in the current memory context (pg_pca.c). */
struct tl_pca_acc;
struct tl_pca_model;
void		tl_pg_pca_finish(struct tl_pca_acc *acc, struct tl_pca_model *pm);

/*
 * Each row of query (nargs parameters), read through a cursor in chunks
 * (pg_neighbours.c): memory does not grow with the rows.  fn runs in a
 * context reset after every chunk: what it keeps it copies elsewhere.
 */
typedef void (*tl_pg_row_fn) (HeapTuple row, TupleDesc desc, void *arg);
void		tl_pg_each_row(const char *query, int nargs, Oid *types, Datum *values,
						   tl_pg_row_fn fn, void *arg);

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

/* Runs and their neighbour spaces (pg_neighbours.c). */
extern int	tl_guc_knn_exact_max;
typedef struct tl_points
{
	int			n,
				d;
	char	  **ids;			/* sorted (byte order) */
	float	   *x;				/* n × d */
} tl_points;
const char *tl_pg_schema_of(FunctionCallInfo fcinfo);
void		tl_pg_check_run(const char *schema, int32 run);	/* inside SPI */
void		tl_pg_run_points(const char *schema, int32 run, int32 space_run, tl_points *pts,
							 MemoryContext cxt);
int			tl_pg_find_id(char **ids, int n, const char *id);	/* -1 if absent */

/* Shared by the data issues (pg_data_issues.c), inside SPI. */
/* A quantile of the distances at one rank of run's stored graph; ERROR (55000) without one. */
void		tl_pg_require_graph(const char *schema, int32 run, int rank, double q, double *out);
/* run's samples (a) and ref's (b) in ref's neighbour space; for each of a its k nearest of b. */
void		tl_pg_against_reference(const char *schema, int32 run, int32 ref, int *k, tl_points *a,
									tl_points *b, int32 **idx, float **dist, MemoryContext cxt);
/* Sample indices ordered by score, highest first (ties: index order). */
int		   *tl_pg_order_by_score(const float *score, int n);
void		tl_pg_check_k(int32 k);	/* an ERROR unless k >= 1 */

/* An output kind's name (pg_output.c); an ERROR naming the valid ones. */
tl_output_kind tl_pg_output_kind(const char *name);
/* An output array's values; an ERROR when it is empty. */
float	   *tl_pg_output_values(ArrayType *a, int *n);

#endif							/* TL_PG_H */
