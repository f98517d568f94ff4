/*
 * tl_procrustes.c — orthogonal Procrustes: the rotation (or reflection)
 * that best lays one placement of samples onto another, so that a run's
 * population map keeps the orientation of the previous epoch's.
 */
#include <math.h>
#include <string.h>

#include "analysis/tl_procrustes.h"

/* LAPACK (OpenBLAS ships the Fortran symbols, no LAPACKE) */
extern void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n,
					double *a, const int *lda, double *s, double *u, const int *ldu,
					double *vt, const int *ldvt, double *work, const int *lwork, int *info);

int
tl_procrustes(const double *m, int d, double *r, tl_status *st)
{
	double		a[9],
				s[3],
				u[9],
				vt[9],
				work[64];
	int			lwork = 64,
				info;

	if (d < 1 || d > 3)
		return tl_fail(st, TL_ERR_ARG, "alignment works in 1 to 3 dimensions, not %d", d);
	/* LAPACK is column-major: pass Mᵀ, get back Vᵀ... handled by swapping roles */
	for (int i = 0; i < d; i++)
		for (int j = 0; j < d; j++)
			a[j * d + i] = m[i * d + j];
	dgesvd_("A", "A", &d, &d, a, &d, s, u, &d, vt, &d, work, &lwork, &info);
	if (info != 0)
		return tl_fail(st, TL_ERR_ARG, "the alignment SVD did not converge (info %d)", info);
	/* R = U Vᵀ; u and vt are column-major */
	for (int i = 0; i < d; i++)
		for (int j = 0; j < d; j++)
		{
			double		sum = 0;

			for (int q = 0; q < d; q++)
				sum += u[q * d + i] * vt[j * d + q];
			r[i * d + j] = sum;
		}
	return 0;
}

int
tl_procrustes_fit(const double *a, const double *b, int n, tl_alignment *al, tl_status *st)
{
	double		m[9] = {0};

	if (n < TL_ALIGN_MIN_POINTS)
		return tl_fail(st, TL_ERR_ARG, "alignment needs at least %d shared points, not %d",
					   TL_ALIGN_MIN_POINTS, n);
	memset(al, 0, sizeof(*al));
	for (int i = 0; i < n; i++)
		for (int j = 0; j < 3; j++)
		{
			al->mean_a[j] += a[i * 3 + j];
			al->mean_b[j] += b[i * 3 + j];
		}
	for (int j = 0; j < 3; j++)
	{
		al->mean_a[j] /= n;
		al->mean_b[j] /= n;
	}
	/* M = (A - mean A)ᵀ (B - mean B) */
	for (int i = 0; i < n; i++)
		for (int p = 0; p < 3; p++)
			for (int q = 0; q < 3; q++)
				m[p * 3 + q] += (a[i * 3 + p] - al->mean_a[p]) * (b[i * 3 + q] - al->mean_b[q]);
	for (int k = 0; k < 9; k++)
		if (!isfinite(m[k]))
			return tl_fail(st, TL_ERR_NAN, "alignment: the coordinates are not finite");
	return tl_procrustes(m, 3, al->r, st);
}

void
tl_alignment_apply(const tl_alignment *al, const double *p, double *out)
{
	for (int q = 0; q < 3; q++)
	{
		double		v = 0;

		for (int k = 0; k < 3; k++)
			v += (p[k] - al->mean_a[k]) * al->r[k * 3 + q];
		out[q] = v + al->mean_b[q];
	}
}
