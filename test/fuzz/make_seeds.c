/*
 * make_seeds.c — seed inputs for fuzz_config and fuzz_flat, derived from
 * model files: make_seeds OUTDIR FILE... writes OUTDIR/config/<n> (a
 * version byte and the model_config JSON) and OUTDIR/flat/<n> (the model as
 * a flat stream) for every FILE that loads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/tl_format.h"

static int
file_write(void *arg, const void *p, size_t n)
{
	return fwrite(p, 1, n, (FILE *) arg) == n ? 0 : -1;
}

static FILE *
open_out(const char *dir, const char *kind, int i)
{
	char		path[4096];

	snprintf(path, sizeof(path), "%s/%s/seed%03d", dir, kind, i);
	return fopen(path, "wb");
}

int
main(int argc, char **argv)
{
	tl_limits	lim = {64 << 20, 64 << 20};
	int			written = 0;

	for (int i = 2; i < argc; i++)
	{
		FILE	   *f = fopen(argv[i], "rb");
		char	   *buf;
		long		n;
		tl_status	st = {0};
		tl_model   *m = NULL;
		FILE	   *out;

		if (f == NULL)
			continue;
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		fseek(f, 0, SEEK_SET);
		buf = malloc(n ? n : 1);
		if (buf && fread(buf, 1, n, f) == (size_t) n)
			m = tl_model_load(buf, n, &lim, &st);
		fclose(f);
		free(buf);
		if (m == NULL)
			continue;
		if ((out = open_out(argv[1], "config", i)) != NULL)
		{
			fputc(strcmp(m->format, "keras_v3") == 0, out);
			fputs(m->config_json, out);
			fclose(out);
		}
		if ((out = open_out(argv[1], "flat", i)) != NULL)
		{
			tl_flat_write_model(m, file_write, out);
			fclose(out);
		}
		tl_model_free(m);
		written++;
	}
	printf("make_seeds: %d models\n", written);
	return 0;
}
