/*
 * test_svg.c — unit tests of the SVG scatter plot (render/tl_svg.c).
 *
 * Usage: test_svg.  Properties of the document: one dot per finite point,
 * larger dots drawn later, categories in the legend, escaping, the same
 * bytes for the same input.  (test/sql/70_render.sql has PostgreSQL parse
 * the XML.)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "render/tl_svg.h"

static int
count(const char *s, const char *what)
{
	int			n = 0;

	for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
		n++;
	return n;
}

static tl_text
render(const tl_svg_point *p, int n, const char *title)
{
	tl_svg_options o = {title, 800, 600};
	tl_text		t;
	tl_status	st = {0};

	tl_text_init(&t);
	if (tl_svg_scatter(p, n, &o, &t, &st) < 0)
		printf("FAIL render: %s\n", st.msg), failed++;
	return t;
}

static void
test_dots(void)
{
	tl_svg_point p[6] = {
		{0, 0, 3, "cat", "a"}, {1, 1, 1, "dog", NULL}, {2, 0.5f, 2, "cat", "<b>&"},
		{NAN, 1, 1, "dog", NULL}, {1, INFINITY, 1, "dog", NULL}, {3, 2, NAN, NULL, NULL}
	};
	tl_text		t = render(p, 6, "Pets & <friends>"),
				again = render(p, 6, "Pets & <friends>");
	const char *dots,
			   *end;
	double		last_r = 0;
	int			ordered = 1;

	CHECK(strstr(t.data, "data-count=\"4\"") != NULL, "4 finite points");
	dots = strstr(t.data, "<g id=\"dots\"");
	end = dots ? strstr(dots, "</g>") : NULL;
	CHECK(dots && end, "no dots group");
	if (!dots || !end)
		return;
	/* dots are drawn by size: the NaN size first, then 1, 2, 3 */
	for (const char *c = strstr(dots, "<circle"); c && c < end; c = strstr(c + 1, "<circle"))
	{
		double		r = atof(strstr(c, " r=\"") + 4);

		ordered &= r >= last_r;
		last_r = r;
	}
	CHECK(ordered, "dots not drawn smallest first");
	/* two categories: two legend entries and the grey of the missing colour */
	CHECK(strstr(t.data, ".c0{fill:") && strstr(t.data, ".c1{fill:") && !strstr(t.data, ".c2{fill:"),
		  "two category classes");
	CHECK(count(t.data, "class=\"cnull\"") == 1, "one dot without colour");
	CHECK(strstr(t.data, "Pets &amp; &lt;friends&gt;") && strstr(t.data, "<title>&lt;b&gt;&amp;</title>"),
		  "title and tooltip escaped");
	CHECK(t.len == again.len && memcmp(t.data, again.data, t.len) == 0, "not deterministic");
	tl_text_free(&t);
	tl_text_free(&again);
}

static void
test_numeric_colours(void)
{
	tl_svg_point p[3] = {{0, 0, NAN, "0.5", NULL}, {1, 1, NAN, "2", NULL}, {2, 2, NAN, "-1", NULL}};
	tl_text		t = render(p, 3, NULL);

	/* numbers make a colour ramp with a bar from -1 to 2, not a legend */
	CHECK(strstr(t.data, "linearGradient") && !strstr(t.data, ".c0{fill:"), "a colour bar");
	CHECK(strstr(t.data, ">2</text>") && strstr(t.data, ">-1</text>"), "bar ends");
	CHECK(strstr(t.data, ">Population</text>") != NULL, "default title");
	tl_text_free(&t);
}

static void
test_errors(void)
{
	tl_svg_options o = {NULL, 100, 600};
	tl_text		t;
	tl_status	st = {0};

	tl_text_init(&t);
	CHECK(tl_svg_scatter(NULL, 0, &o, &t, &st) < 0 && st.code == TL_ERR_ARG, "100 px wide accepted");
	tl_text_free(&t);
}

int
main(void)
{
	test_dots();
	test_numeric_colours();
	test_errors();
	return test_summary();
}
