/*
 * tl_svg.h — a self-contained SVG scatter plot of a population: dots sized
 * by a number (loss), coloured by a category (legend) or a number (colour
 * bar), each with a tooltip.
 */
#ifndef TL_SVG_H
#define TL_SVG_H

#include "render/tl_text.h"

typedef struct tl_svg_point
{
	float		x,
				y;
	float		size;			/* NaN: no size (smallest dot) */
	const char *colour;			/* category or number as text; NULL: grey */
	const char *label;			/* tooltip; NULL: none */
} tl_svg_point;

typedef struct tl_svg_options
{
	const char *title;
	int			width,
				height;
} tl_svg_options;

/*
 * Renders n points into out.  Deterministic: the same points in the same
 * order give the same bytes.  Larger dots are drawn last (on top), ties in
 * input order.  Points with a non-finite x or y are left out.
 */
int			tl_svg_scatter(const tl_svg_point *pts, int n, const tl_svg_options *o,
						   tl_text *out, tl_status *st);

#endif							/* TL_SVG_H */
