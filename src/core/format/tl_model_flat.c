/*
 * tl_model_flat.c — a loaded model as a flat byte stream, and back.
 *
 * The stream is what a parser process sends to its parent (tl_isolate.c),
 * so it never leaves the machine: integers are in native byte order.
 *
 *   "TLM1"  u32 code
 *   code != TL_OK:  str message                       (and nothing else)
 *   code == TL_OK:  str format, str keras_version, str config,
 *                   u8 has_training [str training], u32 n_layers,
 *                   per layer: u32 n_weights,
 *                     per weight: u32 nd, i32 dims[nd], u64 n, float data[n]
 *   str = u64 length + bytes (no NUL inside)
 *
 * Reading trusts nothing: every count is checked against what is left and
 * against the limits, the config is parsed again by the same code as a
 * file's, and the weights are bound (shape-checked) as after loading.
 */
#include <string.h>

#include "format/tl_format.h"

static const char magic[4] = {'T', 'L', 'M', '1'};

/* ---- writing ------------------------------------------------------------ */
static int
put_u32(tl_flat_writer write, void *arg, uint32_t v)
{
	return write(arg, &v, sizeof(v));
}

static int
put_str(tl_flat_writer write, void *arg, const char *s)
{
	uint64_t	n = strlen(s);

	return write(arg, &n, sizeof(n)) < 0 || write(arg, s, n) < 0 ? -1 : 0;
}

int
tl_flat_write_status(const tl_status *failure, tl_flat_writer write, void *arg)
{
	if (write(arg, magic, sizeof(magic)) < 0 ||
		put_u32(write, arg, (uint32_t) failure->code) < 0)
		return -1;
	return put_str(write, arg, failure->msg);
}

int
tl_flat_write_model(const tl_model *m, tl_flat_writer write, void *arg)
{
	uint8_t		has_training = m->training_json != NULL;

	if (write(arg, magic, sizeof(magic)) < 0 ||
		put_u32(write, arg, TL_OK) < 0 ||
		put_str(write, arg, m->format) < 0 ||
		put_str(write, arg, m->keras_version) < 0 ||
		put_str(write, arg, m->config_json) < 0 ||
		write(arg, &has_training, 1) < 0 ||
		(has_training && put_str(write, arg, m->training_json) < 0) ||
		put_u32(write, arg, (uint32_t) m->n_layers) < 0)
		return -1;
	for (int i = 0; i < m->n_layers; i++)
	{
		const tl_layer *l = &m->layers[i];

		if (put_u32(write, arg, (uint32_t) l->n_w) < 0)
			return -1;
		for (int k = 0; k < l->n_w; k++)
		{
			const tl_weight *w = &l->w[k];
			uint64_t	n = (uint64_t) w->n;

			if (put_u32(write, arg, (uint32_t) w->shape.nd) < 0 ||
				write(arg, w->shape.d, sizeof(int) * w->shape.nd) < 0 ||
				write(arg, &n, sizeof(n)) < 0 ||
				write(arg, w->data, sizeof(float) * n) < 0)
				return -1;
		}
	}
	return 0;
}

/* ---- reading ------------------------------------------------------------ */
typedef struct cursor
{
	const char *p;
	size_t		left;
} cursor;

static int
get(cursor *c, void *out, size_t n)
{
	if (n > c->left)
		return -1;
	memcpy(out, c->p, n);
	c->p += n;
	c->left -= n;
	return 0;
}

/* A string of at most max bytes as a tl_malloc'd C string; NULL on error. */
static char *
get_str(cursor *c, size_t max, tl_status *st)
{
	uint64_t	n;
	char	   *s;

	if (get(c, &n, sizeof(n)) < 0 || n > c->left || n > max ||
		memchr(c->p, '\0', n) != NULL)
	{
		tl_fail(st, TL_ERR_FORMAT, "the parsed model stream is corrupt (a string)");
		return NULL;
	}
	s = tl_malloc(n + 1);
	if (s == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		return NULL;
	}
	memcpy(s, c->p, n);
	s[n] = '\0';
	c->p += n;
	c->left -= n;
	return s;
}

static int
corrupt(tl_status *st, const char *what)
{
	return tl_fail(st, TL_ERR_FORMAT, "the parsed model stream is corrupt (%s)", what);
}

static int
read_weight(cursor *c, tl_weight *w, size_t *budget, tl_status *st)
{
	uint32_t	nd;
	uint64_t	n,
				count = 1;

	if (get(c, &nd, sizeof(nd)) < 0 || nd > TL_MAX_DIMS ||
		get(c, w->shape.d, sizeof(int) * nd) < 0 || get(c, &n, sizeof(n)) < 0)
		return corrupt(st, "a weight header");
	w->shape.nd = (int) nd;
	for (uint32_t i = 0; i < nd; i++)
	{
		if (w->shape.d[i] < 0 || w->shape.d[i] > (1 << 30))
			return corrupt(st, "a weight dimension");
		count *= (uint64_t) w->shape.d[i];
		if (count > ((uint64_t) 1 << 40))
			return corrupt(st, "a weight size");
	}
	if (count != n || n > c->left / sizeof(float))
		return corrupt(st, "a weight size");
	if (n * sizeof(float) > *budget)
		return tl_fail(st, TL_ERR_LIMIT,
					   "the weights are larger than the limit (tensorlens.max_model_size)");
	w->data = tl_malloc(sizeof(float) * (n ? n : 1));
	if (w->data == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	get(c, w->data, sizeof(float) * n);
	w->n = (int64_t) n;
	*budget -= n * sizeof(float);
	return 0;
}

static int
read_weights(cursor *c, tl_model *m, const tl_limits *lim, tl_status *st)
{
	uint32_t	n_layers;
	size_t		budget = lim->max_weight_bytes;

	if (get(c, &n_layers, sizeof(n_layers)) < 0 || n_layers != (uint32_t) m->n_layers)
		return corrupt(st, "the layer count");
	for (int i = 0; i < m->n_layers; i++)
	{
		tl_layer   *l = &m->layers[i];
		uint32_t	n_w;
		int			expected = l->ops->n_weights ? l->ops->n_weights(l) : 0;

		if (get(c, &n_w, sizeof(n_w)) < 0 || n_w != (uint32_t) expected ||
			n_w > TL_MAX_WEIGHTS)
			return corrupt(st, "a weight count");
		for (uint32_t k = 0; k < n_w; k++)
		{
			if (read_weight(c, &l->w[k], &budget, st) < 0)
				return -1;
			l->n_w = (int) k + 1;
		}
	}
	if (c->left != 0)
		return corrupt(st, "trailing bytes");
	m->weight_bytes = lim->max_weight_bytes - budget;
	return 0;
}

tl_model *
tl_flat_read(const void *data, size_t len, const tl_limits *lim, tl_status *st)
{
	cursor		c = {data, len};
	char		head[4];
	uint32_t	code;
	uint8_t		has_training;
	char	   *format = NULL;
	tl_model   *m;

	if (get(&c, head, sizeof(head)) < 0 || memcmp(head, magic, sizeof(magic)) != 0 ||
		get(&c, &code, sizeof(code)) < 0 || code > TL_ERR_NOMEM)	/* the last code */
	{
		corrupt(st, "its header");
		return NULL;
	}
	if (code != TL_OK)
	{
		char	   *msg = get_str(&c, TL_MSG_LEN - 1, st);

		if (msg != NULL)
		{
			tl_fail(st, (tl_code) code, "%s", msg);
			tl_free(msg);
		}
		return NULL;
	}
	m = tl_calloc(1, sizeof(tl_model));
	if (m == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		return NULL;
	}
	format = get_str(&c, 16, st);
	if (format == NULL)
		goto fail;
	if (strcmp(format, "keras_h5") == 0)
		m->format = "keras_h5";
	else if (strcmp(format, "keras_v3") == 0)
		m->format = "keras_v3";
	else if (strcmp(format, "onnx") == 0)
		m->format = "onnx";
	else
	{
		corrupt(st, "the format");
		goto fail;
	}
	if ((m->keras_version = get_str(&c, lim->max_file_bytes, st)) == NULL ||
		(m->config_json = get_str(&c, lim->max_file_bytes, st)) == NULL)
		goto fail;
	if (get(&c, &has_training, 1) < 0 || has_training > 1)
	{
		corrupt(st, "the training config flag");
		goto fail;
	}
	if (has_training && (m->training_json = get_str(&c, lim->max_file_bytes, st)) == NULL)
		goto fail;
	if (tl_model_build(m, st) < 0 ||
		read_weights(&c, m, lim, st) < 0 ||
		tl_model_bind_weights(m, st) < 0)
		goto fail;
	tl_free(format);
	return m;

fail:
	tl_free(format);
	tl_model_free(m);
	return NULL;
}
