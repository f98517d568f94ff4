/*
 * test_near_dup.c — near-duplicates in input space (analysis/tl_near_dup.h)
 * against brute force: MinHash + LSH returns exactly the pairs whose exact
 * Jaccard passes (none below, at least 95 % of those above), documents
 * with a "sentence" replaced are found and unrelated ones are not; noisy
 * and one-pixel-shifted copies of smooth random images are found at the
 * default threshold with no unrelated pair; leakage keeps pairs across.
 */
#include <string.h>

#include "analysis/tl_near_dup.h"
#include "test_util.h"

static uint64_t rng_state = 13;

static int
has_pair(const tl_ndup_pairs *ps, int a, int b)
{
	for (int64_t p = 0; p < ps->n; p++)
		if ((ps->p[p].a == a && ps->p[p].b == b) || (ps->p[p].a == b && ps->p[p].b == a))
			return 1;
	return 0;
}

static void
test_shingles(void)
{
	float		padded[] = {0, 0, 0, 5, 6, 7, 8},
				plain[] = {5, 6, 7, 8},
				other[] = {5, 6, 7, 9},
				short_seq[] = {0, 4, 0};
	uint32_t	a[8],
				b[8],
				c[8];
	int			na = tl_ndup_token_shingles(padded, 7, a),
				nb = tl_ndup_token_shingles(plain, 4, b),
				nc = tl_ndup_token_shingles(other, 4, c);

	CHECK(na == 2 && nb == 2 && memcmp(a, b, sizeof(uint32_t) * 2) == 0,
		  "padding is left out of the shingles (%d, %d)", na, nb);
	CHECK(nc == 2 && (c[0] == b[0] || c[1] == b[1] || c[0] == b[1] || c[1] == b[0]),
		  "one changed token changes one of two 3-grams");
	CHECK(tl_ndup_token_shingles(short_seq, 3, a) == 1, "a sequence shorter than a shingle is one");
	CHECK(tl_ndup_is_multi_hot((float[]) {0, 1, 0, 0, 0, 0, 1, 0}, 8), "0/1, a quarter ones: multi-hot");
	CHECK(!tl_ndup_is_multi_hot((float[]) {0, 0.5f, 0, 0}, 4), "0.5 is not multi-hot");
	CHECK(!tl_ndup_is_multi_hot((float[]) {1, 1, 0, 0}, 4), "half ones is not sparse");
}

#define DOCS 300
#define DOC_LEN 120
#define COPIES 30

/* documents of random tokens; the last COPIES copy one of the first with a block of 12 replaced */
static void
test_set_pairs(void)
{
	static float docs[DOCS + COPIES][DOC_LEN];
	static uint32_t elem[(DOCS + COPIES) * DOC_LEN];
	int64_t		offset[DOCS + COPIES + 1];
	tl_ndup_sets s = {DOCS + COPIES, offset, elem};
	tl_ndup_pairs ps = {0},
				cross = {0};
	tl_status	st = {0};
	int			n = DOCS + COPIES,
				above = 0,
				found_above = 0,
				below_found = 0,
				copies_found = 0;

	for (int i = 0; i < DOCS; i++)
		for (int t = 0; t < DOC_LEN; t++)
			docs[i][t] = (float) (1 + (int) (test_uniform(&rng_state) * 3000));
	for (int k = 0; k < COPIES; k++)
	{
		int			at = (int) (test_uniform(&rng_state) * (DOC_LEN - 12));

		memcpy(docs[DOCS + k], docs[k], sizeof(docs[k]));
		for (int t = at; t < at + 12; t++)
			docs[DOCS + k][t] = (float) (1 + (int) (test_uniform(&rng_state) * 3000));
	}
	offset[0] = 0;
	for (int i = 0; i < n; i++)
		offset[i + 1] = offset[i] + tl_ndup_token_shingles(docs[i], DOC_LEN, elem + offset[i]);
	CHECK(tl_ndup_set_pairs(&s, n, 0.4, &ps, &st) == 0, "set pairs: %s", st.msg);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
		{
			double		jac = tl_ndup_jaccard(&s, i, j);
			int			found = has_pair(&ps, i, j);

			above += jac >= 0.4;
			found_above += jac >= 0.4 && found;
			below_found += jac < 0.4 && found;
		}
	for (int k = 0; k < COPIES; k++)
		copies_found += has_pair(&ps, k, DOCS + k);
	CHECK(below_found == 0, "%d pairs below the threshold returned", below_found);
	CHECK(above >= COPIES && found_above >= 0.95 * above, "%d of the %d pairs above the threshold found", found_above, above);
	CHECK(copies_found == COPIES, "%d of %d edited copies found", copies_found, COPIES);
	CHECK(ps.n == found_above, "each pair once (%lld rows, %d pairs)", (long long) ps.n, found_above);
	/* leakage: the copies as another run */
	CHECK(tl_ndup_set_pairs(&s, DOCS, 0.4, &cross, &st) == 0, "cross pairs: %s", st.msg);
	for (int64_t p = 0; p < cross.n; p++)
		CHECK(cross.p[p].a < DOCS && cross.p[p].b >= DOCS, "a pair across the runs (%d, %d)", cross.p[p].a, cross.p[p].b);
	CHECK(cross.n == COPIES, "every copy leaks once (%lld)", (long long) cross.n);
	CHECK(tl_ndup_set_pairs(&s, n, 0, &ps, &st) < 0 && st.code == TL_ERR_ARG, "a threshold of 0 is refused");
	tl_status_clear(&st);
	CHECK(tl_ndup_set_pairs(&s, n + 1, 0.5, &ps, &st) < 0 && st.code == TL_ERR_ARG, "n_a beyond n is refused");
	tl_ndup_pairs_free(&ps);
	tl_ndup_pairs_free(&cross);
}

#define IMAGES 400
#define SIDE 28
#define PLANTED 40

/* a smooth random image: a few Gaussian blobs on a dark background */
static void
blob_image(float *img)
{
	memset(img, 0, sizeof(float) * SIDE * SIDE);
	for (int b = 0; b < 4; b++)
	{
		double		cy = 6 + test_uniform(&rng_state) * 16,
					cx = 6 + test_uniform(&rng_state) * 16,
					r = 1.5 + test_uniform(&rng_state) * 3;

		for (int y = 0; y < SIDE; y++)
			for (int x = 0; x < SIDE; x++)
				img[y * SIDE + x] += (float) exp(-((y - cy) * (y - cy) + (x - cx) * (x - cx)) / (2 * r * r));
	}
}

static void
test_dense_pairs(void)
{
	static float x[(IMAGES + PLANTED) * SIDE * SIDE];
	tl_shape	shape = {3, {SIDE, SIDE, 1}};
	tl_ndup_geometry g;
	tl_ndup_pairs ps = {0},
				cross = {0};
	tl_status	st = {0};
	double		used = 0;
	int			n = IMAGES + PLANTED,
				found = 0,
				unplanted = 0;

	tl_ndup_geometry_of(&shape, &g);
	CHECK(g.h == SIDE && g.w == SIDE && g.c == 1 && g.spatial && !g.channels_first, "(28, 28, 1) is an image");
	tl_ndup_geometry_of(&(tl_shape) {3, {3, 32, 32}}, &g);
	CHECK(g.channels_first && g.c == 3 && g.h == 32, "(3, 32, 32) is channels first");
	tl_ndup_geometry_of(&(tl_shape) {1, {500}}, &g);
	CHECK(!g.spatial && g.w == 500, "a flat vector is not shifted");
	tl_ndup_geometry_of(&shape, &g);
	for (int i = 0; i < IMAGES; i++)
		blob_image(x + i * SIDE * SIDE);
	for (int k = 0; k < PLANTED; k++)
	{
		float	   *src = x + k * SIDE * SIDE,
				   *dst = x + (IMAGES + k) * SIDE * SIDE;

		for (int y = 0; y < SIDE; y++)
			for (int c = 0; c < SIDE; c++)
				dst[y * SIDE + c] = k % 2 ? (c > 0 ? src[y * SIDE + c - 1] : 0)
					: src[y * SIDE + c] + (float) (0.02 * test_gauss(&rng_state));
	}
	CHECK_NEAR(tl_ndup_shift_distance(x + IMAGES * SIDE * SIDE + SIDE * SIDE, x + SIDE * SIDE, &g), 0, 1e-6);
	CHECK(tl_ndup_dense_pairs(x, n, n, &g, 0, 1000, &ps, &used, &st) == 0, "dense pairs: %s", st.msg);
	CHECK(used > 0, "a default threshold (%g)", used);
	for (int k = 0; k < PLANTED; k++)
		found += has_pair(&ps, k, IMAGES + k);
	for (int64_t p = 0; p < ps.n; p++)
		unplanted += !(ps.p[p].b == ps.p[p].a + IMAGES && ps.p[p].a < PLANTED);
	CHECK(found == PLANTED, "%d of %d noisy and shifted copies found", found, PLANTED);
	CHECK(unplanted == 0, "%d unrelated pairs returned", unplanted);
	CHECK(tl_ndup_dense_pairs(x, n, IMAGES, &g, 0, 1000, &cross, &used, &st) == 0, "dense leakage: %s", st.msg);
	CHECK(cross.n == PLANTED, "every copy leaks (%lld)", (long long) cross.n);
	CHECK(tl_ndup_dense_pairs(x, n, 0, &g, 0, 1000, &cross, &used, &st) < 0 && st.code == TL_ERR_ARG,
		  "an empty first run is refused");
	tl_ndup_pairs_free(&ps);
	tl_ndup_pairs_free(&cross);
}

int
main(int argc, char **argv)
{
	(void) argc;
	(void) argv;
	test_shingles();
	test_set_pairs();
	test_dense_pairs();
	printf("%d passed, %d failed\n", passed, failed);
	return failed > 0;
}
