/*
 * tl_svg.c — the population scatter plot as SVG.
 *
 * Colours: when every colour value reads as a number the dots take a
 * viridis-like ramp with a colour bar; otherwise each distinct value
 * (sorted) gets a Tableau-10 colour and a legend entry.  Sizes map to radii
 * 2..10 px by the square root of the normalised value, so a dot's area
 * grows with the loss.  Categories are CSS classes and coordinates have one
 * decimal, which keeps 25,000 dots at a few MB.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tl_hash.h"
#include "render/tl_svg.h"

static const char *const palette[10] = {
	"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
	"#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"
};

static const unsigned char ramp[5][3] = {
	{0x44, 0x01, 0x54}, {0x3b, 0x52, 0x8b}, {0x21, 0x91, 0x8c}, {0x5e, 0xc9, 0x62}, {0xfd, 0xe7, 0x25}
};

#define MARGIN_LEFT 64
#define MARGIN_RIGHT 190
#define MARGIN_TOP 44
#define MARGIN_BOTTOM 48

static void
ramp_colour(double t, char out[8])
{
	double		pos = (t < 0 ? 0 : t > 1 ? 1 : t) * 4;
	int			i = pos >= 4 ? 3 : (int) pos;
	double		f = pos - i;
	int			rgb[3];

	for (int c = 0; c < 3; c++)
		rgb[c] = (int) lround(ramp[i][c] + f * (ramp[i + 1][c] - ramp[i][c]));
	snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

static int
is_number(const char *s, double *v)
{
	char	   *end;

	if (s == NULL || *s == '\0')
		return 0;
	*v = strtod(s, &end);
	return *end == '\0' && isfinite(*v);
}

/* Tick step: 1, 2 or 5 times a power of ten, about 5 ticks over the range. */
static double
nice_step(double range)
{
	double		raw = range / 5,
				mag = pow(10, floor(log10(raw))),
				f = raw / mag;

	return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

typedef struct order_item
{
	int			idx;
	float		size;
} order_item;

static int
by_size(const void *a, const void *b)
{
	const order_item *p = a,
			   *q = b;
	int			pn = isnan(p->size),
				qn = isnan(q->size);

	if (pn != qn)
		return pn ? -1 : 1;
	if (!pn && p->size != q->size)
		return p->size < q->size ? -1 : 1;
	return p->idx - q->idx;
}

static int
by_string(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void
axis(tl_text *out, double lo, double hi, int horizontal, double x0, double y0,
	 double len, double other_len)
{
	double		step = nice_step(hi - lo);

	for (double v = ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
	{
		double		p = (v - lo) / (hi - lo) * len;
		double		shown = fabs(v) < step * 1e-6 ? 0 : v;

		if (horizontal)
			tl_text_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
						   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
						   x0 + p, y0, x0 + p, y0 - other_len, x0 + p, y0 + 16, shown);
		else
			tl_text_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
						   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
						   x0, y0 - p, x0 + other_len, y0 - p, x0 - 6, y0 - p + 4, shown);
	}
}

/* What the drawing needs to know about the points. */
typedef struct plot
{
	int			w,
				h;
	double		pw,
				ph;				/* the plotting area */
	double		xmin,
				xmax,
				ymin,
				ymax;
	double		smin,
				smax,
				cmin,
				cmax;
	int			numeric;		/* colours are numbers: a ramp, not categories */
	int			n_cat;
	const char **cats;			/* distinct categories, first seen first */
	const char **sorted;		/* the same sorted: the legend */
	int		   *cat_of;			/* per point: its category's place in cats as first seen, or -1 */
	int		   *cat_rank;		/* a category's place as first seen → its place sorted */
	int		   *slots;			/* open addressing: -1 or a place in cats; n_slots a power of 2 */
	size_t		n_slots;
	order_item *order;			/* drawing order of the shown points */
	int			shown;
} plot;

/*
 * The place of category c in p->cats, added when new.  A hash set, so that
 * a million dots of a few categories cost a million lookups, not a sort of
 * a million strings.  The table holds at most half its slots (n_slots > 2n
 * from the start: it never grows).
 */
static int
category_of(plot *p, const char *c)
{
	size_t		at = (size_t) tl_hash_string(c) & (p->n_slots - 1);

	while (p->slots[at] >= 0)
	{
		if (strcmp(p->cats[p->slots[at]], c) == 0)
			return p->slots[at];
		at = (at + 1) & (p->n_slots - 1);
	}
	p->slots[at] = p->n_cat;
	p->cats[p->n_cat] = c;
	return p->n_cat++;
}

/* Ranges, the shown points and the colour values of the points. */
static void
scan_points(const tl_svg_point *pts, int n, plot *p)
{
	int			any_colour = 0;

	p->xmin = p->ymin = p->smin = p->cmin = INFINITY;
	p->xmax = p->ymax = p->smax = p->cmax = -INFINITY;
	p->numeric = 1;
	for (int i = 0; i < n; i++)
	{
		double		v;

		if (!isfinite(pts[i].x) || !isfinite(pts[i].y))
			continue;
		p->xmin = fmin(p->xmin, pts[i].x);
		p->xmax = fmax(p->xmax, pts[i].x);
		p->ymin = fmin(p->ymin, pts[i].y);
		p->ymax = fmax(p->ymax, pts[i].y);
		if (isfinite(pts[i].size))
		{
			p->smin = fmin(p->smin, pts[i].size);
			p->smax = fmax(p->smax, pts[i].size);
		}
		if (pts[i].colour)
		{
			any_colour = 1;
			if (is_number(pts[i].colour, &v))
			{
				p->cmin = fmin(p->cmin, v);
				p->cmax = fmax(p->cmax, v);
			}
			else
				p->numeric = 0;
			p->cat_of[i] = category_of(p, pts[i].colour);
		}
		else
			p->cat_of[i] = -1;
		p->order[p->shown].idx = i;
		p->order[p->shown].size = isfinite(pts[i].size) ? pts[i].size : NAN;
		p->shown++;
	}
	p->numeric = p->numeric && any_colour;
}

/* Axis ranges with a margin; the drawing order; the distinct categories. */
static void
arrange(plot *p)
{
	if (p->shown == 0)
		p->xmin = p->ymin = 0, p->xmax = p->ymax = 1;
	/* a degenerate range is widened so every dot lands inside */
	if (p->xmax - p->xmin < 1e-12)
		p->xmin -= 1, p->xmax += 1;
	if (p->ymax - p->ymin < 1e-12)
		p->ymin -= 1, p->ymax += 1;
	{
		double		dx = (p->xmax - p->xmin) * 0.04,
					dy = (p->ymax - p->ymin) * 0.04;

		p->xmin -= dx, p->xmax += dx, p->ymin -= dy, p->ymax += dy;
	}
	qsort(p->order, p->shown, sizeof(order_item), by_size);
	if (!p->numeric && p->n_cat > 0)
	{
		memcpy(p->sorted, p->cats, sizeof(char *) * p->n_cat);
		qsort(p->sorted, p->n_cat, sizeof(char *), by_string);
		for (int c = 0; c < p->n_cat; c++)
		{
			const char **hit = bsearch(&p->cats[c], p->sorted, p->n_cat, sizeof(char *), by_string);

			p->cat_rank[c] = (int) (hit - p->sorted);
		}
	}
	else
		p->n_cat = 0;
}

/* The document head, styles, title, axes and frame. */
static void
write_frame(tl_text *out, const plot *p, const tl_svg_options *o)
{
	int			w = p->w,
				h = p->h;
	double		pw = p->pw,
				ph = p->ph;

	tl_text_printf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
				   "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n", w, h, w, h);
	tl_text_puts(out, "<style>.grid{stroke:#e4e4e4}.frame{fill:none;stroke:#888}circle{fill-opacity:.72;stroke:#fff;stroke-width:.4}");
	for (int c = 0; c < p->n_cat; c++)
		tl_text_printf(out, ".c%d{fill:%s}", c, palette[c % 10]);
	tl_text_puts(out, ".cnull{fill:#999}</style>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
	tl_text_printf(out, "<text x=\"%d\" y=\"26\" font-size=\"16\" font-weight=\"bold\">", MARGIN_LEFT);
	tl_text_escaped(out, o->title ? o->title : "Population");
	tl_text_puts(out, "</text>\n");
	axis(out, p->xmin, p->xmax, 1, MARGIN_LEFT, MARGIN_TOP + ph, pw, ph);
	axis(out, p->ymin, p->ymax, 0, MARGIN_LEFT, MARGIN_TOP + ph, ph, pw);
	tl_text_printf(out, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" class=\"frame\"/>\n",
				   MARGIN_LEFT, MARGIN_TOP, pw, ph);
	tl_text_printf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">x</text>"
				   "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\">y</text>\n",
				   MARGIN_LEFT + pw / 2, h - 8, MARGIN_TOP + ph / 2);
}

/* One circle per shown point, larger ones last. */
static void
write_dots(tl_text *out, const tl_svg_point *pts, const plot *pl)
{
	tl_text_printf(out, "<g id=\"dots\" data-count=\"%d\">\n", pl->shown);
	for (int k = 0; k < pl->shown; k++)
	{
		const tl_svg_point *p = &pts[pl->order[k].idx];
		double		cx = MARGIN_LEFT + (p->x - pl->xmin) / (pl->xmax - pl->xmin) * pl->pw;
		double		cy = MARGIN_TOP + pl->ph - (p->y - pl->ymin) / (pl->ymax - pl->ymin) * pl->ph;
		double		r = 2.0;

		if (isfinite(p->size) && pl->smax > pl->smin)
			r = 2.0 + 8.0 * sqrt((p->size - pl->smin) / (pl->smax - pl->smin));
		else if (isfinite(p->size))
			r = 4.0;
		tl_text_printf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"", cx, cy, r);
		if (p->colour == NULL)
			tl_text_puts(out, " class=\"cnull\"");
		else if (pl->numeric)
		{
			char		col[8];
			double		v = 0;

			is_number(p->colour, &v);
			ramp_colour(pl->cmax > pl->cmin ? (v - pl->cmin) / (pl->cmax - pl->cmin) : 0.5, col);
			tl_text_printf(out, " fill=\"%s\"", col);
		}
		else
			tl_text_printf(out, " class=\"c%d\"", pl->cat_rank[pl->cat_of[pl->order[k].idx]]);
		if (p->label)
		{
			tl_text_puts(out, "><title>");
			tl_text_escaped(out, p->label);
			tl_text_puts(out, "</title></circle>\n");
		}
		else
			tl_text_puts(out, "/>\n");
	}
	tl_text_puts(out, "</g>\n");
}

/* The legend or colour bar, and the size key. */
static void
write_legend(tl_text *out, const plot *p)
{
	double		lx = MARGIN_LEFT + p->pw + 18;
	double		ly = MARGIN_TOP + 8;

	if (p->numeric)
	{
		tl_text_puts(out, "<defs><linearGradient id=\"ramp\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
		for (int s = 0; s < 5; s++)
			tl_text_printf(out, "<stop offset=\"%d%%\" stop-color=\"#%02x%02x%02x\"/>", s * 25,
						   ramp[s][0], ramp[s][1], ramp[s][2]);
		tl_text_printf(out, "</linearGradient></defs>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"120\" fill=\"url(#ramp)\"/>"
					   "<text x=\"%.1f\" y=\"%.1f\">%g</text><text x=\"%.1f\" y=\"%.1f\">%g</text>\n",
					   lx, ly, lx + 20, ly + 10, p->cmax, lx + 20, ly + 120, p->cmin);
		ly += 140;
	}
	for (int c = 0; c < p->n_cat && c < 30; c++)
	{
		tl_text_printf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" class=\"c%d\"/><text x=\"%.1f\" y=\"%.1f\">",
					   lx + 5, ly + c * 18, c, lx + 16, ly + c * 18 + 4);
		tl_text_escaped(out, p->sorted[c]);
		tl_text_puts(out, "</text>\n");
	}
	if (p->n_cat > 30)
		tl_text_printf(out, "<text x=\"%.1f\" y=\"%.1f\">… %d more</text>\n", lx, ly + 30 * 18, p->n_cat - 30);
	if (p->smax >= p->smin)
		tl_text_printf(out, "<text x=\"%.1f\" y=\"%d\">size %.3g … %.3g</text>\n", lx, p->h - 14, p->smin, p->smax);
}

static void
free_plot(plot *p)
{
	tl_free(p->order);
	tl_free(p->cats);
	tl_free(p->sorted);
	tl_free(p->cat_of);
	tl_free(p->cat_rank);
	tl_free(p->slots);
}

int
tl_svg_scatter(const tl_svg_point *pts, int n, const tl_svg_options *o,
			   tl_text *out, tl_status *st)
{
	plot		p = {0};

	if (o->width < 300 || o->height < 200 || o->width > 20000 || o->height > 20000)
		return tl_fail(st, TL_ERR_ARG, "the plot must be 300..20000 px wide and 200..20000 px high");
	p.w = o->width;
	p.h = o->height;
	p.pw = p.w - MARGIN_LEFT - MARGIN_RIGHT;
	p.ph = p.h - MARGIN_TOP - MARGIN_BOTTOM;
	for (p.n_slots = 4; p.n_slots <= 2 * (size_t) n; p.n_slots *= 2)
		;
	p.order = tl_malloc(sizeof(order_item) * (n ? n : 1));
	p.cats = tl_malloc(sizeof(char *) * (n ? n : 1));
	p.sorted = tl_malloc(sizeof(char *) * (n ? n : 1));
	p.cat_of = tl_malloc(sizeof(int) * (n ? n : 1));
	p.cat_rank = tl_malloc(sizeof(int) * (n ? n : 1));
	p.slots = tl_malloc(sizeof(int) * (size_t) p.n_slots);
	if (p.order == NULL || p.cats == NULL || p.sorted == NULL || p.cat_of == NULL || p.cat_rank == NULL || p.slots == NULL)
	{
		free_plot(&p);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory rendering %d points", n);
	}
	memset(p.slots, -1, sizeof(int) * (size_t) p.n_slots);
	scan_points(pts, n, &p);
	arrange(&p);
	write_frame(out, &p, o);
	write_dots(out, pts, &p);
	write_legend(out, &p);
	tl_text_puts(out, "</svg>\n");
	free_plot(&p);
	if (out->failed)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory rendering %d points", n);
	return 0;
}
