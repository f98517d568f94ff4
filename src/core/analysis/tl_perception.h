/*
 * tl_perception.h — perception vectors: how each learned feature of each
 * layer responds to a sample, pooled and normalised into one vector.
 */
#ifndef TL_PERCEPTION_H
#define TL_PERCEPTION_H

#include "base/tl_core.h"

typedef struct tl_perception tl_perception;

/*
 * Plans the vector for model m.  layers (n_layers indices) chooses the
 * layers; NULL chooses every layer with learned features (Embedding,
 * Dense, convolutions, recurrent and normalisation layers) except the one
 * that produces the model's output.  use_max pools with max instead of the
 * mean; TL_POOL_AUTO pools as the model does (tl_perception_pools_max).  When the concatenated width exceeds max_width, each block is
 * reduced by a fixed random projection seeded by the layer's name.
 */
#define TL_POOL_AUTO (-1)

/*
 * Whether the model reduces its positions by max only (global max pooling,
 * no global average pooling).  Such a model ignores a position that does
 * not win the max, e.g. the padding of a short review; a mean over
 * positions would describe mostly that padding.
 */
int			tl_perception_pools_max(const tl_model *m);

tl_perception *tl_perception_new(const tl_model *m, const int *layers, int n_layers,
								 int use_max, int max_width, tl_status *st);
void		tl_perception_free(tl_perception *p);
int			tl_perception_width(const tl_perception *p);
int			tl_perception_n_blocks(const tl_perception *p);
/* Layer index and width of block b. */
void		tl_perception_block(const tl_perception *p, int b, int *layer, int *width);

/* Vectors of the n samples of the runner's last forward, into out[n][width]. */
int			tl_perception_compute(const tl_perception *p, const tl_runner *r, int n,
								  float *out, tl_status *st);

/* The default choice: does layer i carry learned features? */
int			tl_layer_has_features(const tl_model *m, int i);

#endif							/* TL_PERCEPTION_H */
