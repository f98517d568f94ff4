/*
 * test_tokenize.c — unit tests of Keras IMDB tokenisation
 * (format/tl_tokenize.c).
 *
 * Usage: test_tokenize.  Expected ids follow Keras' text_to_word_sequence
 * defaults and the IMDB encoding (1 starts a review, 2 is unknown), worked
 * out by hand; test/reference/imdb_tokenize.py is the reference on real
 * reviews (test/sql/31_tokenize.sql).
 */
#include <stdio.h>
#include <string.h>

#include "test_util.h"
#include "format/tl_tokenize.h"

static tl_vocab *
small_vocab(void)
{
	static const char *const words[] = {"the", "movie", "was", "great", "héros"};
	tl_status	st = {0};
	tl_vocab   *v = tl_vocab_new(8, &st);

	for (int i = 0; v && i < 5; i++)
		tl_vocab_add(v, words[i], strlen(words[i]), 4 + i, &st);
	/* a repeated word keeps its first id */
	tl_vocab_add(v, "the", 3, 99, &st);
	return v;
}

static int
same(const int32_t *got, int n, const int32_t *want, int wn)
{
	return n == wn && memcmp(got, want, sizeof(int32_t) * n) == 0;
}

static void
test_words(void)
{
	tl_vocab   *v = small_vocab();
	tl_status	st = {0};
	int32_t    *ids = NULL;
	int			n = 0;
	const char *text = "The MOVIE!! was\tgreat,\nreally";
	/* start, the, movie, was, great, really (unknown) */
	const int32_t want[] = {1, 4, 5, 6, 7, 2};
	/* num_words 6: ids >= 6 become unknown */
	const int32_t capped[] = {1, 4, 5, 2, 2, 2};

	CHECK(v != NULL, "no vocabulary");
	CHECK(tl_vocab_lookup(v, "the", 3) == 4 && tl_vocab_lookup(v, "nope", 4) == -1, "lookup");
	CHECK(tl_tokenize(v, text, strlen(text), 0, &ids, &n, &st) == 0, "%s", st.msg);
	CHECK(same(ids, n, want, 6), "ids of \"%s\"", text);
	tl_free(ids);
	CHECK(tl_tokenize(v, text, strlen(text), 6, &ids, &n, &st) == 0, "%s", st.msg);
	CHECK(same(ids, n, capped, 6), "ids with num_words 6");
	tl_free(ids);
	/* only punctuation: the start token alone */
	CHECK(tl_tokenize(v, "?!...", 5, 0, &ids, &n, &st) == 0 && n == 1 && ids[0] == 1, "empty review");
	tl_free(ids);
	/* Latin-1 capitals are lowered as Python does: HÉROS -> héros */
	CHECK(tl_tokenize(v, "HÉROS", strlen("HÉROS"), 0, &ids, &n, &st) == 0 && n == 2 && ids[1] == 8,
		  "HÉROS not found as héros");
	tl_free(ids);
	tl_vocab_free(v);
}

static void
test_lower(void)
{
	const char *in = "ÀÉÎ ΑΒΓ АБВ Z";
	const char *want = "àéî αβγ абв z";
	char		out[64];
	size_t		n = tl_utf8_lower(in, strlen(in), out);

	CHECK(n == strlen(want) && memcmp(out, want, n) == 0, "lower-case of \"%s\"", in);
}

int
main(void)
{
	test_words();
	test_lower();
	return test_summary();
}
