/*
 * test_procrustes.c — unit tests of orthogonal Procrustes alignment
 * (analysis/tl_procrustes.c).
 *
 * Usage: test_procrustes.  The truth is constructed: points moved by a
 * known rotation or reflection and shift must be laid back exactly.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"
#include "analysis/tl_procrustes.h"

#define N 12

/* 12 points spread in 3 dimensions (no symmetry a rotation could hide) */
static void
points(double *a, int flat)
{
	for (int i = 0; i < N; i++)
	{
		a[i * 3] = sin(1.3 * i) * (1 + i % 3);
		a[i * 3 + 1] = cos(0.7 * i) * 2 - 0.1 * i;
		a[i * 3 + 2] = flat ? 0 : 0.5 * i - (i % 4);
	}
}

/* b = a R0 + t */
static void
move(const double *a, const double *r0, const double *t, double *b)
{
	for (int i = 0; i < N; i++)
		for (int q = 0; q < 3; q++)
		{
			double		v = t[q];

			for (int k = 0; k < 3; k++)
				v += a[i * 3 + k] * r0[k * 3 + q];
			b[i * 3 + q] = v;
		}
}

static void
check_recovers(const char *what, const double *r0, int flat)
{
	double		a[N * 3],
				b[N * 3];
	const double t[3] = {5, -3, flat ? 0 : 0.25};
	tl_alignment al;
	tl_status	st = {0};
	double		worst = 0;

	points(a, flat);
	move(a, r0, t, b);
	CHECK(tl_procrustes_fit(a, b, N, &al, &st) == 0, "%s: %s", what, st.msg);
	for (int k = 0; k < (flat ? 0 : 9); k++)
		CHECK_NEAR(al.r[k], r0[k], 1e-9);
	for (int i = 0; i < N; i++)
	{
		double		p[3];

		tl_alignment_apply(&al, a + i * 3, p);
		for (int q = 0; q < 3; q++)
			worst = fmax(worst, fabs(p[q] - b[i * 3 + q]));
	}
	CHECK(worst < 1e-9, "%s: aligned points are %.3g away from their targets", what, worst);
}

static void
test_known_moves(void)
{
	double		c = cos(M_PI / 6),
				s = sin(M_PI / 6);
	/* 30 degrees about z; row-major, points are rows: p' = p R */
	const double rz[9] = {c, s, 0, -s, c, 0, 0, 0, 1};
	/* a reflection: x negated */
	const double fx[9] = {-1, 0, 0, 0, 1, 0, 0, 0, 1};
	/* 90 degrees about x: y -> z, z -> -y */
	const double rx[9] = {1, 0, 0, 0, 0, 1, 0, -1, 0};
	const double id[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};

	check_recovers("identity", id, 0);
	check_recovers("rotation about z", rz, 0);
	check_recovers("reflection", fx, 0);
	check_recovers("rotation about x", rx, 0);
	/* a plane (z = 0 on both sides, as tl_analyze passes 2-D runs): the
	 * points are recovered though R is free in the unused direction */
	check_recovers("rotation in the plane", rz, 1);
}

static void
test_matrix(void)
{
	/* M = 2 I: R = I; M = diag(-3, 1): R = diag(-1, 1) (SVD by hand) */
	double		m1[4] = {2, 0, 0, 2},
				m2[4] = {-3, 0, 0, 1},
				r[9];
	tl_status	st = {0};

	CHECK(tl_procrustes(m1, 2, r, &st) == 0, "%s", st.msg);
	CHECK_NEAR(r[0], 1, 1e-12);
	CHECK_NEAR(r[1], 0, 1e-12);
	CHECK_NEAR(r[3], 1, 1e-12);
	CHECK(tl_procrustes(m2, 2, r, &st) == 0, "%s", st.msg);
	CHECK_NEAR(r[0], -1, 1e-12);
	CHECK_NEAR(r[3], 1, 1e-12);
	CHECK(tl_procrustes(m1, 4, r, &st) < 0 && st.code == TL_ERR_ARG, "4 dimensions accepted");
}

static void
test_errors(void)
{
	double		a[N * 3],
				b[N * 3];
	tl_alignment al;
	tl_status	st = {0};

	points(a, 0);
	memcpy(b, a, sizeof(a));
	CHECK(tl_procrustes_fit(a, b, TL_ALIGN_MIN_POINTS - 1, &al, &st) < 0 && st.code == TL_ERR_ARG,
		  "too few points accepted");
	tl_status_clear(&st);
	b[4] = NAN;
	CHECK(tl_procrustes_fit(a, b, N, &al, &st) < 0 && st.code == TL_ERR_NAN,
		  "a NaN coordinate accepted: %s", st.msg);
}

int
main(void)
{
	test_known_moves();
	test_matrix();
	test_errors();
	return test_summary();
}
