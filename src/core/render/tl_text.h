/*
 * tl_text.h — a growing text buffer and XML/HTML escaping, for the renderers.
 */
#ifndef TL_TEXT_H
#define TL_TEXT_H

#include "base/tl_core.h"

typedef struct tl_text
{
	char	   *data;			/* NUL-terminated */
	size_t		len,
				cap;
	int			failed;			/* an allocation failed: the text is incomplete */
} tl_text;

void		tl_text_init(tl_text *t);
void		tl_text_free(tl_text *t);
void		tl_text_append(tl_text *t, const char *s, size_t n);
void		tl_text_puts(tl_text *t, const char *s);
void		tl_text_printf(tl_text *t, const char *fmt,...) __attribute__((format(printf, 2, 3)));
/* Appends s with & < > " ' replaced by entities (safe in text and attributes). */
void		tl_text_escaped(tl_text *t, const char *s);

#endif							/* TL_TEXT_H */
