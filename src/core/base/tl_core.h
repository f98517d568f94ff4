/*
 * tl_core.h — public interface of the tensorlens core.
 *
 * The core loads Keras models and runs them; it knows nothing of PostgreSQL.
 * It never longjmps and never prints: every function that can fail takes a
 * tl_status, fills it and returns a failure value.  The SQL layer turns a
 * status into ereport(ERROR) with the matching SQLSTATE.
 *
 * Memory comes from tl_malloc() and friends, which call the allocator set
 * with tl_set_allocator() (malloc by default; palloc in a memory context
 * inside the server).  An allocator may return NULL: the core then fails
 * with TL_ERR_NOMEM and frees what it holds.
 */
#ifndef TL_CORE_H
#define TL_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TL_MAX_DIMS 6
#define TL_MSG_LEN 512

typedef enum tl_code
{
	TL_OK = 0,
	TL_ERR_FORMAT,				/* bytes are not a readable model file */
	TL_ERR_MODEL,				/* readable, but inconsistent (weights, config) */
	TL_ERR_UNSUPPORTED,			/* a layer or option the runtime lacks */
	TL_ERR_INPUT,				/* input does not fit the model */
	TL_ERR_RANGE,				/* a value outside its domain (token id) */
	TL_ERR_NAN,					/* NaN or infinity where numbers are needed */
	TL_ERR_ARG,					/* an invalid argument */
	TL_ERR_NOT_FOUND,			/* a named thing does not exist */
	TL_ERR_LIMIT,				/* a configured resource limit was hit */
	TL_ERR_NOMEM				/* allocation failed */
} tl_code;

typedef struct tl_status
{
	tl_code		code;
	char		msg[TL_MSG_LEN];
} tl_status;

/* Records a failure in st (first failure wins) and returns -1. */
int			tl_fail(tl_status *st, tl_code code, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
void		tl_status_clear(tl_status *st);

/* ---- memory ---------------------------------------------------------- */
typedef struct tl_allocator
{
	void	   *(*alloc) (size_t size, void *arg);	/* NULL on failure */
	void	   *(*realloc) (void *ptr, size_t size, void *arg);
	void		(*free) (void *ptr, void *arg);
	void	   *arg;
} tl_allocator;

void		tl_set_allocator(const tl_allocator *a);	/* NULL: malloc */
void	   *tl_malloc(size_t size);
void	   *tl_calloc(size_t n, size_t size);	/* zeroed, overflow-checked */
void	   *tl_realloc(void *ptr, size_t size);
void		tl_free(void *ptr);
char	   *tl_strdup(const char *s);

/*
 * Long loops call tl_check_interrupt() between units of work.  The hook may
 * not return (the server's CHECK_FOR_INTERRUPTS longjmps): the core calls it
 * only where it holds nothing but tl_malloc'd memory, which the server's
 * memory contexts reclaim.
 */
void		tl_set_interrupt_hook(void (*hook) (void));
void		tl_check_interrupt(void);

/* ---- shapes ---------------------------------------------------------- */
/* A per-sample shape (the batch dimension is not included); -1 = any. */
typedef struct tl_shape
{
	int			nd;
	int			d[TL_MAX_DIMS];
} tl_shape;

int64_t		tl_shape_count(const tl_shape *s);	/* -1 if any dim unknown */
bool		tl_shape_equal(const tl_shape *a, const tl_shape *b);
/* Refuses dimensions above 2^30 and more than TL_MAX_SAMPLE_ELEMS values. */
#define TL_MAX_SAMPLE_ELEMS 0x7fffffff
int			tl_shape_check(const tl_shape *s, const char *layer, tl_status *st);
int			tl_shape_format(const tl_shape *s, char *buf, size_t len);

/* ---- models ---------------------------------------------------------- */
typedef struct tl_limits
{
	size_t		max_file_bytes;		/* whole model file (and unzipped parts) */
	size_t		max_weight_bytes;	/* all weights, as float32 */
} tl_limits;

typedef struct tl_model tl_model;

typedef struct tl_layer_info
{
	const char *name;
	const char *class_name;
	tl_shape	out_shape;
	int64_t		params;
	int			n_inputs;
	const int  *inputs;			/* indices of the layers feeding this one */
} tl_layer_info;

/* Parses a Keras .h5 (legacy) or .keras (zip) image held in memory. */
tl_model   *tl_model_load(const void *data, size_t len, const tl_limits *lim,
						  tl_status *st);
void		tl_model_free(tl_model *m);

const char *tl_model_format(const tl_model *m); /* "keras_h5" or "keras_v3" */
const char *tl_model_keras_version(const tl_model *m);	/* "" if unknown */
const char *tl_model_config_json(const tl_model *m);
const char *tl_model_training_config_json(const tl_model *m);	/* or NULL */
size_t		tl_model_bytes(const tl_model *m);	/* memory held */
int			tl_model_takes_tokens(const tl_model *m);
int			tl_model_vocab_size(const tl_model *m); /* Embedding input_dim */
tl_shape	tl_model_input_shape(const tl_model *m);
tl_shape	tl_model_output_shape(const tl_model *m);
int			tl_model_n_layers(const tl_model *m);
void		tl_model_layer_info(const tl_model *m, int i, tl_layer_info *info);
int			tl_model_find_layer(const tl_model *m, const char *name);	/* -1 */
int			tl_model_output_layer(const tl_model *m);

/*
 * Checks an input against the model's input shape and returns the concrete
 * per-sample shape.  dims/ndim describe the array as given (ndim 1 = flat);
 * size-1 dimensions are ignored when matching a multi-dimensional array.
 * Token sequences are not resized here (see tl_fit_tokens).
 */
int			tl_model_fit_input(const tl_model *m, const int *dims, int ndim,
							   int64_t n_elems, tl_shape *out, tl_status *st);

/*
 * Fits a token sequence to a model with a fixed sequence length the way
 * Keras' pad_sequences does by default: pre-padding with 0, pre-truncation
 * (the last `len` tokens are kept).  Writes exactly `len` floats.
 */
void		tl_fit_tokens(const int64_t *ids, int n, float *out, int len);

/*
 * Loading in a separate process.  Parsing an untrusted file runs libhdf5,
 * libzip and jansson on hostile bytes; a crash there must not take the
 * caller down.  tl_isolate_start forks a child that parses the file with
 * tl_model_load (malloc, default signal handlers, no BLAS) and streams the
 * result back through a pipe; the parent rebuilds the model from that
 * stream.  A child killed by a signal becomes TL_ERR_FORMAT, one that runs
 * past timeout_ms TL_ERR_LIMIT.
 *
 * The caller polls until the child is done, then finishes:
 *     iso = tl_isolate_start(...);
 *     while (!tl_isolate_poll(iso, 100))
 *         ... check for interrupts; on any error: tl_isolate_abort(iso) ...
 *     m = tl_isolate_finish(iso, st);
 */
typedef struct tl_isolate_opts
{
	int			timeout_ms;		/* the child is killed after this; 0: never */
	size_t		max_child_bytes;	/* address space the child may add; 0: no cap */
	void		(*child_hook) (void);	/* tests: called in the child, confined, before parsing */
} tl_isolate_opts;

typedef struct tl_isolate tl_isolate;

tl_isolate *tl_isolate_start(const void *data, size_t len, const tl_limits *lim,
							 const tl_isolate_opts *opts, tl_status *st);
/* Waits up to wait_ms; returns 1 when the child is done (or failed), else 0. */
int			tl_isolate_poll(tl_isolate *iso, int wait_ms);
/* The model the child parsed, or NULL with st set; frees iso. */
tl_model   *tl_isolate_finish(tl_isolate *iso, tl_status *st);
/* Kills and reaps the child and frees iso (error paths; NULL is a no-op). */
void		tl_isolate_abort(tl_isolate *iso);
/* start + poll until done + finish, without interruption. */
tl_model   *tl_model_load_isolated(const void *data, size_t len, const tl_limits *lim,
								   const tl_isolate_opts *opts, tl_status *st);

/* ---- running --------------------------------------------------------- */
typedef struct tl_runner tl_runner;

/* max_batch_bytes bounds the activations held for one batch. */
tl_runner  *tl_runner_new(const tl_model *m, size_t max_batch_bytes,
						  tl_status *st);
void		tl_runner_free(tl_runner *r);

/*
 * Fusion (doc/performance.md).  A layer reading an Embedding can run from
 * the token ids instead of the embedding vectors: a Conv1D or a recurrent
 * layer from a per-token table of products (embedding row x kernel), a
 * GlobalAveragePooling1D by averaging the embedding rows the ids pick — and
 * then the Embedding's output is not written at all unless someone reads
 * it.  Results equal the plain path's up to float rounding.
 *
 * tl_model_prepare_fusion builds the per-token tables of a model once
 * (they live and die with the model), each while the running total stays
 * within max_bytes; returns the bytes it added (0 when there is nothing to
 * build or it was done before), or -1.
 * tl_runner_set_fusion(r, 0) runs the plain paths only (default: on).
 * tl_runner_keep declares which layers' outputs the caller reads after a
 * forward (the model output always; n < 0: every layer, the default); the
 * others may be skipped, and tl_runner_output returns NULL for them.
 * tl_runner_fused tells whether layer i ran from token ids in the last
 * forward (tests and benchmarks).
 */
int64_t		tl_model_prepare_fusion(tl_model *m, size_t max_bytes, tl_status *st);
void		tl_runner_set_fusion(tl_runner *r, int on);
int			tl_runner_keep(tl_runner *r, const int *layers, int n, tl_status *st);
int			tl_runner_fused(const tl_runner *r, int layer);

/* How many samples of this shape one batch may hold (>= 1), or -1. */
int			tl_runner_batch_capacity(tl_runner *r, const tl_shape *in,
									 tl_status *st);

/*
 * Runs n samples (batch-major, each of shape `in`; token ids as floats) and
 * keeps every layer's output until the next call.  n must not exceed the
 * batch capacity.
 */
int			tl_runner_forward(tl_runner *r, const tl_shape *in, const float *x,
							  int n, tl_status *st);

/* Output of layer i (-1: the model output) of the last forward, batch-major. */
const float *tl_runner_output(const tl_runner *r, int layer, tl_shape *shape);

/*
 * Like tl_runner_forward, but the output of layer `layer` is taken from
 * `values` (n samples of its planned shape, batch-major, kept alive until
 * the next forward) instead of being computed: a token model run from
 * edited embedding vectors, say.  A backward pass stops at that layer.
 */
int			tl_runner_forward_with(tl_runner *r, const tl_shape *in,
								   const float *x, int layer,
								   const float *values, int n, tl_status *st);

/* ---- gradients (tl_backward.c) ---------------------------------------- */

/*
 * Prepares the runner for tl_runner_backward: later forwards keep the
 * pre-activations of fused activations, and batches are sized for the
 * gradient buffers as well (so the batch capacity drops).
 */
void		tl_runner_enable_backward(tl_runner *r);

/*
 * Backpropagates from the output of the last forward (n samples): the
 * target of sample b is sum_j seed[b][j] * y[b][j], where y is the model's
 * output, or its logits (the output before the output layer's activation
 * function) when pre_activation is set.  A one-hot seed picks a unit; any
 * seed picks a direction.  Afterwards tl_runner_grad reads the gradient of
 * that target with respect to every layer's output, down to the Embedding
 * outputs of a token model or the input of a model that takes real numbers.
 */
int			tl_runner_backward(tl_runner *r, const float *seed,
							   int pre_activation, int n, tl_status *st);

/*
 * The gradient with respect to layer i's output (0: the model input), n
 * samples batch-major; NULL if the last backward did not compute it.
 */
const float *tl_runner_grad(const tl_runner *r, int layer, tl_shape *shape);

/*
 * The model's logits for the last forward: the output before the output
 * layer's activation function (the output itself when it is linear), of the
 * output's shape.  NULL when the activation is fused into the output layer
 * and the runner was not prepared for a backward pass.
 */
const float *tl_runner_logits(const tl_runner *r, tl_shape *shape);

#endif							/* TL_CORE_H */
