/*
 * tl_format.h — what the readers of model files share: the Keras
 * containers (HDF5, zip) and config, and the flat stream a parser process
 * sends back.  They build an nn graph (nn/tl_model_int.h); nn knows
 * nothing of them.
 */
#ifndef TL_FORMAT_H
#define TL_FORMAT_H

#include "nn/tl_model_int.h"

/*
 * keras_load.c: tl_model_build parses m->config_json (format and
 * keras_version set) into m->layers and infers their shapes; no weights
 * are needed.  (tl_model_load, the whole load, is in base/tl_core.h.)
 */
int			tl_model_build(tl_model *m, tl_status *st);

/*
 * tl_model_flat.c: a loaded model as a flat byte stream (what a parser
 * process sends back, see tl_isolate.c) and back.  tl_flat_write_* call
 * `write` for consecutive pieces; it returns 0 or -1.  tl_flat_read
 * treats its input as untrusted: every length is checked, the config is
 * parsed again and the weights are bound as after tl_model_load.  A stream
 * written by tl_flat_write_status carries a failure, which tl_flat_read
 * copies into st.
 */
typedef int (*tl_flat_writer) (void *arg, const void *p, size_t n);
int			tl_flat_write_model(const tl_model *m, tl_flat_writer write, void *arg);
int			tl_flat_write_status(const tl_status *failure, tl_flat_writer write, void *arg);
tl_model   *tl_flat_read(const void *data, size_t len, const tl_limits *lim,
						 tl_status *st);

/* keras_graph.c: builds m->layers from the parsed model config. */
int			tl_graph_build(tl_model *m, json_t *root, tl_status *st);

/* Pieces of a Keras config that keras_graph.c and keras_nested.c both read. */
#define TL_MAX_INBOUND 64
typedef struct tl_inbound
{
	int			n;
	const char *names[TL_MAX_INBOUND];
	int			nodes[TL_MAX_INBOUND];	/* which call of the producer */
} tl_inbound;

/* A layer entry's name (config.name, else name), or NULL. */
const char *tl_keras_layer_name(json_t *entry);
/* Appends the producers one inbound node (Keras 2 or 3 form) names. */
int			tl_keras_inbound(json_t *node, tl_inbound *ib, const char *layer, tl_status *st);
/* The first layer name of input_layers/output_layers; *count of them. */
const char *tl_keras_io_name(json_t *v, int *count);
/*
 * A Functional model's config with nested models expanded and one entry
 * per call of each layer (keras_nested.c), or NULL.
 */
json_t	   *tl_keras_flatten(json_t *config, tl_status *st);

/* keras_h5.c: HDF5 access. */
typedef struct tl_h5 tl_h5;
int			tl_h5_is_hdf5(const void *data, size_t len);
/* Initialises libhdf5 (10-15 ms) without reading any file. */
void		tl_h5_init(void);
/* keras_h5_check.c: superblock and global heap sanity, before libhdf5. */
int			tl_h5_check_image(const void *data, size_t len, tl_status *st);
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

/*
 * onnx_*.c: an ONNX ModelProto (recognised by its first field) as a layer
 * graph; its config_json is the Keras Functional config of the layers it
 * was mapped onto (format "onnx").
 */
int			tl_onnx_is_onnx(const void *data, size_t len);
tl_model   *tl_onnx_load(const void *data, size_t len, const tl_limits *lim,
						 tl_status *st);

#endif							/* TL_FORMAT_H */
