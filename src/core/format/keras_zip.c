/*
 * keras_zip.c — members of a Keras 3 .keras archive, read with libzip.
 */
#include <string.h>
#include <zip.h>

#include "format/tl_format.h"

/* A .keras archive has three members; a directory of thousands is hostile. */
#define MAX_MEMBERS 1000

int
tl_zip_is_zip(const void *data, size_t len)
{
	return len >= 4 && memcmp(data, "PK\003\004", 4) == 0;
}

/*
 * Reads `member` into a NUL-terminated tl_malloc'd buffer.  Returns 1 when
 * found, 0 when absent, -1 on error.  The declared size is checked against
 * max_bytes before anything is inflated (zip bombs), and the bytes actually
 * read must match it.
 */
int
tl_zip_read(const void *data, size_t len, const char *member, size_t max_bytes,
			char **out, size_t *out_len, tl_status *st)
{
	zip_error_t zerr;
	zip_source_t *src;
	zip_t	   *za;
	zip_stat_t	sb;
	zip_file_t *zf;
	char	   *buf;
	zip_int64_t got = 0;
	int			rc = -1;

	*out = NULL;
	*out_len = 0;
	zip_error_init(&zerr);
	src = zip_source_buffer_create(data, len, 0, &zerr);
	if (src == NULL)
		return tl_fail(st, TL_ERR_FORMAT, "not a readable .keras archive: %s",
					   zip_error_strerror(&zerr));
	za = zip_open_from_source(src, ZIP_RDONLY, &zerr);
	if (za == NULL)
	{
		zip_source_free(src);
		tl_fail(st, TL_ERR_FORMAT, "not a readable .keras archive: %s",
				zip_error_strerror(&zerr));
		zip_error_fini(&zerr);
		return -1;
	}
	if (zip_get_num_entries(za, 0) > MAX_MEMBERS)
	{
		tl_fail(st, TL_ERR_LIMIT, "the .keras archive has %lld members (at most %d supported)",
				(long long) zip_get_num_entries(za, 0), MAX_MEMBERS);
		goto done;
	}
	zip_stat_init(&sb);
	if (zip_stat(za, member, 0, &sb) < 0)
	{
		rc = 0;
		goto done;
	}
	if (!(sb.valid & ZIP_STAT_SIZE) || sb.size > max_bytes)
	{
		tl_fail(st, TL_ERR_LIMIT,
				".keras member \"%s\" is %llu bytes, above the limit of %zu (tensorlens.max_model_size)",
				member, (unsigned long long) sb.size, max_bytes);
		goto done;
	}
	zf = zip_fopen(za, member, 0);
	if (zf == NULL)
	{
		tl_fail(st, TL_ERR_FORMAT, ".keras member \"%s\" cannot be read: %s",
				member, zip_strerror(za));
		goto done;
	}
	buf = tl_malloc(sb.size + 1);
	if (buf == NULL)
	{
		zip_fclose(zf);
		tl_fail(st, TL_ERR_NOMEM, "out of memory reading .keras member \"%s\"", member);
		goto done;
	}
	while ((zip_uint64_t) got < sb.size)
	{
		zip_int64_t r = zip_fread(zf, buf + got, sb.size - got);

		if (r <= 0)
			break;
		got += r;
	}
	zip_fclose(zf);
	if ((zip_uint64_t) got != sb.size)
	{
		tl_free(buf);
		tl_fail(st, TL_ERR_FORMAT, ".keras member \"%s\" is corrupt (read %lld of %llu bytes)",
				member, (long long) got, (unsigned long long) sb.size);
		goto done;
	}
	buf[got] = '\0';
	*out = buf;
	*out_len = (size_t) got;
	rc = 1;
done:
	zip_discard(za);			/* also frees the source */
	zip_error_fini(&zerr);
	return rc;
}
