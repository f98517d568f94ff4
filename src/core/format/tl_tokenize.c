/*
 * tl_tokenize.c — the tokenisation Keras' IMDB examples use.
 *
 * keras.preprocessing.text.text_to_word_sequence (defaults: lower=True,
 * split=" ", the filter set below) and keras.datasets.imdb's encoding
 * (index_from 3: the word of rank r has id r + 3; start 1, OOV 2).  Only
 * U+0020 separates words — Keras calls str.split(" ") — so other whitespace
 * (U+0085, U+00A0) stays inside a word, as in Keras.  The HTML "<br />" of
 * IMDB reviews therefore becomes the word "br", as Keras makes it.
 */
#include <string.h>

#include "format/tl_tokenize.h"

static const char keras_filters[] = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n";

/* Open addressing; FNV-1a; words are copied into one arena. */
typedef struct slot
{
	uint32_t	hash;
	int32_t		id;				/* -1: empty */
	uint32_t	len;
	size_t		off;
} slot;

struct tl_vocab
{
	slot	   *slots;
	size_t		n_slots;		/* a power of two */
	size_t		n_words;
	char	   *arena;
	size_t		arena_len,
				arena_cap;
};

static uint32_t
fnv1a(const char *s, size_t len)
{
	uint32_t	h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char) s[i]) * 16777619u;
	return h;
}

static int
rehash(tl_vocab *v, size_t n_slots, tl_status *st)
{
	slot	   *s = tl_malloc(sizeof(slot) * n_slots);

	if (s == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory for the vocabulary");
	for (size_t i = 0; i < n_slots; i++)
		s[i].id = -1;
	for (size_t i = 0; i < v->n_slots; i++)
	{
		size_t		j;

		if (v->slots[i].id < 0)
			continue;
		for (j = v->slots[i].hash & (n_slots - 1); s[j].id >= 0; j = (j + 1) & (n_slots - 1))
			;
		s[j] = v->slots[i];
	}
	tl_free(v->slots);
	v->slots = s;
	v->n_slots = n_slots;
	return 0;
}

tl_vocab *
tl_vocab_new(int expected_words, tl_status *st)
{
	tl_vocab   *v = tl_calloc(1, sizeof(tl_vocab));
	size_t		n = 64;

	if (v == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory for the vocabulary");
		return NULL;
	}
	while (n < (size_t) (expected_words > 0 ? expected_words : 0) * 2)
		n *= 2;
	if (rehash(v, n, st) < 0)
	{
		tl_free(v);
		return NULL;
	}
	return v;
}

void
tl_vocab_free(tl_vocab *v)
{
	if (v)
	{
		tl_free(v->slots);
		tl_free(v->arena);
		tl_free(v);
	}
}

int32_t
tl_vocab_lookup(const tl_vocab *v, const char *word, size_t len)
{
	uint32_t	h = fnv1a(word, len);

	for (size_t j = h & (v->n_slots - 1); v->slots[j].id >= 0; j = (j + 1) & (v->n_slots - 1))
	{
		const slot *s = &v->slots[j];

		if (s->hash == h && s->len == len && memcmp(v->arena + s->off, word, len) == 0)
			return s->id;
	}
	return -1;
}

int
tl_vocab_add(tl_vocab *v, const char *word, size_t len, int32_t id, tl_status *st)
{
	uint32_t	h = fnv1a(word, len);
	size_t		j;

	if (id < 0)
		return tl_fail(st, TL_ERR_ARG, "vocabulary ids must not be negative");
	if (tl_vocab_lookup(v, word, len) >= 0)
		return 0;
	if ((v->n_words + 1) * 2 > v->n_slots && rehash(v, v->n_slots * 2, st) < 0)
		return -1;
	if (v->arena_len + len > v->arena_cap)
	{
		size_t		cap = (v->arena_cap ? v->arena_cap * 2 : 4096) + len;
		char	   *a = tl_realloc(v->arena, cap);

		if (a == NULL)
			return tl_fail(st, TL_ERR_NOMEM, "out of memory for the vocabulary");
		v->arena = a;
		v->arena_cap = cap;
	}
	memcpy(v->arena + v->arena_len, word, len);
	for (j = h & (v->n_slots - 1); v->slots[j].id >= 0; j = (j + 1) & (v->n_slots - 1))
		;
	v->slots[j].hash = h;
	v->slots[j].id = id;
	v->slots[j].len = (uint32_t) len;
	v->slots[j].off = v->arena_len;
	v->arena_len += len;
	v->n_words++;
	return 0;
}

/* Lower-case of a code point, for the scripts tl_utf8_lower covers. */
static uint32_t
lower_cp(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) ||	/* Latin-1 capitals */
		(c >= 0x391 && c <= 0x3AB && c != 0x3A2) ||	/* Greek */
		(c >= 0x410 && c <= 0x42F))	/* Cyrillic */
		return c + 32;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	if (c == 0x178)				/* Ÿ */
		return 0xFF;
	/* Latin Extended-A pairs capital/small (İ, ı, ĸ, ŉ and ſ excepted) */
	if (c >= 0x100 && c <= 0x17E && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149)
	{
		int			odd_pairs = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);

		if (odd_pairs ? (c % 2 == 1) : (c % 2 == 0))
			return c + 1;
	}
	return c;
}

size_t
tl_utf8_lower(const char *in, size_t len, char *out)
{
	size_t		o = 0;

	for (size_t i = 0; i < len;)
	{
		unsigned char b = (unsigned char) in[i];
		uint32_t	c,
					lc;

		if (b < 0x80)
		{
			out[o++] = (b >= 'A' && b <= 'Z') ? (char) (b + 32) : (char) b;
			i++;
			continue;
		}
		if ((b & 0xE0) == 0xC0 && i + 1 < len && (in[i + 1] & 0xC0) == 0x80)
		{
			/* every mapped code point is two bytes before and after */
			c = ((uint32_t) (b & 0x1F) << 6) | (in[i + 1] & 0x3F);
			lc = lower_cp(c);
			if (lc >= 0x80 && lc < 0x800)
			{
				out[o++] = (char) (0xC0 | (lc >> 6));
				out[o++] = (char) (0x80 | (lc & 0x3F));
				i += 2;
				continue;
			}
		}
		out[o++] = in[i++];
	}
	return o;
}

int
tl_tokenize(const tl_vocab *v, const char *text, size_t len, int num_words,
			int32_t **ids, int *n, tl_status *st)
{
	char	   *low = tl_malloc(len ? len : 1);
	int32_t    *out;
	size_t		low_len;
	int			count = 1;
	unsigned char is_filter[256] = {0};

	*ids = NULL;
	*n = 0;
	/* at most one word per two bytes, plus the start token */
	out = tl_malloc(sizeof(int32_t) * (len / 2 + 2));
	if (low == NULL || out == NULL)
	{
		tl_free(low);
		tl_free(out);
		return tl_fail(st, TL_ERR_NOMEM, "out of memory tokenising %zu bytes", len);
	}
	for (const char *f = keras_filters; *f; f++)
		is_filter[(unsigned char) *f] = 1;
	low_len = tl_utf8_lower(text, len, low);
	out[0] = TL_TOKEN_START;
	for (size_t i = 0; i < low_len;)
	{
		size_t		start;
		int32_t		id;

		while (i < low_len && (low[i] == ' ' || is_filter[(unsigned char) low[i]]))
			i++;
		if (i == low_len)
			break;
		start = i;
		while (i < low_len && low[i] != ' ' && !is_filter[(unsigned char) low[i]])
			i++;
		id = tl_vocab_lookup(v, low + start, i - start);
		if (id < 0 || (num_words > 0 && id >= num_words))
			id = TL_TOKEN_OOV;
		out[count++] = id;
	}
	tl_free(low);
	*ids = out;
	*n = count;
	return 0;
}
