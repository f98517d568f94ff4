/*
 * tl_tokenize.h — Keras IMDB tokenisation: text → token ids.
 */
#ifndef TL_TOKENIZE_H
#define TL_TOKENIZE_H

#include "base/tl_core.h"

/* Keras IMDB conventions: 0 pads, 1 starts a review, 2 is out-of-vocabulary. */
#define TL_TOKEN_PAD 0
#define TL_TOKEN_START 1
#define TL_TOKEN_OOV 2

typedef struct tl_vocab tl_vocab;

tl_vocab   *tl_vocab_new(int expected_words, tl_status *st);
void		tl_vocab_free(tl_vocab *v);
/* Adds word (len bytes, UTF-8) with its final id; a repeated word keeps the first id. */
int			tl_vocab_add(tl_vocab *v, const char *word, size_t len, int32_t id,
						 tl_status *st);
int32_t		tl_vocab_lookup(const tl_vocab *v, const char *word, size_t len);	/* -1 */

/*
 * Keras text_to_word_sequence with its defaults, then the IMDB encoding:
 * lower-case; each of !"#$%&()*+,-./:;<=>?@[\]^_`{|}~ TAB NEWLINE becomes a
 * space; split on the space character only; drop empty words.  Then the
 * start token, each word's id (OOV when unknown or >= num_words, if
 * num_words > 0).  *ids is tl_malloc'd; *n receives the count.
 */
int			tl_tokenize(const tl_vocab *v, const char *text, size_t len,
						int num_words, int32_t **ids, int *n, tl_status *st);

/*
 * Lower-cases UTF-8 text the way Python's str.lower() does for ASCII,
 * Latin-1, Latin Extended-A, Greek and Cyrillic capitals (other characters
 * are copied).  out must hold len bytes; returns the output length.
 */
size_t		tl_utf8_lower(const char *in, size_t len, char *out);

#endif							/* TL_TOKENIZE_H */
