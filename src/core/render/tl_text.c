/*
 * tl_text.c — a growing text buffer and XML escaping.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "render/tl_text.h"

void
tl_text_init(tl_text *t)
{
	memset(t, 0, sizeof(*t));
}

void
tl_text_free(tl_text *t)
{
	tl_free(t->data);
	tl_text_init(t);
}

static int
reserve(tl_text *t, size_t extra)
{
	size_t		cap;
	char	   *p;

	if (t->failed)
		return -1;
	if (t->len + extra + 1 <= t->cap)
		return 0;
	cap = t->cap ? t->cap : 4096;
	while (cap < t->len + extra + 1)
		cap *= 2;
	p = tl_realloc(t->data, cap);
	if (p == NULL)
	{
		t->failed = 1;
		return -1;
	}
	t->data = p;
	t->cap = cap;
	return 0;
}

void
tl_text_append(tl_text *t, const char *s, size_t n)
{
	if (reserve(t, n) < 0)
		return;
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
}

void
tl_text_puts(tl_text *t, const char *s)
{
	tl_text_append(t, s, strlen(s));
}

void
tl_text_printf(tl_text *t, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || reserve(t, (size_t) n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(t->data + t->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	t->len += n;
}

void
tl_text_escaped(tl_text *t, const char *s)
{
	for (const char *p = s; *p; p++)
	{
		switch (*p)
		{
			case '&':
				tl_text_puts(t, "&amp;");
				break;
			case '<':
				tl_text_puts(t, "&lt;");
				break;
			case '>':
				tl_text_puts(t, "&gt;");
				break;
			case '"':
				tl_text_puts(t, "&quot;");
				break;
			case '\'':
				tl_text_puts(t, "&#39;");
				break;
			default:
				/* control characters other than tab/newline are not allowed in XML */
				if ((unsigned char) *p < 0x20 && *p != '\t' && *p != '\n')
					tl_text_puts(t, " ");
				else
					tl_text_append(t, p, 1);
		}
	}
}
