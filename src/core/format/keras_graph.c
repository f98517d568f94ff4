/*
 * keras_graph.c — the layer graph of a Keras model from its JSON config.
 *
 * Sequential models are a chain; Functional models list each layer's
 * producers in "inbound_nodes", written by Keras 2 as nested lists
 * [[["name", node, tensor, {}], ...]] and by Keras 3 as {"args": [...]}
 * holding "__keras_tensor__" objects whose "keras_history" names the
 * producer.  Layers are ordered so that producers come first; layers[0] is
 * the model's single input.
 */
#include <string.h>

#include "format/tl_format.h"

/* Reads a Keras shape list with its batch entry first; null → -1. */
static int
parse_batch_shape(json_t *v, int has_batch, tl_shape *out, const char *layer,
				  tl_status *st)
{
	int			n = (int) json_array_size(v) - (has_batch ? 1 : 0);

	if (!json_is_array(v) || n < 1 || n > TL_MAX_DIMS)
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\": input shape must list 1 to %d dimensions after the batch",
					   layer, TL_MAX_DIMS);
	out->nd = n;
	for (int i = 0; i < n; i++)
	{
		json_t	   *e = json_array_get(v, i + (has_batch ? 1 : 0));

		if (json_is_null(e))
			out->d[i] = -1;
		else if (json_is_integer(e) && json_integer_value(e) >= 1 &&
				 json_integer_value(e) <= (1 << 30))
			out->d[i] = (int) json_integer_value(e);
		else
			return tl_fail(st, TL_ERR_MODEL, "layer \"%s\": input shape entries must be positive integers or null",
						   layer);
	}
	return 0;
}

/* The input shape a layer config declares, if any (0 = found, 1 = none). */
static int
declared_input_shape(json_t *cfg, tl_shape *out, const char *layer, tl_status *st)
{
	json_t	   *v;

	if ((v = json_object_get(cfg, "batch_input_shape")) != NULL && !json_is_null(v))
		return parse_batch_shape(v, 1, out, layer, st);
	if ((v = json_object_get(cfg, "batch_shape")) != NULL && !json_is_null(v))
		return parse_batch_shape(v, 1, out, layer, st);
	if ((v = json_object_get(cfg, "input_shape")) != NULL && !json_is_null(v))
		return parse_batch_shape(v, 0, out, layer, st);
	return 1;
}

/*
 * Keras 3 saves a layer's weights under layers/<snake_case class name>,
 * numbered _1, _2... in the order the model lists its layers (InputLayers
 * excluded) — not under the layer's own name.
 */
static void
snake_case(const char *cls, char *out, size_t len)
{
	size_t		o = 0;

	for (size_t i = 0; cls[i] && o + 2 < len; i++)
	{
		char		c = cls[i];
		int			upper = (c >= 'A' && c <= 'Z');

		if (!((c >= 'a' && c <= 'z') || upper || (c >= '0' && c <= '9') || c == '_'))
			continue;
		/* "aB" → "a_b"; "xAbc" (an upper letter opening a word) → "x_abc" */
		if (upper && i > 0 &&
			((cls[i - 1] >= 'a' && cls[i - 1] <= 'z') ||
			 (cls[i + 1] >= 'a' && cls[i + 1] <= 'z')))
			out[o++] = '_';
		out[o++] = upper ? (char) (c - 'A' + 'a') : c;
	}
	out[o] = '\0';
}

static int
assign_store_names(tl_layer *layers, int n, const int *config_order, tl_status *st)
{
	for (int k = 0; k < n; k++)
	{
		tl_layer   *l = &layers[config_order ? config_order[k] : k];
		char		base[256],
					name[300];
		int			seen = 0;

		if (tl_layer_is(l, TL_LAYER_INPUT))
			continue;
		snake_case(l->class_name, base, sizeof(base));
		for (int j = 0; j < k; j++)
		{
			tl_layer   *p = &layers[config_order ? config_order[j] : j];

			if (!tl_layer_is(p, TL_LAYER_INPUT) && strcmp(p->class_name, l->class_name) == 0)
				seen++;
		}
		if (seen)
			snprintf(name, sizeof(name), "%s_%d", base, seen);
		else
			snprintf(name, sizeof(name), "%s", base);
		l->store_name = tl_strdup(name);
		if (l->store_name == NULL)
			return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	}
	return 0;
}

const char *
tl_keras_layer_name(json_t *entry)
{
	json_t	   *cfg = json_object_get(entry, "config");
	const char *n = tl_cfg_str(cfg, "name", NULL);

	return n ? n : tl_cfg_str(entry, "name", NULL);
}

/* Sets up layer l from a config entry {class_name, config}. */
static int
init_layer(tl_layer *l, json_t *entry, const tl_cfgctx *cx, tl_status *st)
{
	const char *cls = tl_cfg_str(entry, "class_name", NULL);
	const char *name = tl_keras_layer_name(entry);
	json_t	   *cfg = json_object_get(entry, "config");

	if (cls == NULL || name == NULL || !json_is_object(cfg))
		return tl_fail(st, TL_ERR_MODEL, "a layer entry lacks class_name, name or config");
	l->name = tl_strdup(name);
	l->class_name = tl_strdup(cls);
	if (l->name == NULL || l->class_name == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	if (json_object_get(entry, "tl_weight_group"))
	{
		/* set by flatten_functional only: a shared layer's later call, a nested model's layer */
		l->weight_group = tl_strdup(tl_cfg_str(entry, "tl_weight_group", ""));
		l->weight_key = tl_strdup(tl_cfg_str(entry, "tl_weight_key", ""));
		if (l->weight_group == NULL || l->weight_key == NULL)
			return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	}
	tl_act_parse("linear", cx->keras_major, &l->act);
	if (strcmp(cls, "Sequential") == 0 || strcmp(cls, "Functional") == 0 ||
		strcmp(cls, "Model") == 0)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" is a model (%s) inside a Sequential model; nested models are supported in Functional models",
					   name, cls);
	l->ops = tl_layer_lookup(cls);
	if (l->ops == NULL)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" has class %s, which tensorlens does not support",
					   name, cls);
	if (tl_layer_is(l, TL_LAYER_INPUT))
		return declared_input_shape(cfg, &l->out, name, st) == 1 ?
			tl_fail(st, TL_ERR_MODEL, "InputLayer \"%s\" declares no shape", name) : 0;
	return l->ops->configure ? l->ops->configure(l, cfg, cx, st) : 0;
}

static int
set_inputs(tl_layer *l, const int *idx, int n, tl_status *st)
{
	l->in = tl_malloc(sizeof(int) * (n ? n : 1));
	if (l->in == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	memcpy(l->in, idx, sizeof(int) * n);
	l->n_in = n;
	return 0;
}

static int
build_sequential(tl_model *m, json_t *config, const tl_cfgctx *cx, tl_status *st)
{
	json_t	   *list = json_is_array(config) ? config : json_object_get(config, "layers");
	int			n = (int) json_array_size(list);
	int			has_input,
				first;
	tl_shape	shape;

	if (!json_is_array(list) || n < 1)
		return tl_fail(st, TL_ERR_MODEL, "the Sequential model has no layers");
	if (n > TL_MAX_LAYERS)
		return tl_fail(st, TL_ERR_LIMIT, "the model has %d layers (at most %d supported)", n, TL_MAX_LAYERS);
	has_input = strcmp(tl_cfg_str(json_array_get(list, 0), "class_name", ""), "InputLayer") == 0;
	m->n_layers = n + (has_input ? 0 : 1);
	m->layers = tl_calloc(m->n_layers, sizeof(tl_layer));
	if (m->layers == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");

	first = has_input ? 0 : 1;
	for (int i = 0; i < n; i++)
	{
		tl_layer   *l = &m->layers[first + i];
		int			prev = first + i - 1;

		if (init_layer(l, json_array_get(list, i), cx, st) < 0)
			return -1;
		if (first + i > 0 && set_inputs(l, &prev, 1, st) < 0)
			return -1;
		if (i > 0 && tl_layer_is(l, TL_LAYER_INPUT))
			return tl_fail(st, TL_ERR_MODEL, "InputLayer \"%s\" is not the first layer", l->name);
	}
	if (!has_input)
	{
		/* Keras adds an implicit input named after the first layer */
		tl_layer   *in = &m->layers[0];
		json_t	   *fcfg = json_object_get(json_array_get(list, 0), "config");
		char		name[300];
		int			r = declared_input_shape(fcfg, &shape, m->layers[1].name, st);

		if (r < 0)
			return -1;
		if (r == 1)
		{
			json_t	   *b = json_object_get(config, "build_input_shape");

			if (!json_is_array(b))
				return tl_fail(st, TL_ERR_MODEL, "the model config does not say what input shape the model takes");
			if (parse_batch_shape(b, 1, &shape, m->layers[1].name, st) < 0)
				return -1;
		}
		snprintf(name, sizeof(name), "%s_input", m->layers[1].name);
		in->name = tl_strdup(name);
		in->class_name = tl_strdup("InputLayer");
		if (in->name == NULL || in->class_name == NULL)
			return tl_fail(st, TL_ERR_NOMEM, "out of memory");
		in->ops = tl_layer_lookup("InputLayer");
		in->out = shape;
	}
	m->output = m->n_layers - 1;
	return assign_store_names(m->layers, m->n_layers, NULL, st);
}

/* ---- Functional models --------------------------------------------------- */
static int
add_inbound(tl_inbound *ib, const char *name, json_int_t node, json_int_t tensor,
			const char *layer, tl_status *st)
{
	if (tensor != 0)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" uses output %d of \"%s\": multi-output layers are not supported",
					   layer, (int) tensor, name);
	if (node < 0 || node > TL_MAX_LAYERS)
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" reads call %lld of \"%s\"",
					   layer, (long long) node, name);
	if (ib->n >= TL_MAX_INBOUND)
		return tl_fail(st, TL_ERR_LIMIT, "layer \"%s\" has too many inputs", layer);
	ib->nodes[ib->n] = (int) node;
	ib->names[ib->n++] = name;
	return 0;
}

/* Walks one inbound node in either Keras 2 or Keras 3 form. */
int
tl_keras_inbound(json_t *v, tl_inbound *ib, const char *layer, tl_status *st)
{
	if (json_is_array(v))
	{
		/* Keras 2 entry: ["producer", node_index, tensor_index, {kwargs}] */
		if (json_array_size(v) >= 3 && json_is_string(json_array_get(v, 0)) &&
			json_is_integer(json_array_get(v, 1)))
			return add_inbound(ib, json_string_value(json_array_get(v, 0)),
							   json_integer_value(json_array_get(v, 1)),
							   json_integer_value(json_array_get(v, 2)), layer, st);
		for (size_t i = 0; i < json_array_size(v); i++)
			if (tl_keras_inbound(json_array_get(v, i), ib, layer, st) < 0)
				return -1;
		return 0;
	}
	if (json_is_object(v))
	{
		json_t	   *hist = json_object_get(json_object_get(v, "config"), "keras_history");

		if (json_is_array(hist) && json_array_size(hist) >= 3 &&
			json_is_string(json_array_get(hist, 0)))
			return add_inbound(ib, json_string_value(json_array_get(hist, 0)),
							   json_integer_value(json_array_get(hist, 1)),
							   json_integer_value(json_array_get(hist, 2)), layer, st);
		/* Keras 3 call record: producers are in the positional args */
		if (json_object_get(v, "args"))
			return tl_keras_inbound(json_object_get(v, "args"), ib, layer, st);
	}
	return 0;
}

/* The first layer name in an input_layers/output_layers value. */
const char *
tl_keras_io_name(json_t *v, int *count)
{
	*count = 0;
	if (!json_is_array(v) || json_array_size(v) == 0)
		return NULL;
	if (json_is_string(json_array_get(v, 0)))
	{
		*count = 1;				/* a single ["name", 0, 0] */
		return json_string_value(json_array_get(v, 0));
	}
	*count = (int) json_array_size(v);
	return json_string_value(json_array_get(json_array_get(v, 0), 0));
}

static int
find_index(char **names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/* A Functional model's layer list while it is put in order. */
typedef struct fgraph
{
	int			n;
	char	  **names;			/* as listed */
	int		  **producers;		/* per listed layer, the listed indices it reads */
	int		   *n_prod;
	int		   *order;			/* listed index of the k-th layer to run */
	int		   *placed;
	int		   *pos;			/* place in the run order of each listed layer */
} fgraph;

static void
fgraph_free(fgraph *g)
{
	if (g->producers)
		for (int i = 0; i < g->n; i++)
			tl_free(g->producers[i]);
	tl_free(g->producers);
	tl_free(g->names);
	tl_free(g->n_prod);
	tl_free(g->order);
	tl_free(g->placed);
	tl_free(g->pos);
}

/* Every layer's name, each once. */
static int
read_names(fgraph *g, json_t *list, tl_status *st)
{
	for (int i = 0; i < g->n; i++)
	{
		const char *nm = tl_keras_layer_name(json_array_get(list, i));

		if (nm == NULL)
			return tl_fail(st, TL_ERR_MODEL, "layer %d has no name", i);
		if (find_index(g->names, i, nm) >= 0)
			return tl_fail(st, TL_ERR_MODEL, "two layers are named \"%s\"", nm);
		g->names[i] = (char *) nm;
	}
	return 0;
}

/* The producers of each layer, from its one inbound node. */
static int
read_producers(fgraph *g, json_t *list, tl_status *st)
{
	for (int i = 0; i < g->n; i++)
	{
		json_t	   *nodes = json_object_get(json_array_get(list, i), "inbound_nodes");
		tl_inbound	ib = {0};

		/* the flat list (flatten_functional) has one call per entry */
		if (json_array_size(nodes) == 1 &&
			tl_keras_inbound(json_array_get(nodes, 0), &ib, g->names[i], st) < 0)
			return -1;
		g->producers[i] = tl_malloc(sizeof(int) * (ib.n ? ib.n : 1));
		if (g->producers[i] == NULL)
			return tl_fail(st, TL_ERR_NOMEM, "out of memory");
		for (int k = 0; k < ib.n; k++)
		{
			g->producers[i][k] = find_index(g->names, g->n, ib.names[k]);
			if (g->producers[i][k] < 0)
				return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" takes input from unknown layer \"%s\"",
							   g->names[i], ib.names[k]);
		}
		g->n_prod[i] = ib.n;
	}
	return 0;
}

/* The run order: the input first, then any layer whose producers are placed. */
static int
sort_layers(fgraph *g, const char *in_name, tl_status *st)
{
	int			first = find_index(g->names, g->n, in_name);
	int			done = 0;

	if (first < 0)
		return tl_fail(st, TL_ERR_MODEL, "the input layer \"%s\" is not in the layer list", in_name);
	g->order[done++] = first;
	g->placed[first] = 1;
	while (done < g->n)
	{
		int			progress = 0;

		for (int i = 0; i < g->n; i++)
		{
			int			ready = !g->placed[i] && g->n_prod[i] > 0;

			for (int k = 0; ready && k < g->n_prod[i]; k++)
				ready = g->placed[g->producers[i][k]];
			if (ready)
			{
				g->pos[i] = done;
				g->order[done++] = i;
				g->placed[i] = 1;
				progress = 1;
			}
		}
		if (!progress)
		{
			for (int i = 0; i < g->n; i++)
				if (!g->placed[i])
					return tl_fail(st, TL_ERR_UNSUPPORTED,
								   "layer \"%s\" is not reachable from the input \"%s\" (a second input or a cycle)",
								   g->names[i], in_name);
			return -1;
		}
	}
	return 0;
}

/* Configures m->layers in run order and wires their inputs. */
static int
init_in_order(tl_model *m, const fgraph *g, json_t *list, const tl_cfgctx *cx, tl_status *st)
{
	for (int k = 0; k < g->n; k++)
	{
		int			i = g->order[k];
		tl_layer   *l = &m->layers[k];
		int			idx[TL_MAX_INBOUND];

		if (init_layer(l, json_array_get(list, i), cx, st) < 0)
			return -1;
		if (k == 0 && !tl_layer_is(l, TL_LAYER_INPUT))
			return tl_fail(st, TL_ERR_MODEL, "the model input \"%s\" is not an InputLayer", l->name);
		if (k > 0 && tl_layer_is(l, TL_LAYER_INPUT))
			return tl_fail(st, TL_ERR_UNSUPPORTED, "the model has a second InputLayer \"%s\"", l->name);
		for (int j = 0; j < g->n_prod[i]; j++)
			idx[j] = g->pos[g->producers[i][j]];
		if (k > 0 && set_inputs(l, idx, g->n_prod[i], st) < 0)
			return -1;
	}
	return 0;
}

static int
build_functional(tl_model *m, json_t *config, const tl_cfgctx *cx, tl_status *st)
{
	json_t	   *list = json_object_get(config, "layers");
	int			n = (int) json_array_size(list);
	int			n_in,
				n_out;
	const char *in_name = tl_keras_io_name(json_object_get(config, "input_layers"), &n_in);
	const char *out_name = tl_keras_io_name(json_object_get(config, "output_layers"), &n_out);
	fgraph		g = {.n = n};
	int			rc = -1,
				oi;
	tl_layer   *layers = NULL;

	if (!json_is_array(list) || n < 1)
		return tl_fail(st, TL_ERR_MODEL, "the model has no layers");
	if (n > TL_MAX_LAYERS)
		return tl_fail(st, TL_ERR_LIMIT, "the model has %d layers (at most %d supported)", n, TL_MAX_LAYERS);
	if (n_in != 1 || n_out != 1 || in_name == NULL || out_name == NULL)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "the model has %d inputs and %d outputs; only models with one of each are supported",
					   n_in, n_out);

	g.names = tl_calloc(n, sizeof(char *));
	g.producers = tl_calloc(n, sizeof(int *));
	g.n_prod = tl_calloc(n, sizeof(int));
	g.order = tl_calloc(n, sizeof(int));
	g.placed = tl_calloc(n, sizeof(int));
	g.pos = tl_calloc(n, sizeof(int));
	layers = tl_calloc(n, sizeof(tl_layer));
	if (!g.names || !g.producers || !g.n_prod || !g.order || !g.placed || !g.pos || !layers)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (read_names(&g, list, st) < 0 || read_producers(&g, list, st) < 0 ||
		sort_layers(&g, in_name, st) < 0)
		goto out;
	m->layers = layers;
	m->n_layers = n;
	layers = NULL;
	if (init_in_order(m, &g, list, cx, st) < 0)
		goto out;
	oi = find_index(g.names, n, out_name);
	if (oi < 0)
	{
		tl_fail(st, TL_ERR_MODEL, "the output layer \"%s\" is not in the layer list", out_name);
		goto out;
	}
	m->output = g.pos[oi];
	rc = assign_store_names(m->layers, n, g.pos, st);
out:
	fgraph_free(&g);
	tl_free(layers);
	return rc;
}

int
tl_graph_build(tl_model *m, json_t *root, tl_status *st)
{
	const char *cls = tl_cfg_str(root, "class_name", NULL);
	json_t	   *config = json_object_get(root, "config");
	tl_cfgctx	cx = {m->keras_major};

	if (cls == NULL || config == NULL)
		return tl_fail(st, TL_ERR_MODEL, "the model config has no class_name/config");
	if (strcmp(cls, "Sequential") == 0)
		return build_sequential(m, config, &cx, st);
	if (strcmp(cls, "Model") == 0 || strcmp(cls, "Functional") == 0)
	{
		json_t	   *flat = tl_keras_flatten(config, st);
		int			rc;

		if (flat == NULL)
			return -1;
		rc = build_functional(m, flat, &cx, st);
		json_decref(flat);
		return rc;
	}
	return tl_fail(st, TL_ERR_UNSUPPORTED,
				   "model class %s is not supported (Sequential and Functional models are)", cls);
}
