/*
 * tl_activation.c — Keras activation functions.
 */
#include <math.h>
#include <string.h>

#include "nn/tl_activation.h"
#include "nn/tl_simd.h"

static const struct
{
	const char *name;
	tl_act_fn	fn;
}			act_names[] =
{
	{"linear", TL_ACT_LINEAR},
	{"relu", TL_ACT_RELU},
	{"sigmoid", TL_ACT_SIGMOID},
	{"tanh", TL_ACT_TANH},
	{"softmax", TL_ACT_SOFTMAX},
	{"elu", TL_ACT_ELU},
	{"selu", TL_ACT_SELU},
	{"softplus", TL_ACT_SOFTPLUS},
	{"softsign", TL_ACT_SOFTSIGN},
	{"swish", TL_ACT_SWISH},
	{"silu", TL_ACT_SWISH},
	{"gelu", TL_ACT_GELU},
	{"exponential", TL_ACT_EXPONENTIAL},
	{"mish", TL_ACT_MISH},
	{"hard_silu", TL_ACT_HARD_SILU},
	{"hard_swish", TL_ACT_HARD_SILU},
	{"log_softmax", TL_ACT_LOG_SOFTMAX},
};

int
tl_act_parse(const char *name, int keras_major, tl_act *a)
{
	memset(a, 0, sizeof(*a));
	a->max_value = -1.0f;
	a->axis = -1;
	a->alpha = 0.0f;
	if (name == NULL)
		return -1;
	if (strcmp(name, "hard_sigmoid") == 0)
	{
		/* Keras 3 redefined hard_sigmoid as relu6(x + 3) / 6. */
		a->fn = keras_major >= 3 ? TL_ACT_HARD_SIGMOID_K3 : TL_ACT_HARD_SIGMOID_K2;
		return 0;
	}
	/* relu6 and leaky_relu (Keras 3 default slope 0.2) are relu's options */
	if (strcmp(name, "relu6") == 0 || strcmp(name, "leaky_relu") == 0)
	{
		a->fn = TL_ACT_RELU;
		if (name[4] == '6')
			a->max_value = 6.0f;
		else
			a->alpha = 0.2f;
		return 0;
	}
	for (size_t i = 0; i < sizeof(act_names) / sizeof(act_names[0]); i++)
	{
		if (strcmp(name, act_names[i].name) == 0)
		{
			a->fn = act_names[i].fn;
			if (a->fn == TL_ACT_ELU)
				a->alpha = 1.0f;
			return 0;
		}
	}
	return -1;
}

static inline float
sigmoidf(float x)
{
	if (x >= 0)
		return 1.0f / (1.0f + expf(-x));
	else
	{
		float		e = expf(x);

		return e / (1.0f + e);
	}
}

float
tl_act_scalar(const tl_act *a, float x)
{
	switch (a->fn)
	{
		case TL_ACT_LINEAR:
		case TL_ACT_SOFTMAX:	/* not element-wise; never called for them */
		case TL_ACT_LOG_SOFTMAX:
			return x;
		case TL_ACT_RELU:
			{
				/* Keras: x above the threshold (capped), a slope below it */
				if (x > a->threshold)
					return a->max_value >= 0 ? fminf(fmaxf(x, 0.0f), a->max_value) : x;
				return a->alpha * (x - a->threshold);
			}
		case TL_ACT_SIGMOID:
			return sigmoidf(x);
		case TL_ACT_HARD_SIGMOID_K2:
			return fminf(1.0f, fmaxf(0.0f, 0.2f * x + 0.5f));
		case TL_ACT_HARD_SIGMOID_K3:
			return fminf(1.0f, fmaxf(0.0f, x / 6.0f + 0.5f));
		case TL_ACT_TANH:
			return tanhf(x);
		case TL_ACT_ELU:
			return x > 0 ? x : a->alpha * expm1f(x);
		case TL_ACT_SELU:
			{
				const float scale = 1.05070098735548049342f;
				const float alpha = 1.67326324235437728482f;

				return scale * (x > 0 ? x : alpha * expm1f(x));
			}
		case TL_ACT_SOFTPLUS:
			/* log(1 + e^x) without overflow */
			return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
		case TL_ACT_SOFTSIGN:
			return x / (1.0f + fabsf(x));
		case TL_ACT_SWISH:
			return x * sigmoidf(x);
		case TL_ACT_GELU:
			/* Keras' default is the exact form, not the tanh approximation. */
			return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
		case TL_ACT_EXPONENTIAL:
			return expf(x);
		case TL_ACT_THRESHOLDED:
			return x > a->threshold ? x : 0.0f;
		case TL_ACT_MISH:
			return x * tanhf(fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))));
		case TL_ACT_HARD_SILU:
			return x * fminf(1.0f, fmaxf(0.0f, x / 6.0f + 0.5f));
	}
	return x;
}

/*
 * expf, tanhf and the logistic function in a form the compiler vectorises
 * (no branches, no libm calls; the core is built -O3 without fast-math):
 * Cephes' single-precision algorithms, within 2 ulp of libm's.  Used by
 * tl_act_apply, which recurrent cells call on whole gate vectors.
 */
static inline __attribute__((always_inline)) float
exp_v(float x)
{
	const float magic = 12582912.0f;	/* 1.5 * 2^23: rounds to an integer */
	float		n,
				r,
				p;
	union
	{
		float		f;
		uint32_t	u;
	}			t,
				scale;

	x = x < -87.3f ? -87.3f : x;
	x = x > 88.3f ? 88.3f : x;
	/* n = round(x / ln 2), also readable from t's low bits: no float-to-int
	 * conversion, which NaN would make undefined */
	t.f = x * 1.44269504088896341f + magic;
	n = t.f - magic;
	r = x - n * 0.693359375f;
	r = r - n * -2.12194440e-4f;
	p = 1.9875691500E-4f;
	p = p * r + 1.3981999507E-3f;
	p = p * r + 8.3334519073E-3f;
	p = p * r + 4.1665795894E-2f;
	p = p * r + 1.6666665459E-1f;
	p = p * r + 5.0000001201E-1f;
	p = p * r * r + r + 1.0f;
	scale.u = (t.u - 0x4B400000u + 127u) << 23;
	return p * scale.f;
}

static inline __attribute__((always_inline)) float
tanh_v(float x)
{
	float		a = x < 0 ? -x : x;
	float		xs = a < 0.625f ? x : 0.0f;
	float		z = xs * xs;
	float		small,
				big,
				m;

	/*
	 * |x| < 0.625: odd polynomial; else 1 - 2 / (e^2|x| + 1), sign restored.
	 * Both are finite for every x and blended by a 0/1 weight (a select the
	 * vectoriser does not take here).
	 */
	small = -5.70498872745E-3f;
	small = small * z + 2.06390887954E-2f;
	small = small * z - 5.37397155531E-2f;
	small = small * z + 1.33314422036E-1f;
	small = small * z - 3.33332819422E-1f;
	small = small * z * xs + xs;
	big = 1.0f - 2.0f / (exp_v(2.0f * (a > 10.0f ? 10.0f : a)) + 1.0f);
	big = x < 0 ? -big : big;
	m = a < 0.625f ? 1.0f : 0.0f;
	return m * small + (1.0f - m) * big;
}

static inline __attribute__((always_inline)) float
sigmoid_v(float x)
{
	return 1.0f / (1.0f + exp_v(-x));
}

/*
 * One loop per function: each vectorises on its own, and with GCC also in
 * AVX2 and AVX-512 versions picked at load time for the CPU at hand.
 */
static void __attribute__((noinline)) TL_VECTOR_CLONES
tanh_array(float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		x[i] = tanh_v(x[i]);
}

static void __attribute__((noinline)) TL_VECTOR_CLONES
sigmoid_array(float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		x[i] = sigmoid_v(x[i]);
}

static void
softmax_strided(float *x, int64_t len, int64_t stride)
{
	float		mx = -INFINITY;
	double		sum = 0;

	for (int64_t i = 0; i < len; i++)
		mx = fmaxf(mx, x[i * stride]);
	for (int64_t i = 0; i < len; i++)
	{
		float		e = expf(x[i * stride] - mx);

		x[i * stride] = e;
		sum += e;
	}
	for (int64_t i = 0; i < len; i++)
		x[i * stride] = (float) (x[i * stride] / sum);
}

static void
log_softmax_strided(float *x, int64_t len, int64_t stride)
{
	float		mx = -INFINITY;
	double		sum = 0;
	float		lse;

	for (int64_t i = 0; i < len; i++)
		mx = fmaxf(mx, x[i * stride]);
	for (int64_t i = 0; i < len; i++)
		sum += exp((double) (x[i * stride] - mx));
	lse = mx + (float) log(sum);
	for (int64_t i = 0; i < len; i++)
		x[i * stride] -= lse;
}

void
tl_act_apply(const tl_act *a, float *x, int64_t outer, int64_t len, int64_t inner)
{
	int64_t		total = outer * len * inner;

	switch (a->fn)
	{
		case TL_ACT_LINEAR:
			return;
		case TL_ACT_SOFTMAX:
			for (int64_t o = 0; o < outer; o++)
				for (int64_t i = 0; i < inner; i++)
					softmax_strided(x + o * len * inner + i, len, inner);
			return;
		case TL_ACT_LOG_SOFTMAX:
			for (int64_t o = 0; o < outer; o++)
				for (int64_t i = 0; i < inner; i++)
					log_softmax_strided(x + o * len * inner + i, len, inner);
			return;
		case TL_ACT_RELU:
			if (a->threshold == 0.0f && a->alpha == 0.0f && a->max_value < 0)
			{
				/* a form the compiler vectorises (the core is built -O3) */
				for (int64_t i = 0; i < total; i++)
					x[i] = x[i] > 0.0f ? x[i] : 0.0f;
				return;
			}
			break;
		case TL_ACT_SIGMOID:
			sigmoid_array(x, total);
			return;
		case TL_ACT_TANH:
			tanh_array(x, total);
			return;
		case TL_ACT_HARD_SIGMOID_K2:
			for (int64_t i = 0; i < total; i++)
			{
				float		v = 0.2f * x[i] + 0.5f;

				v = v < 0.0f ? 0.0f : v;
				x[i] = v > 1.0f ? 1.0f : v;
			}
			return;
		case TL_ACT_HARD_SIGMOID_K3:
			for (int64_t i = 0; i < total; i++)
			{
				float		v = x[i] / 6.0f + 0.5f;

				v = v < 0.0f ? 0.0f : v;
				x[i] = v > 1.0f ? 1.0f : v;
			}
			return;
		default:
			break;
	}
	for (int64_t i = 0; i < total; i++)
		x[i] = tl_act_scalar(a, x[i]);
}

float
tl_act_deriv(const tl_act *a, float x)
{
	switch (a->fn)
	{
		case TL_ACT_LINEAR:
		case TL_ACT_SOFTMAX:	/* not element-wise; never called for them */
		case TL_ACT_LOG_SOFTMAX:
			return 1.0f;
		case TL_ACT_RELU:
			if (x > a->threshold)
			{
				/* capped: the cap and the clamp at 0 are flat */
				if (a->max_value >= 0)
					return x > 0.0f && x < a->max_value ? 1.0f : 0.0f;
				return 1.0f;
			}
			return a->alpha;
		case TL_ACT_SIGMOID:
			{
				float		s = sigmoidf(x);

				return s * (1.0f - s);
			}
		case TL_ACT_HARD_SIGMOID_K2:
			return x > -2.5f && x < 2.5f ? 0.2f : 0.0f;
		case TL_ACT_HARD_SIGMOID_K3:
			return x > -3.0f && x < 3.0f ? 1.0f / 6.0f : 0.0f;
		case TL_ACT_TANH:
			{
				float		t = tanhf(x);

				return 1.0f - t * t;
			}
		case TL_ACT_ELU:
			return x > 0 ? 1.0f : a->alpha * expf(x);
		case TL_ACT_SELU:
			{
				const float scale = 1.05070098735548049342f;
				const float alpha = 1.67326324235437728482f;

				return scale * (x > 0 ? 1.0f : alpha * expf(x));
			}
		case TL_ACT_SOFTPLUS:
			return sigmoidf(x);
		case TL_ACT_SOFTSIGN:
			{
				float		d = 1.0f + fabsf(x);

				return 1.0f / (d * d);
			}
		case TL_ACT_SWISH:
			{
				float		s = sigmoidf(x);

				return s + x * s * (1.0f - s);
			}
		case TL_ACT_GELU:
			/* d/dx x Phi(x) = Phi(x) + x phi(x) */
			return 0.5f * (1.0f + erff(x * 0.70710678118654752440f)) +
				x * expf(-0.5f * x * x) * 0.39894228040143267794f;
		case TL_ACT_EXPONENTIAL:
			return expf(x);
		case TL_ACT_THRESHOLDED:
			return x > a->threshold ? 1.0f : 0.0f;
		case TL_ACT_MISH:
			{
				/* tanh(sp) + x sech^2(sp) sigmoid(x), sp = softplus(x) */
				float		t = tanhf(fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))));

				return t + x * (1.0f - t * t) * sigmoidf(x);
			}
		case TL_ACT_HARD_SILU:
			if (x <= -3.0f)
				return 0.0f;
			return x >= 3.0f ? 1.0f : (2.0f * x + 3.0f) / 6.0f;
	}
	return 1.0f;
}

void
tl_act_backward(const tl_act *a, const float *x, const float *y, const float *dy,
				float *dx, int64_t outer, int64_t len, int64_t inner)
{
	int64_t		total = outer * len * inner;

	switch (a->fn)
	{
		case TL_ACT_LINEAR:
			for (int64_t i = 0; i < total; i++)
				dx[i] += dy[i];
			return;
		case TL_ACT_SOFTMAX:
			/* dx_j = y_j (dy_j - sum_k dy_k y_k) along the softmax axis */
			for (int64_t o = 0; o < outer; o++)
				for (int64_t i = 0; i < inner; i++)
				{
					int64_t		base = o * len * inner + i;
					double		dot = 0;

					for (int64_t j = 0; j < len; j++)
						dot += (double) dy[base + j * inner] * y[base + j * inner];
					for (int64_t j = 0; j < len; j++)
					{
						int64_t		k = base + j * inner;

						dx[k] += (float) (y[k] * (dy[k] - dot));
					}
				}
			return;
		case TL_ACT_LOG_SOFTMAX:
			/* dx_j = dy_j - softmax_j sum_k dy_k, softmax = exp(y) */
			for (int64_t o = 0; o < outer; o++)
				for (int64_t i = 0; i < inner; i++)
				{
					int64_t		base = o * len * inner + i;
					double		sum = 0;

					for (int64_t j = 0; j < len; j++)
						sum += dy[base + j * inner];
					for (int64_t j = 0; j < len; j++)
					{
						int64_t		k = base + j * inner;

						dx[k] += (float) (dy[k] - exp((double) y[k]) * sum);
					}
				}
			return;
		case TL_ACT_RELU:
			if (a->threshold == 0.0f && a->alpha == 0.0f && a->max_value < 0)
			{
				for (int64_t i = 0; i < total; i++)
					dx[i] += x[i] > 0 ? dy[i] : 0.0f;
				return;
			}
			break;
		default:
			break;
	}
	for (int64_t i = 0; i < total; i++)
		dx[i] += dy[i] * tl_act_deriv(a, x[i]);
}
