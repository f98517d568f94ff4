#!/usr/bin/python3
"""imdb_tokenize.py - reference for Keras-style IMDB tokenisation.

Written from the documented Keras rules:

  text_to_word_sequence(text)          (Keras defaults)
    1. lower-case the text (Python str.lower(), i.e. full Unicode);
    2. replace every character of the default filter set
           !"#$%&()*+,-./:;<=>?@[\\]^_`{|}~  plus TAB and NEWLINE
       with a space;
    3. split on the space character ' ' (Keras calls text.split(" "), so
       only U+0020 separates words: other whitespace such as U+0085 NEL or
       U+00A0 stays inside a word) and drop the empty strings.
    Consequence: the HTML line break "<br />" becomes the word "br"
    (rank 7 in the IMDB index), exactly as Keras does.

  word -> id, as keras.datasets.imdb encodes reviews
    id = word_index[word] + index_from (index_from = 3), so 0 = padding,
    1 = start token (prepended), 2 = out-of-vocabulary (unknown word, or
    id >= num_words when num_words is given).

  pad_sequences(maxlen) defaults: padding='pre', truncating='pre', value 0.

CLI:  /usr/bin/python3 imdb_tokenize.py WORD_INDEX.json [--num-words N]
          [--maxlen L] [--padding pre|post] [--truncating pre|post] [TEXT]
      (reads TEXT from stdin when omitted; prints the ids comma-separated)
"""
import json
import sys

FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_TRANSLATE = str.maketrans({c: " " for c in FILTERS})

START, OOV, PAD = 1, 2, 0


def text_to_word_sequence(text):
    return [w for w in text.lower().translate(_TRANSLATE).split(" ") if w]


def pad_sequence(seq, maxlen, padding="pre", truncating="pre", value=PAD):
    """Keras pad_sequences for one sequence."""
    seq = list(seq)
    if len(seq) > maxlen:
        seq = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
    pad = [value] * (maxlen - len(seq))
    return pad + seq if padding == "pre" else seq + pad


def encode(text, word_index, num_words=None, index_from=3):
    """Start token + ids, unpadded (the raw Keras IMDB sequence)."""
    ids = [START]
    for w in text_to_word_sequence(text):
        r = word_index.get(w)
        i = OOV if r is None else r + index_from
        if num_words is not None and i >= num_words:
            i = OOV
        ids.append(i)
    return ids


def tokenize(text, word_index, num_words=None, maxlen=None, index_from=3,
             padding="pre", truncating="pre"):
    ids = encode(text, word_index, num_words, index_from)
    if maxlen is not None:
        ids = pad_sequence(ids, maxlen, padding, truncating)
    return ids


def load_word_index(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="Keras IMDB tokeniser")
    ap.add_argument("word_index")
    ap.add_argument("text", nargs="?")
    ap.add_argument("--num-words", type=int)
    ap.add_argument("--maxlen", type=int)
    ap.add_argument("--index-from", type=int, default=3)
    ap.add_argument("--padding", default="pre", choices=["pre", "post"])
    ap.add_argument("--truncating", default="pre", choices=["pre", "post"])
    a = ap.parse_intermixed_args(argv)
    text = a.text if a.text is not None else sys.stdin.read()
    ids = tokenize(text, load_word_index(a.word_index), a.num_words,
                   a.maxlen, a.index_from, a.padding, a.truncating)
    print(",".join(map(str, ids)))


if __name__ == "__main__":
    main(sys.argv[1:])
