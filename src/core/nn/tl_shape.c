/*
 * tl_shape.c — per-sample shapes.
 */
#include <stdio.h>

#include "base/tl_core.h"

int64_t
tl_shape_count(const tl_shape *s)
{
	int64_t		n = 1;

	for (int i = 0; i < s->nd; i++)
	{
		if (s->d[i] < 0)
			return -1;
		n *= s->d[i];
	}
	return n;
}

bool
tl_shape_equal(const tl_shape *a, const tl_shape *b)
{
	if (a->nd != b->nd)
		return false;
	for (int i = 0; i < a->nd; i++)
		if (a->d[i] != b->d[i])
			return false;
	return true;
}

/* Writes "(None, 500, 128)": the batch dimension first, as Keras prints it. */
int
tl_shape_format(const tl_shape *s, char *buf, size_t len)
{
	size_t		off = 0;

	off += snprintf(buf + off, len > off ? len - off : 0, "(None");
	for (int i = 0; i < s->nd; i++)
	{
		if (s->d[i] < 0)
			off += snprintf(buf + off, len > off ? len - off : 0, ", None");
		else
			off += snprintf(buf + off, len > off ? len - off : 0, ", %d", s->d[i]);
	}
	off += snprintf(buf + off, len > off ? len - off : 0, ")");
	return (int) off;
}

/*
 * Shapes come from untrusted configs: every dimension is at most 2^30 and a
 * sample at most TL_MAX_SAMPLE_ELEMS values, so that products of dimensions
 * fit in int64 and element counts fit in int.
 */
int
tl_shape_check(const tl_shape *s, const char *layer, tl_status *st)
{
	int64_t		n = 1;

	if (s->nd < 0 || s->nd > TL_MAX_DIMS)
		return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\": output rank %d is not supported",
					   layer, s->nd);
	for (int i = 0; i < s->nd; i++)
	{
		if (s->d[i] < -1 || s->d[i] > (1 << 30))
			return tl_fail(st, TL_ERR_MODEL, "layer \"%s\": output dimension %d is invalid",
						   layer, s->d[i]);
		if (s->d[i] > 0)
		{
			n *= s->d[i];
			if (n > TL_MAX_SAMPLE_ELEMS)
				return tl_fail(st, TL_ERR_LIMIT,
							   "layer \"%s\": its output would hold more than %d values per sample",
							   layer, TL_MAX_SAMPLE_ELEMS);
		}
	}
	return 0;
}
