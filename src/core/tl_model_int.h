/*
 * tl_model_int.h — the model structure shared by the loader and the runner.
 */
#ifndef TL_MODEL_INT_H
#define TL_MODEL_INT_H

#include "tl_layer.h"

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

/* keras_graph.c: builds m->layers from the parsed model config. */
int			tl_graph_build(tl_model *m, json_t *root, tl_status *st);

/* keras_h5.c: HDF5 access. */
typedef struct tl_h5 tl_h5;
int			tl_h5_is_hdf5(const void *data, size_t len);
tl_h5	   *tl_h5_open(const void *data, size_t len, tl_status *st);
void		tl_h5_close(tl_h5 *h);
/* A string attribute of the root ("" path) or of a group; NULL if absent. */
char	   *tl_h5_root_attr(tl_h5 *h, const char *name, tl_status *st);
/* Reads every layer's weights: legacy layout (model_weights/...) or v3. */
int			tl_h5_read_weights(tl_h5 *h, tl_model *m, int v3, size_t max_bytes,
							   tl_status *st);

/* keras_zip.c: reads one member of a zip image (NULL if absent). */
int			tl_zip_is_zip(const void *data, size_t len);
int			tl_zip_read(const void *data, size_t len, const char *member,
						size_t max_bytes, char **out, size_t *out_len,
						tl_status *st);

#endif							/* TL_MODEL_INT_H */
