/*
 * tl_conv2d_kernel.h — the direct Conv2D kernel (stride 1, dilation 1) that
 * tl_conv.c runs instead of im2col + sgemm where it applies.
 */
#ifndef TL_CONV2D_KERNEL_H
#define TL_CONV2D_KERNEL_H

#include "nn/tl_layer.h"

/* Whether the layer's geometry is one the direct kernel runs. */
int			tl_conv2d_direct_applies(const tl_layer *l);

/*
 * The kernel and bias packed for the direct kernel (c input channels), to
 * be kept in l->aux; NULL when the layer should keep im2col (few filters and
 * a large kernel: the padded blocks would be far bigger than the kernel),
 * or when out of memory (st set).
 */
float	   *tl_conv2d_pack(const tl_layer *l, int c, tl_status *st);

/*
 * n samples of h x w x c (channels-last) -> oh x ow x filters, windows
 * starting ph rows and pw columns before the input (zero padding); bias
 * added, and ReLU(x) = max(x, 0) applied when relu is set.  Reads the
 * packed kernel from l->aux; 'same' padding uses the runner's scratch.
 */
int			tl_conv2d_direct(const tl_layer *l, tl_exec *ex, const float *x, float *out,
							 int n, int h, int w, int c, int oh, int ow, int ph, int pw,
							 int relu, tl_status *st);

#endif							/* TL_CONV2D_KERNEL_H */
