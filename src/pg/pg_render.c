/*
 * pg_render.c — pictures straight from SQL: the tl_svg_scatter aggregate.
 */
#include "tl_pg.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/memutils.h"

#include "render/tl_svg.h"

/* Most dots one picture takes (the SVG grows ~150 bytes a dot). */
#define MAX_DOTS 1000000

typedef struct scatter_state
{
	int			n,
				cap;
	tl_svg_point *pts;
	char	   *title;
} scatter_state;

static char *
opt_text(FunctionCallInfo fcinfo, int arg, MemoryContext cxt)
{
	if (PG_NARGS() <= arg || PG_ARGISNULL(arg))
		return NULL;
	return MemoryContextStrdup(cxt, text_to_cstring(PG_GETARG_TEXT_PP(arg)));
}

/* tl_svg_scatter(x, y, size, colour, label [, title]) transition */
PG_FUNCTION_INFO_V1(pg_tl_svg_scatter_add);
Datum
pg_tl_svg_scatter_add(PG_FUNCTION_ARGS)
{
	MemoryContext agg;
	scatter_state *s;
	tl_svg_point *p;

	if (!AggCheckCallContext(fcinfo, &agg))
		elog(ERROR, "tl_svg_scatter called in a non-aggregate context");
	s = PG_ARGISNULL(0) ? NULL : (scatter_state *) PG_GETARG_POINTER(0);
	if (s == NULL)
	{
		s = MemoryContextAllocZero(agg, sizeof(scatter_state));
		s->title = opt_text(fcinfo, 6, agg);
	}
	/* a sample without coordinates is not drawn */
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(s);
	if (s->n == MAX_DOTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("tl_svg_scatter draws at most %d dots", MAX_DOTS),
				 errhint("Sample the rows, e.g. ORDER BY loss DESC LIMIT 100000.")));
	if (s->n == s->cap)
	{
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->pts = s->pts ? repalloc_huge(s->pts, sizeof(tl_svg_point) * s->cap)
			: MemoryContextAllocHuge(agg, sizeof(tl_svg_point) * s->cap);
	}
	p = &s->pts[s->n++];
	p->x = (float) PG_GETARG_FLOAT8(1);
	p->y = (float) PG_GETARG_FLOAT8(2);
	p->size = PG_ARGISNULL(3) ? NAN : (float) PG_GETARG_FLOAT8(3);
	p->colour = opt_text(fcinfo, 4, agg);
	p->label = opt_text(fcinfo, 5, agg);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(pg_tl_svg_scatter_final);
Datum
pg_tl_svg_scatter_final(PG_FUNCTION_ARGS)
{
	scatter_state *s = PG_ARGISNULL(0) ? NULL : (scatter_state *) PG_GETARG_POINTER(0);
	tl_svg_options o = {NULL, 900, 640};
	tl_text out;
	tl_status st = {0};
	text	   *result;

	if (s == NULL)
		PG_RETURN_NULL();
	o.title = s->title;
	tl_text_init(&out);
	if (tl_svg_scatter(s->pts, s->n, &o, &out, &st) < 0)
	{
		tl_text_free(&out);
		tl_pg_raise(&st, NULL);
	}
	result = cstring_to_text_with_len(out.data, out.len);
	tl_text_free(&out);
	PG_RETURN_TEXT_P(result);
}
