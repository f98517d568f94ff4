/*
 * keras_nested.c — nested models and shared layers in a Functional model's
 * config, flattened into one layer list before the graph is built
 * (keras_graph.c).
 *
 * A Functional model may call a layer at several places (a shared layer)
 * and hold whole models as layers (a pretrained base).  tl_keras_flatten
 * rewrites its layer list into one entry per call of a plain layer, each
 * with one inbound node naming entries of the new list: call k > 0 of layer
 * "x" becomes "x:k", reading x's weights again; a nested model's layers
 * join the list, its inputs replaced by the tensors it was called on and its
 * output standing for it; they read their weights from the nested model's
 * group (legacy .h5), picking those whose path names them.  A nested model
 * is called once.
 */
#include <string.h>

#include "format/tl_format.h"

#define MAX_NESTING 8

typedef struct flat
{
	json_t	   *list;			/* the new entries */
	json_t	   *keys;			/* "layer:call" -> name in the new list */
	json_t	   *alias;			/* "model:0", an inner input's key -> the key it stands for */
} flat;

static const char *
call_key(char *buf, size_t len, const char *name, int node)
{
	snprintf(buf, len, "%s:%d", name, node);
	return buf;
}

/*
 * The keys a call reads, as a JSON array of strings: its positional inputs,
 * then those a MultiHeadAttention takes by keyword (value, key), which
 * Keras 2 records in its first input's kwargs and Keras 3 in "kwargs".
 */
static json_t *
call_inputs(json_t *node, const char *cls, const char *layer, tl_status *st)
{
	static const char *const by_keyword[] = {"value", "key"};
	tl_inbound	ib = {0};
	json_t	   *keys = json_pack("[]");
	char		k[300];

	if (keys == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (node && tl_keras_inbound(node, &ib, layer, st) < 0)
	{
		json_decref(keys);
		return NULL;
	}
	if (node && strcmp(cls, "MultiHeadAttention") == 0)
	{
		json_t	   *kw = json_is_object(node) ? json_object_get(node, "kwargs")
			: json_array_get(json_array_get(node, 0), 3);

		for (int i = 0; i < 2; i++)
			if (json_object_get(kw, by_keyword[i]) &&
				tl_keras_inbound(json_object_get(kw, by_keyword[i]), &ib, layer, st) < 0)
			{
				json_decref(keys);
				return NULL;
			}
	}
	for (int i = 0; i < ib.n; i++)
		json_array_append_new(keys, json_string(call_key(k, sizeof(k), ib.names[i], ib.nodes[i])));
	return keys;
}

/* Adds call `node` of layer entry e, reading `inputs` (keys). */
static int
add_call(flat *f, json_t *e, const char *name, int node, json_t *inputs,
		 const char *group, tl_status *st)
{
	char		fname[300],
				key[300];
	json_t	   *cfg = json_copy(json_object_get(e, "config"));
	json_t	   *ne = json_pack("{s:O, s:s}", "class_name", json_object_get(e, "class_name"), "name", "");
	json_t	   *refs = json_pack("[]");
	size_t		i;
	json_t	   *v;

	if (cfg == NULL || ne == NULL || refs == NULL)
	{
		json_decref(cfg);
		json_decref(ne);
		json_decref(refs);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	}
	if (node > 0)
		snprintf(fname, sizeof(fname), "%s:%d", name, node);
	else
		snprintf(fname, sizeof(fname), "%s", name);
	json_object_set_new(cfg, "name", json_string(fname));
	json_object_set_new(ne, "name", json_string(fname));
	json_object_set_new(ne, "config", cfg);
	json_array_foreach(inputs, i, v)
		json_array_append_new(refs, json_pack("[O, i, i]", v, 0, 0));
	json_object_set_new(ne, "inbound_nodes", json_array_size(refs) ? json_pack("[o]", refs) : json_pack("[]"));
	if (json_array_size(refs) == 0)
		json_decref(refs);
	if (group || node > 0)
	{
		/* weights: from another group, those whose path names this layer */
		json_object_set_new(ne, "tl_weight_group", json_string(group ? group : name));
		json_object_set_new(ne, "tl_weight_key", json_string(name));
	}
	json_array_append_new(f->list, ne);
	json_object_set_new(f->keys, call_key(key, sizeof(key), name, node), json_string(fname));
	return 0;
}

static int	flatten_model(flat *f, const char *cls, json_t *config, const char *group,
						  json_t *inputs, int depth, char *out_key, size_t out_len,
						  tl_status *st);

static int
is_model_class(const char *cls)
{
	return strcmp(cls, "Sequential") == 0 || strcmp(cls, "Functional") == 0 ||
		strcmp(cls, "Model") == 0;
}

/* One layer entry of a Functional model: its calls, or a nested model. */
static int
flatten_entry(flat *f, json_t *e, json_t *io_inputs, const char *group, json_t *inputs,
			  int depth, tl_status *st)
{
	const char *name = tl_keras_layer_name(e);
	const char *cls = tl_cfg_str(e, "class_name", NULL);
	json_t	   *nodes = json_object_get(e, "inbound_nodes");
	char		key[300],
				out[300];
	json_t	   *in;
	int			rc;

	if (name == NULL || cls == NULL)
		return tl_fail(st, TL_ERR_MODEL, "a layer entry lacks class_name or name");
	if (is_model_class(cls))
	{
		if (json_array_size(nodes) != 1)
			return tl_fail(st, TL_ERR_UNSUPPORTED, "nested model \"%s\" is called %d times; once is supported",
						   name, (int) json_array_size(nodes));
		if ((in = call_inputs(json_array_get(nodes, 0), cls, name, st)) == NULL)
			return -1;
		rc = flatten_model(f, cls, json_object_get(e, "config"), group ? group : name, in,
						   depth + 1, out, sizeof(out), st);
		json_decref(in);
		if (rc == 0)
			json_object_set_new(f->alias, call_key(key, sizeof(key), name, 0), json_string(out));
		return rc;
	}
	if (strcmp(cls, "InputLayer") == 0 && inputs)
	{
		/* a nested model's input is the tensor it was called on */
		int			single = json_is_string(json_array_get(io_inputs, 0));

		for (size_t i = 0; i < (single ? 1 : json_array_size(io_inputs)); i++)
		{
			json_t	   *spec = single ? io_inputs : json_array_get(io_inputs, i);
			const char *in_name = json_string_value(json_array_get(spec, 0));

			if (in_name && strcmp(name, in_name) == 0 && i < json_array_size(inputs))
			{
				json_object_set(f->alias, call_key(key, sizeof(key), name, 0), json_array_get(inputs, i));
				return 0;
			}
		}
		return tl_fail(st, TL_ERR_MODEL, "nested InputLayer \"%s\" is not among its model's inputs", name);
	}
	if (json_array_size(nodes) == 0)
		return add_call(f, e, name, 0, NULL, group, st);
	for (size_t k = 0; k < json_array_size(nodes); k++)
	{
		if ((in = call_inputs(json_array_get(nodes, k), cls, name, st)) == NULL)
			return -1;
		rc = add_call(f, e, name, (int) k, in, group, st);
		json_decref(in);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/*
 * The layers of a model called on `inputs` (keys; NULL for the outermost
 * model), into f; out_key receives the key of its output.
 */
static int
flatten_model(flat *f, const char *cls, json_t *config, const char *group,
			  json_t *inputs, int depth, char *out_key, size_t out_len, tl_status *st)
{
	json_t	   *list = json_is_array(config) ? config : json_object_get(config, "layers");
	json_t	   *outs = json_object_get(config, "output_layers");
	int			n_out;
	const char *o;

	if (depth > MAX_NESTING)
		return tl_fail(st, TL_ERR_LIMIT, "models nested more than %d deep", MAX_NESTING);
	if (!json_is_array(list))
		return tl_fail(st, TL_ERR_MODEL, "a nested model has no layer list");
	if (strcmp(cls, "Sequential") == 0)
	{
		/* a chain from the tensor it was called on */
		char		prev[300];
		json_t	   *e;
		size_t		i;

		if (inputs == NULL || json_array_size(inputs) != 1)
			return tl_fail(st, TL_ERR_MODEL, "a nested Sequential model takes one input");
		snprintf(prev, sizeof(prev), "%s", json_string_value(json_array_get(inputs, 0)));
		json_array_foreach(list, i, e)
		{
			const char *name = tl_keras_layer_name(e);
			json_t	   *in;
			int			rc;

			if (strcmp(tl_cfg_str(e, "class_name", ""), "InputLayer") == 0)
				continue;
			if (name == NULL || is_model_class(tl_cfg_str(e, "class_name", "")))
				return tl_fail(st, TL_ERR_UNSUPPORTED, "a nested Sequential model holds a model or an unnamed layer");
			in = json_pack("[s]", prev);
			rc = in ? add_call(f, e, name, 0, in, group, st) : tl_fail(st, TL_ERR_NOMEM, "out of memory");
			json_decref(in);
			if (rc < 0)
				return -1;
			call_key(prev, sizeof(prev), name, 0);
		}
		snprintf(out_key, out_len, "%s", prev);
		return 0;
	}
	for (size_t i = 0; i < json_array_size(list); i++)
		if (flatten_entry(f, json_array_get(list, i), json_object_get(config, "input_layers"),
						  group, inputs, depth, st) < 0)
			return -1;
	o = tl_keras_io_name(outs, &n_out);
	if (o == NULL || n_out != 1)
		return tl_fail(st, TL_ERR_UNSUPPORTED, "a model with %d outputs; one is supported", n_out);
	/* ["name", node, tensor] or [["name", node, tensor]] */
	{
		json_t	   *spec = json_is_string(json_array_get(outs, 0)) ? outs : json_array_get(outs, 0);

		call_key(out_key, out_len, o, (int) json_integer_value(json_array_get(spec, 1)));
	}
	return 0;
}

/* The name in the flat list of a key, through the aliases; NULL if none. */
static const char *
resolve(const flat *f, const char *key)
{
	for (int hops = 0; key && hops < TL_MAX_LAYERS; hops++)
	{
		json_t	   *a = json_object_get(f->alias, key);

		if (a == NULL)
			return json_string_value(json_object_get(f->keys, key));
		key = json_string_value(a);
	}
	return NULL;
}

/* The entry of the new list named name, or NULL. */
static json_t *
entry_named(const flat *f, const char *name)
{
	json_t	   *e;
	size_t		i;

	json_array_foreach(f->list, i, e)
		if (strcmp(tl_cfg_str(e, "name", ""), name) == 0)
		return e;
	return NULL;
}

/*
 * Several inputs: the model takes one flat input holding the inputs'
 * values one after the other, in the order of input_layers, and each
 * InputLayer becomes a TLInputSlice of it (nn/tl_input_slice.c) with its
 * declared shape.  Returns the packed input's name, or NULL.
 */
static const char *
pack_inputs(flat *f, json_t *ins, int n_in, tl_status *st)
{
	int64_t		total = 0;
	json_t	   *packed;

	for (int i = 0; i < n_in; i++)
	{
		const char *name = json_string_value(json_array_get(json_array_get(ins, i), 0));
		json_t	   *e = name ? entry_named(f, name) : NULL;
		json_t	   *cfg = json_object_get(e, "config");
		json_t	   *bs = json_object_get(cfg, "batch_input_shape");
		json_t	   *shape = json_pack("[]");
		int64_t		count = 1;

		if (bs == NULL || json_is_null(bs))
			bs = json_object_get(cfg, "batch_shape");
		if (shape == NULL || e == NULL || strcmp(tl_cfg_str(e, "class_name", ""), "InputLayer") != 0 ||
			!json_is_array(bs) || json_array_size(bs) < 2 || json_array_size(bs) > TL_MAX_DIMS + 1)
		{
			json_decref(shape);
			tl_fail(st, TL_ERR_MODEL, "input %d of the model is not an InputLayer declaring its shape", i);
			return NULL;
		}
		for (size_t k = 1; k < json_array_size(bs); k++)
		{
			json_t	   *d = json_array_get(bs, k);

			if (!json_is_integer(d) || json_integer_value(d) < 1 ||
				(count *= json_integer_value(d)) > (1 << 30))
			{
				json_decref(shape);
				tl_fail(st, TL_ERR_UNSUPPORTED,
						"input \"%s\": a model with several inputs needs every input's dimensions declared",
						name);
				return NULL;
			}
			json_array_append(shape, d);
		}
		json_object_set_new(e, "class_name", json_string("TLInputSlice"));
		json_object_set_new(e, "config", json_pack("{s:s, s:I, s:o}", "name", name,
												   "offset", (json_int_t) total, "shape", shape));
		json_object_set_new(e, "inbound_nodes", json_pack("[[[s, i, i]]]", "tl_inputs", 0, 0));
		if ((total += count) > (1 << 30))
		{
			tl_fail(st, TL_ERR_LIMIT, "the model's inputs hold more than 2^30 values");
			return NULL;
		}
	}
	packed = json_pack("{s:s, s:s, s:{s:s, s:[n, I]}, s:[]}", "class_name", "InputLayer",
					   "name", "tl_inputs", "config", "name", "tl_inputs",
					   "batch_input_shape", (json_int_t) total, "inbound_nodes");
	if (packed == NULL || json_array_insert_new(f->list, 0, packed) < 0)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		return NULL;
	}
	return "tl_inputs";
}

/*
 * A Functional model's config with nested models expanded and one entry
 * per call of each layer: {"layers", "input_layers", "output_layers"}
 * over the new names.  NULL on failure.
 */
json_t *
tl_keras_flatten(json_t *config, tl_status *st)
{
	flat		f = {json_pack("[]"), json_pack("{}"), json_pack("{}")};
	json_t	   *ins = json_object_get(config, "input_layers");
	json_t	   *res = NULL,
			   *e;
	char		out[300],
				key[300];
	const char *in_name,
			   *r;
	int			n_in;
	size_t		i;

	if (f.list == NULL || f.keys == NULL || f.alias == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		goto done;
	}
	in_name = tl_keras_io_name(ins, &n_in);
	if (in_name == NULL || n_in < 1 || n_in > TL_MAX_INBOUND)
	{
		tl_fail(st, TL_ERR_UNSUPPORTED, "the model has %d inputs; 1 to %d are supported",
				n_in, TL_MAX_INBOUND);
		goto done;
	}
	if (flatten_model(&f, "Functional", config, NULL, NULL, 0, out, sizeof(out), st) < 0)
		goto done;
	/* every call's inputs, from keys to names in the new list */
	json_array_foreach(f.list, i, e)
	{
		json_t	   *node = json_array_get(json_object_get(e, "inbound_nodes"), 0);
		json_t	   *ref;
		size_t		j;

		json_array_foreach(node, j, ref)
		{
			const char *k = json_string_value(json_array_get(ref, 0));

			if ((r = resolve(&f, k)) == NULL)
			{
				tl_fail(st, TL_ERR_MODEL, "layer \"%s\" takes input from unknown layer \"%s\"",
						tl_keras_layer_name(e), k);
				goto done;
			}
			json_array_set_new(ref, 0, json_string(r));
		}
	}
	r = n_in > 1 ? pack_inputs(&f, ins, n_in, st) : resolve(&f, call_key(key, sizeof(key), in_name, 0));
	if (n_in > 1 && r == NULL)
		goto done;
	if (r == NULL || resolve(&f, out) == NULL)
	{
		tl_fail(st, TL_ERR_MODEL, "the model's input or output layer is not in its layer list");
		goto done;
	}
	res = json_pack("{s:O, s:[[s, i, i]], s:[[s, i, i]]}", "layers", f.list,
					"input_layers", r, 0, 0, "output_layers", resolve(&f, out), 0, 0);
	if (res == NULL)
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
done:
	json_decref(f.list);
	json_decref(f.keys);
	json_decref(f.alias);
	return res;
}
