/*
 * tl_group_norm.c — normalisations over the channels (the last axis) of
 * each sample alone: GroupNormalization, which splits the channels into
 * groups and standardises each group over all positions (then gamma, beta
 * per channel), and UnitNormalization, which scales each position's
 * channel vector to unit L2 norm (x / sqrt(max(sum x^2, 1e-12))).
 */
#include <math.h>
#include <string.h>

#include "nn/tl_layer.h"

#define UNIT_EPS 1e-12

static int
last_axis_only(json_t *cfg, const tl_layer *l, tl_status *st)
{
	json_t	   *axis = json_object_get(cfg, "axis");

	if (json_is_array(axis) && json_array_size(axis) == 1)
		axis = json_array_get(axis, 0);
	if (axis == NULL || (json_is_integer(axis) && json_integer_value(axis) == -1))
		return 0;
	return tl_fail(st, TL_ERR_UNSUPPORTED, "layer \"%s\" (%s): only axis -1 is supported",
				   l->name, l->class_name);
}

static int
gn_configure(tl_layer *l, json_t *cfg, const tl_cfgctx *cx, tl_status *st)
{
	(void) cx;
	if (last_axis_only(cfg, l, st) < 0)
		return -1;
	if (strcmp(l->class_name, "UnitNormalization") == 0)
	{
		l->u.gnorm.groups = 0;	/* unit norm */
		return 0;
	}
	if (tl_cfg_int(cfg, "groups", 32, &l->u.gnorm.groups, l, st) < 0 ||
		tl_cfg_float(cfg, "epsilon", 1e-3f, &l->u.gnorm.eps, l, st) < 0 ||
		tl_cfg_bool(cfg, "center", 1, &l->u.gnorm.center, l, st) < 0 ||
		tl_cfg_bool(cfg, "scale", 1, &l->u.gnorm.scale, l, st) < 0)
		return -1;
	if (l->u.gnorm.groups < 1 || !(l->u.gnorm.eps >= 0.0f))
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (GroupNormalization): groups must be >= 1, epsilon >= 0",
					   l->name);
	return 0;
}

static int
gn_shape(const tl_layer *l, const tl_shape *in, int n_in, tl_shape *out,
		 tl_status *st)
{
	int			c = in[0].nd ? in[0].d[in[0].nd - 1] : 0;

	(void) n_in;
	if (c < 1 || (l->u.gnorm.groups && c % l->u.gnorm.groups != 0))
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): %d channels do not split into %d groups",
					   l->name, l->class_name, c, l->u.gnorm.groups);
	*out = in[0];
	return 0;
}

static int
gn_n_weights(const tl_layer *l)
{
	return l->u.gnorm.groups ? l->u.gnorm.scale + l->u.gnorm.center : 0;
}

static int
gn_bind(tl_layer *l, const tl_shape *in, int n_in, tl_status *st)
{
	int			c = in[0].d[in[0].nd - 1];

	(void) n_in;
	if (l->u.gnorm.scale && l->u.gnorm.groups && tl_expect_weight(l, 0, "gamma", 1, &c, st) < 0)
		return -1;
	if (l->u.gnorm.center && l->u.gnorm.groups &&
		tl_expect_weight(l, l->u.gnorm.scale, "beta", 1, &c, st) < 0)
		return -1;
	return 0;
}

/* Mean and 1/sqrt(var + eps) of group g of one sample (P positions, C channels). */
static void
group_stats(const tl_layer *l, const float *x, int64_t P, int C, int g, double *mean,
			double *inv)
{
	int			cg = C / l->u.gnorm.groups;
	double		s = 0,
				ss = 0,
				N = (double) P * cg;

	for (int64_t p = 0; p < P; p++)
		for (int j = 0; j < cg; j++)
			s += x[p * C + g * cg + j];
	*mean = s / N;
	for (int64_t p = 0; p < P; p++)
		for (int j = 0; j < cg; j++)
		{
			double		d = x[p * C + g * cg + j] - *mean;

			ss += d * d;
		}
	*inv = 1.0 / sqrt(ss / N + l->u.gnorm.eps);
}

static const float *
gamma_of(const tl_layer *l)
{
	return l->u.gnorm.scale ? l->w[0].data : NULL;
}

static int
gn_forward(const tl_layer *l, tl_exec *ex, const float *const *in,
		   const tl_shape *in_shape, float *out, const tl_shape *out_shape,
		   int n, tl_status *st)
{
	int			C = in_shape[0].d[in_shape[0].nd - 1];
	int64_t		P = tl_shape_count(&in_shape[0]) / C;
	const float *gamma = gamma_of(l);
	const float *beta = l->u.gnorm.center ? l->w[l->u.gnorm.scale].data : NULL;

	(void) ex;
	(void) out_shape;
	(void) st;
	for (int64_t r = 0; l->u.gnorm.groups == 0 && r < P * n; r++)
	{
		const float *x = in[0] + r * C;
		double		s = 0;
		float		inv;

		for (int k = 0; k < C; k++)
			s += (double) x[k] * x[k];
		inv = (float) (1.0 / sqrt(fmax(s, UNIT_EPS)));
		for (int k = 0; k < C; k++)
			out[r * C + k] = x[k] * inv;
	}
	for (int b = 0; l->u.gnorm.groups && b < n; b++)
	{
		const float *x = in[0] + b * P * C;
		float	   *y = out + b * P * C;
		int			cg = C / l->u.gnorm.groups;

		for (int g = 0; g < l->u.gnorm.groups; g++)
		{
			double		mean,
						inv;

			group_stats(l, x, P, C, g, &mean, &inv);
			for (int64_t p = 0; p < P; p++)
				for (int j = 0; j < cg; j++)
				{
					int64_t		k = p * C + g * cg + j;
					int			c = g * cg + j;

					y[k] = (float) ((x[k] - mean) * inv) * (gamma ? gamma[c] : 1.0f) +
						(beta ? beta[c] : 0.0f);
				}
		}
	}
	return 0;
}

/*
 * Backward.  Unit norm: dx = (dy - y (y . dy)) / |x| (the clamp below 1e-12
 * is a constant).  Groups: with z = dy * gamma and xhat the standardised
 * value, dx = inv (z - mean(z) - xhat mean(z xhat)) over the group.
 */
static int
gn_backward(const tl_layer *l, tl_exec *ex, const float *const *in,
			const tl_shape *in_shape, const float *out,
			const tl_shape *out_shape, const float *dout,
			float *const *din, int n, tl_status *st)
{
	int			C = in_shape[0].d[in_shape[0].nd - 1];
	int64_t		P = tl_shape_count(&in_shape[0]) / C;
	const float *gamma = gamma_of(l);

	(void) ex;
	(void) out_shape;
	(void) st;
	for (int64_t r = 0; l->u.gnorm.groups == 0 && r < P * n; r++)
	{
		const float *x = in[0] + r * C,
				   *y = out + r * C,
				   *dy = dout + r * C;
		double		s = 0,
					yd = 0;

		for (int k = 0; k < C; k++)
		{
			s += (double) x[k] * x[k];
			yd += (double) y[k] * dy[k];
		}
		for (int k = 0; k < C; k++)
			din[0][r * C + k] += (float) ((s > UNIT_EPS ? dy[k] - y[k] * yd : dy[k]) /
										  sqrt(fmax(s, UNIT_EPS)));
	}
	for (int b = 0; l->u.gnorm.groups && b < n; b++)
	{
		const float *x = in[0] + b * P * C,
				   *dy = dout + b * P * C;
		float	   *dx = din[0] + b * P * C;
		int			cg = C / l->u.gnorm.groups;
		double		N = (double) P * cg;

		for (int g = 0; g < l->u.gnorm.groups; g++)
		{
			double		mean,
						inv,
						mz = 0,
						mzx = 0;

			group_stats(l, x, P, C, g, &mean, &inv);
			for (int64_t p = 0; p < P; p++)
				for (int j = 0; j < cg; j++)
				{
					int64_t		k = p * C + g * cg + j;
					double		z = dy[k] * (gamma ? gamma[g * cg + j] : 1.0f);

					mz += z;
					mzx += z * (x[k] - mean) * inv;
				}
			mz /= N;
			mzx /= N;
			for (int64_t p = 0; p < P; p++)
				for (int j = 0; j < cg; j++)
				{
					int64_t		k = p * C + g * cg + j;
					double		z = dy[k] * (gamma ? gamma[g * cg + j] : 1.0f);

					dx[k] += (float) (inv * (z - mz - (x[k] - mean) * inv * mzx));
				}
		}
	}
	return 0;
}

const tl_layer_ops tl_ops_group_norm = {
	.family = "group_norm",
	.configure = gn_configure,
	.shape = gn_shape,
	.n_weights = gn_n_weights,
	.bind = gn_bind,
	.forward = gn_forward,
	.backward = gn_backward,
};
