/*
 * tl_model_int.h — the model structure shared by the loader and the runner.
 */
#ifndef TL_MODEL_INT_H
#define TL_MODEL_INT_H

#include "nn/tl_layer.h"

struct tl_model
{
	const char *format;			/* static string */
	char	   *keras_version;
	char	   *config_json;
	char	   *training_json;
	int			keras_major;
	int			n_layers;
	tl_layer   *layers;			/* topological order; layers[0] is the input */
	int			output;
	int			takes_tokens;
	int			vocab;
	size_t		weight_bytes;
};

/* Bounds on what a model may declare (JSON text, layers). */
#define TL_MAX_CONFIG_BYTES (16 * 1024 * 1024)
#define TL_MAX_LAYERS 4096

/*
 * tl_model.c: what follows building the layer graph from a file's config.
 * tl_model_finish_graph infers every layer's shape and whether the model
 * takes token ids; tl_model_bind_weights checks the weights read into the
 * layers against their shapes and lets the layers derive what they
 * precompute.
 */
int			tl_model_finish_graph(tl_model *m, tl_status *st);
/* Which layer made the mask each layer's output carries (tl_mask.c). */
int			tl_model_find_masks(tl_model *m, tl_status *st);
int			tl_model_bind_weights(tl_model *m, tl_status *st);

#endif							/* TL_MODEL_INT_H */
