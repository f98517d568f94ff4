/*
 * onnx_int.h — reading an ONNX model into the runtime's layer graph.
 *
 * onnx_decode.c unpacks the protobuf (protobuf-c, code generated from
 * Debian's onnx.proto) and turns tensors and attributes into plain values;
 * onnx_graph.c walks the graph: it keeps a table of values (constants, and
 * dynamic tensors that live in some emitted layer's output), emits layers as
 * a Keras Functional config plus their weights and builds the model from
 * them; onnx_fold.c evaluates nodes whose inputs are all constants (the
 * shape arithmetic of a dynamic batch axis among them) and onnx_ops.c maps
 * the other nodes onto layer families.
 *
 * Layout: a dynamic value holds, per sample, the ONNX tensor without its
 * batch axis, its axes in some order (order[k] = the ONNX axis stored as
 * axis k).  A Transpose only changes that order; an op that needs its
 * input in a particular order (a convolution channels last, Flatten the
 * ONNX order) gets it through a Permute layer made once per value and
 * order, so an NCHW model is converted to channels last at its input.
 *
 * Empty JSON objects are made with json_pack("{}"), never json_object():
 * the server binary exports a json_object() of its own (a SQL function)
 * that the extension's call would bind to.
 */
#ifndef ONNX_INT_H
#define ONNX_INT_H

#include <jansson.h>

#include "format/tl_format.h"
#include "onnx/onnx.pb-c.h"

#define ONNX_MAX_RANK 8
/* In folded shape arithmetic: the batch size, and a size known only at run time. */
#define ONNX_BATCH (INT64_MIN + 1)
#define ONNX_UNKNOWN (INT64_MIN + 2)

typedef struct onnx_value
{
	const char *name;
	int			is_const;
	int			rank;			/* ONNX rank (dynamic: the batch axis included) */
	int64_t		dims[ONNX_MAX_RANK];	/* dynamic: -1 where unknown and at the batch axis */
	/* constants: int64 (shape arithmetic, ids) or float values */
	int			is_int;
	int64_t		count;
	int64_t    *i;
	float	   *f;
	/* dynamic values */
	int			layer;			/* emitted layer holding it */
	int			batch_axis;
	int			order[ONNX_MAX_RANK];	/* internal axis k holds ONNX axis order[k] */
	int			alt_layer;		/* the same data in alt_order (a Permute), or -1 */
	int			alt_order[ONNX_MAX_RANK];
	int			batch_zeros;	/* ConstantOf(a batch-sized)Shape of 0: a recurrent initial state */
	int			uses;			/* nodes the output depends on reading it */
	int			readers;		/* nodes reading it */
	int			producer;		/* node making it, or -1 */
	int			is_output;
} onnx_value;

typedef struct onnx_layer
{
	char	   *name;
	json_t	   *entry;			/* {class_name, config, inbound_nodes} */
	int			values;			/* ONNX values that live in its output */
	int			n_w;
	tl_weight	w[TL_MAX_WEIGHTS];
} onnx_layer;

/* A node mapped as another op (onnx_patterns.c), or skipped. */
typedef struct onnx_rewrite
{
	int			skip;
	const char *op;
	char	   *input[6];
	int			n_input;
	Onnx__AttributeProto attr;
	Onnx__AttributeProto *attrs[1];
	int			n_attr;
} onnx_rewrite;

typedef struct onnx_ctx
{
	const Onnx__GraphProto *g;
	int64_t		opset;
	size_t		budget;			/* bytes constants and weights may still take */
	onnx_value *values;
	int			n_values,
				cap_values;
	int		   *slots;			/* hash of value names → index + 1 */
	int			n_slots;
	onnx_layer *layers;
	int			n_layers,
				cap_layers;
	onnx_rewrite *rw;			/* per node */
	const Onnx__NodeProto *node;	/* the node being mapped (messages) */
	const char *input_name;
} onnx_ctx;

/* ---- onnx_decode.c ---------------------------------------------------- */
Onnx__ModelProto *onnx_unpack(const void *data, size_t len, tl_status *st);
void		onnx_unpack_free(Onnx__ModelProto *mp);
/* Reads a TensorProto into v (a constant): float or int64 values. */
int			onnx_read_tensor(const Onnx__TensorProto *t, size_t *budget,
							 onnx_value *v, tl_status *st);
const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *n, const char *name);
int64_t		onnx_attr_int(const Onnx__NodeProto *n, const char *name, int64_t dflt);
float		onnx_attr_float(const Onnx__NodeProto *n, const char *name, float dflt);
/* The ints of an attribute (NULL and *count 0 when absent). */
const int64_t *onnx_attr_ints(const Onnx__NodeProto *n, const char *name, int *count);
const char *onnx_attr_string(const Onnx__NodeProto *n, const char *name,
							 const char *dflt, char *buf, size_t len);

/* ---- onnx_graph.c ------------------------------------------------------- */

int			onnx_fail_node(onnx_ctx *cx, tl_status *st, tl_code code,
						   const char *fmt,...) __attribute__((format(printf, 4, 5)));
onnx_value *onnx_input(onnx_ctx *cx, int k);	/* NULL if absent or "" */
onnx_value *onnx_find(onnx_ctx *cx, const char *name);
onnx_value *onnx_define(onnx_ctx *cx, const char *name, tl_status *st);
/* Emits a layer reading the given layers; returns its index or -1. */
int			onnx_emit(onnx_ctx *cx, const char *cls, const char *suffix, json_t *config,
					  const int *inputs, int n_in, tl_status *st);
/* Adds a weight to layer li (takes ownership of data). */
int			onnx_add_weight(onnx_ctx *cx, int li, float *data, int nd, const int *dims,
							tl_status *st);
/* The layer holding v with its per-sample axes in `order` (a Permute if needed). */
int			onnx_in_order(onnx_ctx *cx, onnx_value *v, const int *order, tl_status *st);
/* v's non-batch ONNX axes in ONNX order; with `last` >= 0, that axis moved last. */
void		onnx_std_order(const onnx_value *v, int last, int *order);
/* The internal position of ONNX axis a, or -1. */
int			onnx_internal_axis(const onnx_value *v, int a);
/* Normalises a possibly negative axis against rank; -1 when out of range. */
int			onnx_axis(int64_t a, int rank);
/* Defines the node's output k as a dynamic value shaped like `like`, in layer li. */
onnx_value *onnx_output_like(onnx_ctx *cx, int k, const onnx_value *like, int li,
							 tl_status *st);

/* ---- onnx_patterns.c ---------------------------------------------------- */
void		onnx_match_patterns(onnx_ctx *cx);

/* ---- onnx_fold.c ---------------------------------------------------------- */
/* 1 when the node was folded into constants, 0 when it is not foldable, -1. */
int			onnx_fold(onnx_ctx *cx, const Onnx__NodeProto *n, tl_status *st);
int			onnx_const_alloc(onnx_ctx *cx, onnx_value *v, int is_int, int64_t count,
							 tl_status *st);
/* Advances a row-major multi-index over dims (wrapping to all zeros at the end). */
void		onnx_next_index(int64_t *idx, const int64_t *dims, int rank);

/* ---- onnx_ops.c ------------------------------------------------------------- */
int			onnx_map_node(onnx_ctx *cx, const Onnx__NodeProto *n, tl_status *st);

#endif							/* ONNX_INT_H */
