/*
 * tl_layer.h — the layer graph inside the core: what a layer is, how a
 * layer family plugs in (tl_layer_ops), and the helpers families share.
 */
#ifndef TL_LAYER_H
#define TL_LAYER_H

#include <jansson.h>

#include "base/tl_core.h"
#include "nn/tl_activation.h"

#define TL_MAX_WEIGHTS 8

typedef struct tl_layer tl_layer;
typedef struct tl_exec tl_exec;

typedef struct tl_weight
{
	tl_shape	shape;			/* full shape as stored in the file */
	int64_t		n;
	float	   *data;
} tl_weight;

/* What the config parser knows while it configures layers. */
typedef struct tl_cfgctx
{
	int			keras_major;	/* 2 or 3: some defaults differ */
} tl_cfgctx;

typedef enum tl_padding
{
	TL_PAD_VALID,
	TL_PAD_SAME,
	TL_PAD_CAUSAL
} tl_padding;

/*
 * What a layer is, for the code that treats layer kinds alike (runner,
 * backward pass, perception, saliency, config readers): tl_layer_ops.flags.
 */
#define TL_LAYER_INPUT 0x01		/* the model's input (InputLayer) */
#define TL_LAYER_TOKENS 0x02	/* reads token ids (Embedding): no gradient reaches its input */
#define TL_LAYER_LEARNED 0x04	/* has learned features: pooled into the perception vector */
#define TL_LAYER_POSITIONWISE 0x08	/* each output position comes from the same input
									 * position only: Grad-CAM looks through it */
#define TL_LAYER_ACTIVATION 0x10	/* an activation is all it does (nothing fused to keep
									 * for the backward pass) */
#define TL_LAYER_GLOBAL_POOL 0x20	/* reduces all positions to one per feature
									 * (u.gpool.is_max: by max, else the mean) */

/* A sliding window over positions (convolution, pooling); rank 1: axis 1 only. */
typedef struct tl_window
{
	int			rank;
	int			k[2],
				s[2],
				d[2];
	tl_padding	pad;
} tl_window;

/*
 * How a layer that reads an Embedding can run from the token ids instead
 * of the embedding vectors (fusion, nn/tl_fusion.c).
 */
typedef enum tl_token_path
{
	TL_TOKENS_NONE = 0,
	TL_TOKENS_TABLE,			/* from a per-token table the model holds
								 * (tl_model_prepare_fusion) */
	TL_TOKENS_ANY_TABLE,		/* the same, or from one the runner builds once it
								 * pays; also while a backward pass is prepared */
	TL_TOKENS_ROWS				/* from the embedding rows the ids pick, when the
								 * Embedding's output is not computed anyway */
} tl_token_path;

/*
 * What a layer does with the Keras mask its input carries (the steps that
 * Embedding(mask_zero=True) or Masking marked as padding): keeps it on its
 * output (Keras supports_masking), makes one, or drops it (the default, as
 * a Keras layer without supports_masking does).
 */
typedef enum tl_mask_rule
{
	TL_MASK_DROP = 0,
	TL_MASK_KEEP,
	TL_MASK_MAKE
} tl_mask_rule;

typedef struct tl_layer_ops
{
	const char *family;
	/* Reads the layer's own config object. */
	int			(*configure) (tl_layer *l, json_t *cfg, const tl_cfgctx *cx,
							  tl_status *st);
	/* Output shape from input shapes (-1 dims stay unknown where they must). */
	int			(*shape) (const tl_layer *l, const tl_shape *in, int n_in,
						  tl_shape *out, tl_status *st);
	/* Number of weight arrays the file must hold for this layer. */
	int			(*n_weights) (const tl_layer *l);
	/* Checks the weights against the input shape; may precompute. */
	int			(*bind) (tl_layer *l, const tl_shape *in, int n_in,
						 tl_status *st);
	/* Computes n samples. in[i] points at input i (batch-major). */
	int			(*forward) (const tl_layer *l, tl_exec *ex,
							const float *const *in, const tl_shape *in_shape,
							float *out, const tl_shape *out_shape, int n,
							tl_status *st);
	/* Output is the input reinterpreted (no copy): Dropout, Flatten... */
	int			aliases_input;

	/*
	 * The backward pass: given dout, the gradient of a scalar target with
	 * respect to this layer's output for n samples, adds the gradient with
	 * respect to input i to din[i] (NULL when input i needs none).  in and
	 * out are the forward's values for the same samples.  NULL for layers
	 * whose inputs are not differentiable (Embedding: token ids) and for
	 * aliasing layers, whose gradient is their input's.
	 */
	int			(*backward) (const tl_layer *l, tl_exec *ex,
							 const float *const *in, const tl_shape *in_shape,
							 const float *out, const tl_shape *out_shape,
							 const float *dout, float *const *din, int n,
							 tl_status *st);

	unsigned	flags;			/* TL_LAYER_* */

	/* Optional: fills w and returns 1 for a sliding-window layer. */
	int			(*window) (const tl_layer *l, tl_window *w);

	/*
	 * Optional, fusion: how this (configured) layer can run from the token
	 * ids of the Embedding emb it reads; the bytes and the building of its
	 * per-token table (TL_TOKENS_TABLE, TL_TOKENS_ANY_TABLE); the forward
	 * from the ids (table NULL for TL_TOKENS_ROWS; in_shape is the shape of
	 * the Embedding's output, ids_shape that of its input).
	 */
	tl_token_path (*token_path) (const tl_layer *l);
	size_t		(*token_table_bytes) (const tl_layer *l, const tl_layer *emb);
	float	   *(*token_table) (const tl_layer *l, const tl_layer *emb, tl_status *st);
	int			(*forward_tokens) (const tl_layer *l, tl_exec *ex, const tl_layer *emb,
								   const float *table, const float *ids,
								   const tl_shape *ids_shape, const tl_shape *in_shape,
								   float *out, const tl_shape *out_shape, int n,
								   tl_status *st);

	/*
	 * Optional, masks: what the layer's output carries (NULL: dropped);
	 * for TL_MASK_MAKE, make_mask writes the mask of n samples (1 = a real
	 * step, 0 = padding; one value per position of the output but its last
	 * axis) from the layer's input.
	 */
	tl_mask_rule (*mask_rule) (const tl_layer *l);
	void		(*make_mask) (const tl_layer *l, const float *in, const tl_shape *in_shape,
							  int n, float *mask);
} tl_layer_ops;

typedef enum tl_cell
{
	TL_CELL_SIMPLE,
	TL_CELL_LSTM,
	TL_CELL_GRU
} tl_cell;

typedef enum tl_merge
{
	TL_MERGE_CONCAT,
	TL_MERGE_ADD,
	TL_MERGE_SUB,
	TL_MERGE_MUL,
	TL_MERGE_AVG,
	TL_MERGE_MAX,
	TL_MERGE_MIN
} tl_merge;

typedef struct tl_rnn_cfg
{
	tl_cell		cell;
	int			units;
	int			use_bias;
	int			return_sequences;
	int			go_backwards;
	int			reset_after;	/* GRU only */
	tl_act		act;
	tl_act		rec_act;
	int			w;				/* index of this direction's first weight */
} tl_rnn_cfg;

struct tl_layer
{
	char	   *name;
	char	   *class_name;
	char	   *store_name;		/* .keras weight group: snake_case class, numbered */
	const tl_layer_ops *ops;
	int			n_in;
	int		   *in;				/* producer layer indices */
	int			n_w;
	tl_weight	w[TL_MAX_WEIGHTS];
	tl_shape	out;			/* declared output shape (-1 = unknown) */
	int64_t		params;
	tl_act		act;			/* activation fused into the layer */
	char	   *weight_group;	/* legacy .h5: the group holding its weights when
								 * not its own (a shared layer's later call, a
								 * nested model's layer), or NULL */
	char	   *weight_key;		/* there, the path component naming its weights */
	struct tl_layer *inner;		/* the wrapped layer (TimeDistributed): shares
								 * this layer's weights, owns the rest */
	int			mask;			/* the layer that made the mask its output
								 * carries, or 0 (none; layer 0 makes none) */
	float	   *aux;			/* derived per-layer data (freed with the model) */
	float	   *fused;			/* per-token table (tl_model_prepare_fusion), or NULL */
	size_t		fused_bytes;
	union
	{
		struct
		{
			float		value;
		}			masking;	/* Masking */
		struct
		{
			int			rank, kind;
			int			a[2], b[2];	/* crop before/after; upsampling size; repeats */
		}			resize;		/* Cropping, UpSampling, RepeatVector */
		struct
		{
			int			n;		/* length of scale and offset in aux (1: all channels) */
		}			affine;		/* Rescaling, Normalization */
		struct
		{
			int			groups, center, scale;
			float		eps;
		}			gnorm;		/* GroupNormalization, UnitNormalization */
		struct
		{
			int			rank, filters, mult, use_bias, separable, transpose;
			int			k[2], s[2], d[2];
			tl_padding	pad;
		}			dw;			/* DepthwiseConv2D, SeparableConv, ConvTranspose */
		struct
		{
			int			axes[2];	/* per-sample axes, Keras numbering until bound */
			int			normalize;
		}			dot;		/* Dot */
		struct
		{
			int			use_scale;
		}			att;		/* Attention */
		struct
		{
			int			heads, kd, vd, use_bias;
		}			mha;		/* MultiHeadAttention */
		struct
		{
			int			offset;
			tl_shape	shape;
		}			slice;		/* TLInputSlice: one of several inputs */
		struct
		{
			int			input_dim, output_dim, mask_zero;
		}			emb;
		struct
		{
			int			units, use_bias;
		}			dense;
		struct
		{
			int			rank, filters, use_bias;
			int			k[2], s[2], d[2];
			tl_padding	pad;
		}			conv;
		struct
		{
			int			rank, is_max;
			int			k[2], s[2];
			tl_padding	pad;
		}			pool;
		struct
		{
			int			rank, is_max, keepdims;
		}			gpool;
		struct
		{
			int			n_axes;
			int			axes[TL_MAX_DIMS];	/* Keras numbering (batch = 0) */
			int			center, scale;
			float		eps;
		}			norm;		/* BatchNormalization, LayerNormalization */
		struct
		{
			tl_rnn_cfg	dir[2];	/* [1] used by Bidirectional */
			int			bidirectional;
			tl_merge	merge;
		}			rnn;
		struct
		{
			tl_merge	op;
			int			axis;	/* per-sample axis for concat; -1 = last */
		}			merge;
		struct
		{
			tl_shape	target;
		}			reshape;
		struct
		{
			int			n;
			int			perm[TL_MAX_DIMS];
		}			permute;
		struct
		{
			int			rank;
			int			h[2], w[2];	/* before, after */
			float		value;
		}			pad;		/* ZeroPadding1D/2D */
		struct
		{
			int			op;		/* TL_CONST_* (tl_const_op.c) */
		}			cop;		/* ConstantOp */
		struct
		{
			int			axis, n;	/* the indices are in aux (ints) */
		}			take;		/* Take */
		struct
		{
			int			heads;
		}			self_mha;	/* MultiHeadSelfAttention (ONNX) */
	}			u;
};

/* Whether layer l is of a kind (TL_LAYER_*). */
static inline int
tl_layer_is(const tl_layer *l, unsigned flag)
{
	return (l->ops->flags & flag) != 0;
}

/* The window of a sliding-window layer (1), or 0. */
static inline int
tl_layer_window(const tl_layer *l, tl_window *w)
{
	return l->ops->window ? l->ops->window(l, w) : 0;
}

/* How layer l can run from token ids. */
static inline tl_token_path
tl_layer_token_path(const tl_layer *l)
{
	return l->ops->token_path ? l->ops->token_path(l) : TL_TOKENS_NONE;
}

/* ---- execution context ----------------------------------------------- */
/* Grows and returns the runner's scratch area (at least n floats). */
float	   *tl_scratch(tl_exec *ex, size_t n, tl_status *st);

/*
 * Sets *mask to the mask that input `input` (0..3) of the current layer
 * carries, for its n samples of `steps` positions each (1 = a real step),
 * or to NULL when it carries none.  Returns 0, or -1 on failure.
 */
int			tl_exec_mask(tl_exec *ex, int input, int64_t steps, int n,
						 const float **mask, tl_status *st);

/*
 * Fused activations (Dense, Conv) and the backward pass (tl_backward.c).
 * When the runner prepares a backward pass, the forward of a layer with a
 * non-linear fused activation copies its pre-activation to
 * tl_exec_preact() before applying the activation; NULL otherwise.
 */
float	   *tl_exec_preact(tl_exec *ex);
/*
 * The end of a layer with a bias and a fused activation over rows x units
 * outputs: adds bias (unless NULL), keeps the pre-activation when the
 * runner asks for it, applies l->act.
 */
void		tl_exec_bias_act(tl_exec *ex, const tl_layer *l, const float *bias, float *out,
							 int64_t rows, int units);
/* Whether the target of the backward pass is taken before this layer's activation. */
int			tl_exec_before_act(tl_exec *ex);
/*
 * The gradient with respect to the current layer's pre-activation, from
 * dout (rows x len, the activation along len for softmax): dout itself when
 * the activation is linear or the target is taken before it.
 */
const float *tl_exec_act_grad(tl_exec *ex, const tl_layer *l, const float *out,
							  const float *dout, int64_t rows, int64_t len,
							  tl_status *st);

/*
 * Checks that ids (the input of Embedding emb) are token ids it accepts:
 * the fused paths read them without the Embedding running.
 */
int			tl_embedding_check_ids(const tl_layer *emb, const float *ids,
								   const tl_shape *ids_shape, int n, tl_status *st);

/* The mask_rule of a layer that passes its input's mask on (tl_mask.c). */
tl_mask_rule tl_mask_keep(const tl_layer *l);

/* ---- the registry of layer classes ----------------------------------- */
const tl_layer_ops *tl_layer_lookup(const char *class_name);

/* Families (each defined in its own file). */
extern const tl_layer_ops tl_ops_input;
extern const tl_layer_ops tl_ops_identity;
extern const tl_layer_ops tl_ops_masking;
extern const tl_layer_ops tl_ops_resize;
extern const tl_layer_ops tl_ops_affine;
extern const tl_layer_ops tl_ops_prelu;
extern const tl_layer_ops tl_ops_group_norm;
extern const tl_layer_ops tl_ops_depthwise;
extern const tl_layer_ops tl_ops_conv_transpose;
extern const tl_layer_ops tl_ops_dot;
extern const tl_layer_ops tl_ops_time_distributed;
extern const tl_layer_ops tl_ops_attention_dot;
extern const tl_layer_ops tl_ops_input_slice;
extern const tl_layer_ops tl_ops_mha;
extern const tl_layer_ops tl_ops_flatten;
extern const tl_layer_ops tl_ops_reshape;
extern const tl_layer_ops tl_ops_permute;
extern const tl_layer_ops tl_ops_embedding;
extern const tl_layer_ops tl_ops_dense;
extern const tl_layer_ops tl_ops_activation;
extern const tl_layer_ops tl_ops_conv;
extern const tl_layer_ops tl_ops_pool;
extern const tl_layer_ops tl_ops_global_pool;
extern const tl_layer_ops tl_ops_batchnorm;
extern const tl_layer_ops tl_ops_layernorm;
extern const tl_layer_ops tl_ops_rnn;
extern const tl_layer_ops tl_ops_merge;
extern const tl_layer_ops tl_ops_padding;
extern const tl_layer_ops tl_ops_const_op;
extern const tl_layer_ops tl_ops_take;
extern const tl_layer_ops tl_ops_attention;

/* ---- config helpers shared by the families (tl_config_util.c) ---------- */
int			tl_cfg_int(json_t *cfg, const char *key, int dflt, int *out,
					   const tl_layer *l, tl_status *st);
int			tl_cfg_float(json_t *cfg, const char *key, float dflt, float *out,
						 const tl_layer *l, tl_status *st);
int			tl_cfg_bool(json_t *cfg, const char *key, int dflt, int *out,
						const tl_layer *l, tl_status *st);
const char *tl_cfg_str(json_t *cfg, const char *key, const char *dflt);
/* An int or a list of `rank` ints (kernel_size, strides...). */
int			tl_cfg_ints(json_t *cfg, const char *key, int rank, int dflt,
						int *out, const tl_layer *l, tl_status *st);
int			tl_cfg_padding(json_t *cfg, int allow_causal, tl_padding *out,
						   const tl_layer *l, tl_status *st);
int			tl_cfg_activation(json_t *cfg, const char *key, const char *dflt,
							  const tl_cfgctx *cx, tl_act *out,
							  const tl_layer *l, tl_status *st);
int			tl_cfg_channels_last(json_t *cfg, const tl_layer *l, tl_status *st);
/*
 * kernel_size, strides, dilation_rate and padding of a rank-1 or rank-2
 * window layer (channels last); a 1-D layer's are stored as the width of a
 * height-1 2-D one (index 1, with 1 at index 0).
 */
int			tl_cfg_window(json_t *cfg, int rank, int allow_causal, int *k, int *s,
						  int *d, tl_padding *pad, const tl_layer *l, tl_status *st);
/* Converts a Keras axis (batch included, may be negative) to a per-sample one. */
int			tl_keras_axis(int axis, int nd, int *out, const tl_layer *l,
						  tl_status *st);

/* Shape hooks: the output has the input's shape (element-wise layers); the
 * second also requires a known last dimension (per-feature weights, masks). */
int			tl_shape_same(const tl_layer *l, const tl_shape *in, int n_in,
						  tl_shape *out, tl_status *st);
int			tl_shape_same_last_known(const tl_layer *l, const tl_shape *in,
									 int n_in, tl_shape *out, tl_status *st);
/* n_weights hook of a layer with one weight. */
int			tl_one_weight(const tl_layer *l);
/* Checks that weight i broadcasts over a sample of shape s: the same rank,
 * each dimension 1 or the sample's. */
int			tl_weight_broadcasts(const tl_layer *l, int i, const tl_shape *s,
								 const char *what, tl_status *st);

/* Checks that weight i has exactly the given shape. */
int			tl_expect_weight(const tl_layer *l, int i, const char *what,
							 int nd, const int *dims, tl_status *st);

/* Views the per-sample input of a 1-D or 2-D window layer (channels last)
 * as (h, w, c); a 1-D layer has h = 1. */
int			tl_window_dims(const tl_layer *l, int rank, const tl_shape *s,
						   int *h, int *w, int *c, tl_status *st);
/* Output length of a sliding window along one axis. */
int			tl_window_out(int len, int k, int s, int d, tl_padding pad);
/* Zeros before the first window (same/causal padding). */
int			tl_window_pad_before(int len, int k, int s, int d, tl_padding pad);

#endif							/* TL_LAYER_H */
