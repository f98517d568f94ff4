/*
 * tl_shape.c — per-sample shapes.
 */
#include <stdio.h>

#include "tl_core.h"

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
