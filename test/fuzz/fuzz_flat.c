/*
 * fuzz_flat.c — libFuzzer target: the reader of the flat model stream that
 * a parser process sends back (tl_flat_read).  In the server that stream
 * comes from a child that parsed hostile bytes, so the reader must survive
 * any stream.  Seeds: the fixtures as streams (test/fuzz/make_seeds).
 */
#include <stdint.h>
#include <stddef.h>

#include "format/tl_format.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tl_limits	lim = {8 << 20, 16 << 20};
	tl_status	st = {0};

	tl_model_free(tl_flat_read(data, size, &lim, &st));
	return 0;
}
