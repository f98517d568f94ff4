/*
 * keras_h5_check.c — sanity checks of an HDF5 image before libhdf5 reads it.
 *
 * libhdf5 1.10 trusts much of what a file says about itself.  Two cheap
 * checks here turn the commonest hostile or damaged files into clean errors
 * (libhdf5 runs in a parser process anyway, see tl_isolate.c, but a clean
 * error beats a killed parser):
 *
 * - the superblock: version, 8-byte addresses and lengths (what h5py and
 *   Keras write), no file driver information (a family or multi-file
 *   layout, whose other members are files), and an end-of-file address and
 *   root object header inside the bytes present — a truncated file is
 *   refused here, before libhdf5 reads past the end of the image (where it
 *   sees zeros);
 * - global heap collections (variable-length strings, Keras 3 attributes):
 *   libhdf5 walks a collection's objects by their declared sizes and loops
 *   forever on a zero-sized one, or runs past the collection's end.  Every
 *   collection header in the image is walked here the same way first.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* memmem */
#endif
#include <string.h>

#include "format/tl_format.h"

#define GCOL_HEADER 16			/* "GCOL", version, 3 reserved, size */
#define GCOL_OBJ_HEADER 16		/* index, refs, 4 reserved, size */

static uint64_t
le64(const unsigned char *p)
{
	uint64_t	v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static int
check_superblock(const unsigned char *img, size_t len, size_t base, tl_status *st)
{
	const unsigned char *sb = img + base;
	size_t		left = len - base;
	int			version;
	uint64_t	eof,
				root;

	if (left < 12)
		return tl_fail(st, TL_ERR_FORMAT, "the HDF5 file is truncated (in its superblock)");
	version = sb[8];
	if (version > 3)
		return tl_fail(st, TL_ERR_FORMAT, "the HDF5 superblock has unknown version %d", version);
	if (version <= 1)
	{
		/* v0/v1: the sizes follow 5 version bytes; v1 has 4 more bytes */
		size_t		addrs = version == 0 ? 24 : 28;

		/* base, free space, end of file, driver info; then the root entry */
		if (left < addrs + 4 * 8 + 16)
			return tl_fail(st, TL_ERR_FORMAT, "the HDF5 file is truncated (in its superblock)");
		if (sb[13] != 8 || sb[14] != 8)
			return tl_fail(st, TL_ERR_UNSUPPORTED,
						   "HDF5 files with %d-byte addresses and %d-byte lengths are not supported",
						   sb[13], sb[14]);
		eof = le64(sb + addrs + 16);
		root = le64(sb + addrs + 32 + 8);
		if (le64(sb + addrs + 24) != UINT64_MAX)
			return tl_fail(st, TL_ERR_UNSUPPORTED,
						   "the HDF5 file declares a file driver (its data spread over several files): "
						   "a model file must be one self-contained file");
	}
	else
	{
		if (sb[9] != 8 || sb[10] != 8)
			return tl_fail(st, TL_ERR_UNSUPPORTED,
						   "HDF5 files with %d-byte addresses and %d-byte lengths are not supported",
						   sb[9], sb[10]);
		/* base, superblock extension, end of file, root object header */
		if (left < 12 + 4 * 8 + 4)
			return tl_fail(st, TL_ERR_FORMAT, "the HDF5 file is truncated (in its superblock)");
		eof = le64(sb + 12 + 16);
		root = le64(sb + 12 + 24);
	}
	if (eof > left)
		return tl_fail(st, TL_ERR_FORMAT,
					   "the HDF5 file is truncated: it declares %llu bytes and has %zu",
					   (unsigned long long) eof, left);
	if (root >= eof)
		return tl_fail(st, TL_ERR_FORMAT, "the HDF5 file is corrupt: its root group lies outside it");
	return 0;
}

/* Walks one global heap collection the way libhdf5 does. */
static int
check_collection(const unsigned char *c, size_t left, tl_status *st)
{
	uint64_t	size = le64(c + 8);
	uint64_t	p = GCOL_HEADER;

	if (size < GCOL_HEADER || size > left)
		return tl_fail(st, TL_ERR_FORMAT,
					   "the HDF5 file is corrupt or truncated (a global heap runs past its end)");
	while (p < size)
	{
		uint64_t	need,
					osize;
		int			idx;

		if (size - p < GCOL_OBJ_HEADER)
			break;				/* a tail too small for an object: free space */
		idx = c[p] | (c[p + 1] << 8);
		osize = le64(c + p + 8);
		need = idx > 0 ? GCOL_OBJ_HEADER + ((osize + 7) & ~(uint64_t) 7) : osize;
		if (osize > size || need == 0 || need > size - p)
			return tl_fail(st, TL_ERR_FORMAT,
						   "the HDF5 file is corrupt (a global heap object has an impossible size)");
		p += need;
	}
	return 0;
}

int
tl_h5_check_image(const void *data, size_t len, tl_status *st)
{
	const unsigned char *img = data;
	static const unsigned char gcol[8] = {'G', 'C', 'O', 'L', 1, 0, 0, 0};
	size_t		base = 0;

	/* the superblock sits at 0, 512, 1024... (tl_h5_is_hdf5 found one) */
	while (base + 8 <= len && memcmp(img + base, "\211HDF\r\n\032\n", 8) != 0)
		base = base ? base * 2 : 512;
	if (base + 8 > len)
		return tl_fail(st, TL_ERR_FORMAT, "not an HDF5 file (no HDF5 signature)");
	if (check_superblock(img, len, base, st) < 0)
		return -1;
	for (const unsigned char *p = img; (size_t) (img + len - p) >= GCOL_HEADER;)
	{
		const unsigned char *hit = memmem(p, img + len - p, gcol, sizeof(gcol));

		if (hit == NULL || (size_t) (img + len - hit) < GCOL_HEADER)
			break;
		if (check_collection(hit, img + len - hit, st) < 0)
			return -1;
		p = hit + 1;
	}
	return 0;
}
