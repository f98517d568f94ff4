/*
 * replay_isolated.c — replay_isolated FILE...: loads each file the way the
 * server does, in a parser process (tl_model_load_isolated, 10 s limit),
 * and prints the outcome.  Used on the inputs that crash or hang libhdf5
 * under fuzz_load: the isolated loader must survive every one of them and
 * report a clean error (or a model).
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/tl_core.h"

int
main(int argc, char **argv)
{
	tl_limits	lim = {8 << 20, 16 << 20};
	tl_isolate_opts opts = {10000, 1024 << 20, NULL};

	for (int i = 1; i < argc; i++)
	{
		FILE	   *f = fopen(argv[i], "rb");
		char	   *buf;
		long		n;
		tl_status	st = {0};
		tl_model   *m = NULL;

		if (f == NULL)
		{
			printf("%s: cannot open\n", argv[i]);
			return 1;
		}
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		fseek(f, 0, SEEK_SET);
		buf = malloc(n ? n : 1);
		if (buf == NULL || fread(buf, 1, n, f) != (size_t) n)
		{
			printf("%s: cannot read\n", argv[i]);
			return 1;
		}
		fclose(f);
		m = tl_model_load_isolated(buf, n, &lim, &opts, &st);
		printf("%s: %s\n", argv[i], m ? "loads" : st.msg);
		tl_model_free(m);
		free(buf);
	}
	return 0;
}
