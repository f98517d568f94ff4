/*
 * tl_status.c — error reporting of the core: a code and a message.
 */
#include <stdarg.h>
#include <stdio.h>

#include "base/tl_core.h"

int
tl_fail(tl_status *st, tl_code code, const char *fmt,...)
{
	va_list		ap;

	/* The first failure is the cause; later ones are consequences. */
	if (st->code != TL_OK)
		return -1;
	st->code = code;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void
tl_status_clear(tl_status *st)
{
	st->code = TL_OK;
	st->msg[0] = '\0';
}
