/*
 * onnx_ops.h — what the ONNX operator mappers share (onnx_ops.c: the table,
 * pass-through, activations, arithmetic, dense; onnx_ops_window.c:
 * convolution, pooling, reductions, normalisation; onnx_ops_shape.c:
 * shapes, embeddings, gathers, slices; onnx_ops_recurrent.c: LSTM, GRU and
 * self-attention).
 */
#ifndef ONNX_OPS_H
#define ONNX_OPS_H

#include "format/onnx_int.h"

/* a convolution's or pooling's window, from the node's attributes */
typedef struct onnx_window
{
	int			rank;			/* spatial axes: 1 or 2 */
	int			k[2], s[2], d[2];
	int			pb[2], pa[2];	/* explicit padding before, after */
	const char *padding;		/* "valid" or "same" once pb/pa are absorbed */
} onnx_window;

int onnx_unsupported(onnx_ctx *cx, tl_status *st, const char *what);
onnx_value *onnx_dyn_in(onnx_ctx *cx, int k, tl_status *st);
onnx_value *onnx_const_in(onnx_ctx *cx, int k, int max_rank, tl_status *st);
float	   *onnx_floats_of(const onnx_value *v);
int onnx_map_identity(onnx_ctx *cx, tl_status *st);
int onnx_map_activation(onnx_ctx *cx, tl_status *st);
int onnx_map_softmax(onnx_ctx *cx, tl_status *st);
int onnx_map_binary(onnx_ctx *cx, tl_status *st);
int onnx_map_gemm(onnx_ctx *cx, tl_status *st);
int onnx_map_matmul(onnx_ctx *cx, tl_status *st);
int onnx_window_input(onnx_ctx *cx, onnx_value *x, const onnx_window *w, float pad_value, int64_t *len, tl_status *st);
int onnx_window_output(onnx_ctx *cx, onnx_value *x, const onnx_window *w, const int64_t *len, int channels, int li, int ceil_mode, tl_status *st);
int onnx_map_conv(onnx_ctx *cx, tl_status *st);
int onnx_map_pool(onnx_ctx *cx, tl_status *st);
int onnx_map_global_pool(onnx_ctx *cx, tl_status *st);
int onnx_map_reduce(onnx_ctx *cx, tl_status *st);
int onnx_map_batchnorm(onnx_ctx *cx, tl_status *st);
int onnx_map_layernorm(onnx_ctx *cx, tl_status *st);
int onnx_map_flatten(onnx_ctx *cx, tl_status *st);
int onnx_map_reshape(onnx_ctx *cx, tl_status *st);
int onnx_map_transpose(onnx_ctx *cx, tl_status *st);
int onnx_map_squeeze(onnx_ctx *cx, tl_status *st);
int onnx_map_concat(onnx_ctx *cx, tl_status *st);
int onnx_map_pad(onnx_ctx *cx, tl_status *st);
int onnx_map_gather(onnx_ctx *cx, tl_status *st);
int onnx_map_slice(onnx_ctx *cx, tl_status *st);
int onnx_map_rnn(onnx_ctx *cx, tl_status *st);
int onnx_map_attention(onnx_ctx *cx, tl_status *st);

#endif							/* ONNX_OPS_H */
