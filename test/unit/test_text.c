/*
 * test_text.c — unit tests of the text buffer and escaping (render/tl_text.c).
 *
 * Usage: test_text.
 */
#include <stdio.h>
#include <string.h>

#include "test_util.h"
#include "render/tl_text.h"

static void
test_append(void)
{
	tl_text		t;
	int			ok = 1;

	tl_text_init(&t);
	tl_text_puts(&t, "a");
	tl_text_append(&t, "bcdef", 2);
	tl_text_printf(&t, "[%d:%s]", 42, "x");
	CHECK(t.len == 9 && strcmp(t.data, "abc[42:x]") == 0, "got \"%s\"", t.data);
	/* growth past the first block keeps every byte and the terminator */
	for (int i = 0; i < 10000; i++)
		tl_text_printf(&t, "%04d", i % 10000);
	for (int i = 0; i < 10000 && ok; i++)
	{
		char		want[5];

		snprintf(want, sizeof(want), "%04d", i);
		ok = memcmp(t.data + 9 + 4 * i, want, 4) == 0;
	}
	CHECK(ok && t.len == 9 + 40000 && t.data[t.len] == '\0' && !t.failed, "growth");
	tl_text_free(&t);
	CHECK(t.data == NULL && t.len == 0, "free");
}

static void
test_escaped(void)
{
	tl_text		t;

	tl_text_init(&t);
	tl_text_escaped(&t, "<a href=\"x\">Tom & Jerry's</a>");
	CHECK(strcmp(t.data, "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;") == 0,
		  "got \"%s\"", t.data);
	tl_text_free(&t);
}

static int	allow;

static void *
limited_alloc(size_t size, void *arg)
{
	return allow-- > 0 ? malloc(size) : NULL;
}

static void *
limited_realloc(void *p, size_t size, void *arg)
{
	return allow-- > 0 ? realloc(p, size) : NULL;
}

static void
plain_free(void *p, void *arg)
{
	free(p);
}

static void
test_out_of_memory(void)
{
	tl_allocator a = {limited_alloc, limited_realloc, plain_free, NULL};
	tl_text		t;
	char		big[5000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	tl_set_allocator(&a);
	allow = 1;
	tl_text_init(&t);
	tl_text_puts(&t, "fits");	/* the first block */
	tl_text_puts(&t, big);		/* needs a second: refused */
	tl_text_puts(&t, "more");	/* and nothing after it is appended */
	CHECK(t.failed && strcmp(t.data, "fits") == 0, "failed %d, \"%.8s\"", t.failed, t.data);
	tl_text_free(&t);
	tl_set_allocator(NULL);
}

int
main(void)
{
	test_append();
	test_escaped();
	test_out_of_memory();
	return test_summary();
}
