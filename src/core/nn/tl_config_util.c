/*
 * tl_config_util.c — reading values out of a Keras layer config (JSON).
 *
 * Keras writes the same option in several ways across versions: an int or
 * a one-element list, "alpha" or "negative_slope", an activation name or a
 * serialised object.  These helpers accept the forms that occur and name
 * the layer in every error.
 */
#include <string.h>

#include "nn/tl_layer.h"

static int
bad_value(const tl_layer *l, const char *key, const char *expected, tl_status *st)
{
	return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): config \"%s\" must be %s",
				   l->name, l->class_name, key, expected);
}

int
tl_cfg_int(json_t *cfg, const char *key, int dflt, int *out, const tl_layer *l,
		   tl_status *st)
{
	json_t	   *v = json_object_get(cfg, key);

	if (v == NULL || json_is_null(v))
	{
		*out = dflt;
		return 0;
	}
	if (json_is_array(v) && json_array_size(v) == 1)
		v = json_array_get(v, 0);
	if (json_is_integer(v) && json_integer_value(v) >= -(1 << 30) &&
		json_integer_value(v) <= (1 << 30))
	{
		*out = (int) json_integer_value(v);
		return 0;
	}
	return bad_value(l, key, "an integer", st);
}

int
tl_cfg_float(json_t *cfg, const char *key, float dflt, float *out,
			 const tl_layer *l, tl_status *st)
{
	json_t	   *v = json_object_get(cfg, key);

	if (v == NULL || json_is_null(v))
	{
		*out = dflt;
		return 0;
	}
	if (json_is_number(v))
	{
		*out = (float) json_number_value(v);
		return 0;
	}
	return bad_value(l, key, "a number", st);
}

int
tl_cfg_bool(json_t *cfg, const char *key, int dflt, int *out,
			const tl_layer *l, tl_status *st)
{
	json_t	   *v = json_object_get(cfg, key);

	if (v == NULL || json_is_null(v))
	{
		*out = dflt;
		return 0;
	}
	if (json_is_boolean(v))
	{
		*out = json_is_true(v);
		return 0;
	}
	return bad_value(l, key, "true or false", st);
}

const char *
tl_cfg_str(json_t *cfg, const char *key, const char *dflt)
{
	json_t	   *v = json_object_get(cfg, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

int
tl_cfg_ints(json_t *cfg, const char *key, int rank, int dflt, int *out,
			const tl_layer *l, tl_status *st)
{
	json_t	   *v = json_object_get(cfg, key);

	if (v == NULL || json_is_null(v))
	{
		for (int i = 0; i < rank; i++)
			out[i] = dflt;
		return 0;
	}
	if (json_is_integer(v))
	{
		for (int i = 0; i < rank; i++)
			out[i] = (int) json_integer_value(v);
	}
	else if (json_is_array(v) && (int) json_array_size(v) == rank)
	{
		for (int i = 0; i < rank; i++)
		{
			json_t	   *e = json_array_get(v, i);

			if (!json_is_integer(e))
				return bad_value(l, key, "a list of integers", st);
			out[i] = (int) json_integer_value(e);
		}
	}
	else
		return bad_value(l, key, rank == 1 ? "an integer" : "a list of integers", st);
	for (int i = 0; i < rank; i++)
		if (out[i] < 1 || out[i] > 65536)
			return bad_value(l, key, "between 1 and 65536", st);
	return 0;
}

int
tl_cfg_padding(json_t *cfg, int allow_causal, tl_padding *out,
			   const tl_layer *l, tl_status *st)
{
	const char *p = tl_cfg_str(cfg, "padding", "valid");

	if (strcmp(p, "valid") == 0)
		*out = TL_PAD_VALID;
	else if (strcmp(p, "same") == 0)
		*out = TL_PAD_SAME;
	else if (allow_causal && strcmp(p, "causal") == 0)
		*out = TL_PAD_CAUSAL;
	else
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" (%s): padding \"%s\" is not supported (expected %s)",
					   l->name, l->class_name, p,
					   allow_causal ? "valid, same or causal" : "valid or same");
	return 0;
}

int
tl_cfg_activation(json_t *cfg, const char *key, const char *dflt,
				  const tl_cfgctx *cx, tl_act *out, const tl_layer *l,
				  tl_status *st)
{
	json_t	   *v = json_object_get(cfg, key);
	const char *name = dflt;

	if (json_is_string(v))
		name = json_string_value(v);
	else if (json_is_object(v))
	{
		/* Keras 3 may serialise {"class_name": "function", "config": "relu"} */
		json_t	   *c = json_object_get(v, "config");

		name = json_is_string(c) ? json_string_value(c) :
			tl_cfg_str(v, "class_name", "");
	}
	else if (v != NULL && !json_is_null(v))
		return bad_value(l, key, "an activation name", st);
	if (tl_act_parse(name, cx->keras_major, out) < 0)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" (%s): activation \"%s\" is not supported",
					   l->name, l->class_name, name);
	return 0;
}

int
tl_cfg_channels_last(json_t *cfg, const tl_layer *l, tl_status *st)
{
	const char *f = tl_cfg_str(cfg, "data_format", "channels_last");

	if (strcmp(f, "channels_last") != 0)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "layer \"%s\" (%s): data_format \"%s\" is not supported (expected channels_last)",
					   l->name, l->class_name, f);
	return 0;
}

int
tl_cfg_window(json_t *cfg, int rank, int allow_causal, int *k, int *s, int *d,
			  tl_padding *pad, const tl_layer *l, tl_status *st)
{
	if (tl_cfg_channels_last(cfg, l, st) < 0 ||
		tl_cfg_ints(cfg, "kernel_size", rank, 1, k, l, st) < 0 ||
		tl_cfg_ints(cfg, "strides", rank, 1, s, l, st) < 0 ||
		tl_cfg_ints(cfg, "dilation_rate", rank, 1, d, l, st) < 0 ||
		tl_cfg_padding(cfg, allow_causal, pad, l, st) < 0)
		return -1;
	if (rank == 1)
	{
		k[1] = k[0];
		s[1] = s[0];
		d[1] = d[0];
		k[0] = s[0] = d[0] = 1;
	}
	return 0;
}

int
tl_keras_axis(int axis, int nd, int *out, const tl_layer *l, tl_status *st)
{
	/* Keras counts the batch dimension as axis 0. */
	int			a = axis < 0 ? axis + nd + 1 : axis;

	if (a < 1 || a > nd)
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (%s): axis %d is out of range for an input of rank %d",
					   l->name, l->class_name, axis, nd + 1);
	*out = a - 1;
	return 0;
}

int
tl_one_weight(const tl_layer *l)
{
	(void) l;
	return 1;
}

int
tl_weight_broadcasts(const tl_layer *l, int i, const tl_shape *s,
					 const char *what, tl_status *st)
{
	const tl_shape *w = &l->w[i].shape;
	int			ok = w->nd == s->nd;

	for (int k = 0; ok && k < w->nd; k++)
		ok = w->d[k] == 1 || w->d[k] == s->d[k];
	if (!ok)
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (%s): %s does not broadcast over the input (each dimension 1 or the input's)",
					   l->name, l->class_name, what);
	return 0;
}

int
tl_expect_weight(const tl_layer *l, int i, const char *what, int nd,
				 const int *dims, tl_status *st)
{
	const tl_shape *s = &l->w[i].shape;
	int			ok = (s->nd == nd);

	for (int k = 0; ok && k < nd; k++)
		ok = (s->d[k] == dims[k]);
	if (!ok)
	{
		char		want[96] = "", got[96] = "";
		size_t		o = 0;

		for (int k = 0; k < nd; k++)
			o += snprintf(want + o, sizeof(want) - o, k ? ", %d" : "%d", dims[k]);
		o = 0;
		for (int k = 0; k < s->nd; k++)
			o += snprintf(got + o, sizeof(got) - o, k ? ", %d" : "%d", s->d[k]);
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (%s): weight %d (%s) has shape (%s), expected (%s)",
					   l->name, l->class_name, i, what, got, want);
	}
	return 0;
}

int
tl_window_dims(const tl_layer *l, int rank, const tl_shape *s,
			   int *h, int *w, int *c, tl_status *st)
{
	if (s->nd != rank + 1)
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (%s): expected an input of rank %d, got %d",
					   l->name, l->class_name, rank + 2, s->nd + 1);
	*h = rank == 1 ? 1 : s->d[0];
	*w = s->d[rank - 1];
	*c = s->d[rank];
	return 0;
}

int
tl_window_out(int len, int k, int s, int d, tl_padding pad)
{
	int			span = (k - 1) * d + 1;

	if (pad == TL_PAD_VALID)
		return len >= span ? (len - span) / s + 1 : 0;
	return (len + s - 1) / s;	/* same and causal: ceil(len / s) */
}

int
tl_window_pad_before(int len, int k, int s, int d, tl_padding pad)
{
	int			span = (k - 1) * d + 1;
	int			out,
				total;

	if (pad == TL_PAD_VALID)
		return 0;
	if (pad == TL_PAD_CAUSAL)
		return span - 1;
	/* TensorFlow's SAME: total padding split with the extra zero after. */
	out = (len + s - 1) / s;
	total = (out - 1) * s + span - len;
	if (total < 0)
		total = 0;
	return total / 2;
}
