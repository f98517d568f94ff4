/*
 * keras_h5.c — reading Keras model files with the HDF5 library.
 *
 * The whole file is held in memory (a bytea) and opened as an HDF5 "file
 * image", so nothing touches the disk.  Every handle is closed on every path;
 * HDF5's automatic error printing is switched off (the server log is not the
 * place for it) and failures become tl_status messages instead.
 *
 * An HDF5 file can tell the library to read other files: a dataset's bytes
 * may live in external files (H5Pset_external), a virtual dataset maps
 * other files' datasets, an external link names another file, a
 * user-defined link class or a filter plugin loads code.  In a server that
 * would read the server's files with its OS user's rights.  So, before
 * anything is read, every link of the file is visited and any of these is
 * refused, naming it; filter plugins are never loaded (tl_h5_init); only
 * filters that transform bytes in memory are accepted.  (The parser
 * process cannot open files either: tl_isolate.c.)
 */
#include <string.h>
#include <stdio.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <H5PLpublic.h>

#include "format/tl_format.h"

/* Bounds on what a Keras file can reasonably hold. */
#define MAX_NAMES 100000
#define MAX_ATTR_BYTES (64 * 1024 * 1024)

struct tl_h5
{
	hid_t		file;
};

static const unsigned char hdf5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

int
tl_h5_is_hdf5(const void *data, size_t len)
{
	/* the superblock sits at 0, 512, 1024, 2048... (after a user block) */
	for (size_t off = 0; off + 8 <= len; off = off ? off * 2 : 512)
		if (memcmp((const char *) data + off, hdf5_sig, 8) == 0)
			return 1;
	return 0;
}

void
tl_h5_init(void)
{
	H5open();
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	/* no filter plugins: they are shared libraries found on disk */
	H5PLset_loading_state(0);
}

/* Filters that only transform bytes in memory (the ones libhdf5 has built in). */
static int
filter_in_memory(H5Z_filter_t f)
{
	return f == H5Z_FILTER_DEFLATE || f == H5Z_FILTER_SHUFFLE || f == H5Z_FILTER_FLETCHER32 ||
		f == H5Z_FILTER_SZIP || f == H5Z_FILTER_NBIT || f == H5Z_FILTER_SCALEOFFSET;
}

typedef struct self_check
{
	tl_status  *st;
	long		links;
} self_check;

/* A dataset whose bytes are not all in this file, or need a foreign filter. */
static int
check_dataset(hid_t g, const char *name, tl_status *st)
{
	hid_t		d = H5Dopen2(g, name, H5P_DEFAULT),
				dcpl;
	int			rc = 0,
				nf;

	if (d < 0)
		return tl_fail(st, TL_ERR_FORMAT, "dataset \"%s\" cannot be opened (corrupt HDF5 file?)", name);
	dcpl = H5Dget_create_plist(d);
	if (dcpl < 0)
		rc = tl_fail(st, TL_ERR_FORMAT, "dataset \"%s\" cannot be read (corrupt HDF5 file?)", name);
	else if (H5Pget_layout(dcpl) == H5D_VIRTUAL)
		rc = tl_fail(st, TL_ERR_UNSUPPORTED,
					 "dataset \"%s\" is a virtual dataset, made of other files' datasets: "
					 "a model file must hold its own data", name);
	else if (H5Pget_external_count(dcpl) != 0)
		rc = tl_fail(st, TL_ERR_UNSUPPORTED,
					 "dataset \"%s\" keeps its data in external files: "
					 "a model file must hold its own data", name);
	else if ((nf = H5Pget_nfilters(dcpl)) < 0)
		rc = tl_fail(st, TL_ERR_FORMAT, "dataset \"%s\" cannot be read (corrupt HDF5 file?)", name);
	else
		for (int i = 0; rc == 0 && i < nf; i++)
		{
			unsigned int flags;
			size_t		n = 0;
			char		fname[64] = "";
			H5Z_filter_t f = H5Pget_filter2(dcpl, (unsigned) i, &flags, &n, NULL,
											sizeof(fname), fname, NULL);

			if (!filter_in_memory(f))
				rc = tl_fail(st, TL_ERR_UNSUPPORTED,
							 "dataset \"%s\" needs HDF5 filter %d%s%s%s, which is not supported "
							 "(only deflate, shuffle, fletcher32, szip, nbit and scaleoffset are)",
							 name, (int) f, fname[0] ? " (" : "", fname, fname[0] ? ")" : "");
		}
	if (dcpl >= 0)
		H5Pclose(dcpl);
	H5Dclose(d);
	return rc;
}

static herr_t
check_link(hid_t g, const char *name, const H5L_info_t *info, void *arg)
{
	self_check *sc = arg;
	H5O_info_t oi;

	if (++sc->links > MAX_NAMES)
	{
		tl_fail(sc->st, TL_ERR_LIMIT, "the HDF5 file has more than %d links", MAX_NAMES);
		return -1;
	}
	if (info->type == H5L_TYPE_SOFT)
		return 0;				/* a path inside this file */
	if (info->type != H5L_TYPE_HARD)
	{
		tl_fail(sc->st, TL_ERR_UNSUPPORTED,
				"\"%s\" is %s link: a model file must hold its own data",
				name, info->type == H5L_TYPE_EXTERNAL ? "an external (another file's)" : "a user-defined");
		return -1;
	}
	if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
	{
		tl_fail(sc->st, TL_ERR_FORMAT, "\"%s\" cannot be read (corrupt HDF5 file?)", name);
		return -1;
	}
	if (oi.type == H5O_TYPE_DATASET && check_dataset(g, name, sc->st) < 0)
		return -1;
	return 0;
}

/* Refuses a file that would make libhdf5 read anything but its own bytes. */
static int
check_self_contained(hid_t f, tl_status *st)
{
	self_check	sc = {st, 0};

	if (H5Lvisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, check_link, &sc) < 0)
	{
		if (st->code == TL_OK)
			tl_fail(st, TL_ERR_FORMAT, "the HDF5 file's groups cannot be read (corrupt HDF5 file?)");
		return -1;
	}
	return 0;
}

tl_h5 *
tl_h5_open(const void *data, size_t len, tl_status *st)
{
	tl_h5	   *h;
	hid_t		f;

	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	if (!tl_h5_is_hdf5(data, len))
	{
		tl_fail(st, TL_ERR_FORMAT, "not an HDF5 file (no HDF5 signature)");
		return NULL;
	}
	if (tl_h5_check_image(data, len, st) < 0)
		return NULL;
	/* read-only image used in place: HDF5 neither copies nor frees it */
	f = H5LTopen_file_image((void *) data, len,
							H5LT_FILE_IMAGE_DONT_COPY | H5LT_FILE_IMAGE_DONT_RELEASE);
	if (f < 0)
	{
		tl_fail(st, TL_ERR_FORMAT, "the HDF5 file is corrupt or truncated (it cannot be opened)");
		return NULL;
	}
	if (check_self_contained(f, st) < 0)
	{
		H5Fclose(f);
		return NULL;
	}
	h = tl_malloc(sizeof(*h));
	if (h == NULL)
	{
		H5Fclose(f);
		tl_fail(st, TL_ERR_NOMEM, "out of memory");
		return NULL;
	}
	h->file = f;
	return h;
}

void
tl_h5_close(tl_h5 *h)
{
	if (h)
	{
		H5Fclose(h->file);
		tl_free(h);
	}
}

/*
 * Reads a string attribute holding `count` strings (count 1 for a scalar),
 * fixed-length or variable-length.  Returns a tl_malloc'd array of
 * tl_malloc'd strings; *n receives the count.  An attribute that is an empty
 * numeric array (Keras writes weight_names=[] that way) gives 0 strings.
 */
static char **
read_string_attr(hid_t obj, const char *name, int *n, tl_status *st)
{
	hid_t		a = -1,
				t = -1,
				sp = -1,
				mt = -1;
	hssize_t	count;
	char	  **out = NULL;

	*n = 0;
	a = H5Aopen(obj, name, H5P_DEFAULT);
	if (a < 0)
		goto corrupt;
	t = H5Aget_type(a);
	sp = H5Aget_space(a);
	if (t < 0 || sp < 0)
		goto corrupt;
	count = H5Sget_simple_extent_npoints(sp);
	if (count < 0 || count > MAX_NAMES)
		goto corrupt;
	if (H5Tget_class(t) != H5T_STRING)
	{
		if (count == 0)
		{
			out = tl_calloc(1, sizeof(char *));
			if (out == NULL)
				goto nomem;
			goto done;
		}
		tl_fail(st, TL_ERR_FORMAT, "attribute \"%s\" does not hold strings", name);
		goto done;
	}
	out = tl_calloc((size_t) count + 1, sizeof(char *));
	if (out == NULL)
		goto nomem;
	if (H5Tis_variable_str(t) > 0)
	{
		char	  **p = tl_calloc((size_t) count + 1, sizeof(char *));

		if (p == NULL)
			goto nomem;
		mt = H5Tcopy(H5T_C_S1);
		H5Tset_size(mt, H5T_VARIABLE);
		H5Tset_cset(mt, H5Tget_cset(t));
		if (H5Aread(a, mt, p) < 0)
		{
			tl_free(p);
			goto corrupt;
		}
		for (hssize_t i = 0; i < count; i++)
		{
			out[i] = tl_strdup(p[i] ? p[i] : "");
			if (out[i] == NULL)
				tl_fail(st, TL_ERR_NOMEM, "out of memory");
		}
		H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, p);
		tl_free(p);
		if (st->code != TL_OK)
			goto done;
	}
	else
	{
		size_t		size = H5Tget_size(t);
		char	   *raw;

		if (size == 0 || size * (size_t) count > MAX_ATTR_BYTES)
			goto corrupt;
		raw = tl_malloc(size * (size_t) count);
		if (raw == NULL)
			goto nomem;
		if (H5Aread(a, t, raw) < 0)
		{
			tl_free(raw);
			goto corrupt;
		}
		for (hssize_t i = 0; i < count; i++)
		{
			const char *s = raw + size * i;
			size_t		len = strnlen(s, size);

			out[i] = tl_malloc(len + 1);
			if (out[i] == NULL)
			{
				tl_free(raw);
				goto nomem;
			}
			memcpy(out[i], s, len);
			out[i][len] = '\0';
		}
		tl_free(raw);
	}
	*n = (int) count;
	goto done;

nomem:
	tl_fail(st, TL_ERR_NOMEM, "out of memory");
	goto done;
corrupt:
	tl_fail(st, TL_ERR_FORMAT, "attribute \"%s\" cannot be read (corrupt HDF5 file?)", name);
done:
	if (mt >= 0)
		H5Tclose(mt);
	if (sp >= 0)
		H5Sclose(sp);
	if (t >= 0)
		H5Tclose(t);
	if (a >= 0)
		H5Aclose(a);
	if (st->code != TL_OK && out)
	{
		for (int i = 0; out[i]; i++)
			tl_free(out[i]);
		tl_free(out);
		out = NULL;
		*n = 0;
	}
	return out;
}

static void
free_strings(char **s)
{
	if (s)
	{
		for (int i = 0; s[i]; i++)
			tl_free(s[i]);
		tl_free(s);
	}
}

char *
tl_h5_root_attr(tl_h5 *h, const char *name, tl_status *st)
{
	char	  **v;
	char	   *s;
	int			n;

	if (H5Aexists(h->file, name) <= 0)
		return NULL;
	v = read_string_attr(h->file, name, &n, st);
	if (v == NULL)
		return NULL;
	if (n != 1)
	{
		free_strings(v);
		tl_fail(st, TL_ERR_FORMAT, "attribute \"%s\" must hold one string", name);
		return NULL;
	}
	s = v[0];
	tl_free(v);
	return s;
}

/*
 * Reads the float dataset at `path` (relative to loc) into w, converting
 * any floating-point element type to float32.  Returns 1 when read, 0 when
 * there is no dataset at that path, -1 on error.  *budget is reduced by the
 * bytes used and must not go negative.
 */
static int
read_dataset(hid_t loc, const char *path, const char *layer, tl_weight *w,
			 size_t *budget, tl_status *st)
{
	hid_t		d = -1,
				t = -1,
				sp = -1;
	hsize_t		dims[TL_MAX_DIMS];
	int			nd;
	int64_t		n = 1;
	int			rc = -1;

	if (H5LTpath_valid(loc, path, 1) <= 0)
		return 0;
	d = H5Dopen2(loc, path, H5P_DEFAULT);
	if (d < 0)
		return 0;				/* a group, not a dataset */
	t = H5Dget_type(d);
	sp = H5Dget_space(d);
	if (t < 0 || sp < 0)
		goto corrupt;
	if (H5Tget_class(t) != H5T_FLOAT)
	{
		H5T_class_t cls = H5Tget_class(t);

		tl_fail(st, TL_ERR_MODEL,
				"layer \"%s\": weight \"%s\" holds %s, not floating-point numbers",
				layer, path, cls == H5T_INTEGER ? "integers" : cls == H5T_STRING ? "strings" : "non-numeric data");
		goto done;
	}
	nd = H5Sget_simple_extent_ndims(sp);
	if (nd < 0 || nd > TL_MAX_DIMS)
	{
		tl_fail(st, TL_ERR_MODEL, "layer \"%s\": weight \"%s\" has %d dimensions (at most %d supported)",
				layer, path, nd, TL_MAX_DIMS);
		goto done;
	}
	if (H5Sget_simple_extent_dims(sp, dims, NULL) < 0)
		goto corrupt;
	w->shape.nd = nd;
	for (int i = 0; i < nd; i++)
	{
		if (dims[i] > (hsize_t) (1 << 30) || (dims[i] && n > ((int64_t) 1 << 40) / (int64_t) dims[i]))
			goto too_big;
		w->shape.d[i] = (int) dims[i];
		n *= (int64_t) dims[i];
	}
	if ((uint64_t) n * sizeof(float) > *budget)
		goto too_big;
	w->n = n;
	w->data = tl_malloc(sizeof(float) * (n ? n : 1));
	if (w->data == NULL)
	{
		tl_fail(st, TL_ERR_NOMEM, "out of memory reading weight \"%s\"", path);
		goto done;
	}
	if (n > 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w->data) < 0)
	{
		tl_free(w->data);
		w->data = NULL;
		goto corrupt;
	}
	*budget -= (size_t) n * sizeof(float);
	rc = 1;
	goto done;

too_big:
	tl_fail(st, TL_ERR_LIMIT,
			"layer \"%s\": weight \"%s\" is larger than the remaining weight budget (tensorlens.max_model_size)",
			layer, path);
	goto done;
corrupt:
	tl_fail(st, TL_ERR_FORMAT, "layer \"%s\": weight \"%s\" cannot be read (corrupt HDF5 file?)",
			layer, path);
done:
	if (sp >= 0)
		H5Sclose(sp);
	if (t >= 0)
		H5Tclose(t);
	if (d >= 0)
		H5Dclose(d);
	return rc;
}

static int
wrong_count(const tl_layer *l, int found, int expected, tl_status *st)
{
	return tl_fail(st, TL_ERR_MODEL,
				   "layer \"%s\" (%s): the file holds %d weight arrays, expected %d",
				   l->name, l->class_name, found, expected);
}

/* Whether weight path p names layer key in a component before its last. */
static int
names_layer(const char *p, const char *key)
{
	size_t		kl = strlen(key);

	for (const char *c = p; (c = strstr(c, key)) != NULL; c++)
		if ((c == p || c[-1] == '/') && c[kl] == '/')
			return 1;
	return 0;
}

/*
 * Legacy .h5: model_weights/<layer> lists its datasets in "weight_names".
 * A layer whose weights sit in another group (weight_group: a nested
 * model's, or the first call's of a shared layer) takes the names there
 * whose path names it (weight_key).
 */
static int
read_legacy_layer(hid_t root, tl_layer *l, int expected, size_t *budget, tl_status *st)
{
	hid_t		g;
	char	  **names;
	int			n,
				rc = 0,
				got = 0;
	const char *group = l->weight_group ? l->weight_group : l->name;

	if (H5LTpath_valid(root, group, 1) <= 0)
		return tl_fail(st, TL_ERR_MODEL,
					   "layer \"%s\" (%s): its weights are missing (no group model_weights/%s)",
					   l->name, l->class_name, group);
	g = H5Gopen2(root, group, H5P_DEFAULT);
	if (g < 0)
		return tl_fail(st, TL_ERR_FORMAT, "model_weights/%s is not a group", group);
	if (H5Aexists(g, "weight_names") <= 0)
	{
		H5Gclose(g);
		return tl_fail(st, TL_ERR_MODEL, "layer \"%s\": group has no weight_names attribute", l->name);
	}
	names = read_string_attr(g, "weight_names", &n, st);
	if (names == NULL)
	{
		H5Gclose(g);
		return -1;
	}
	for (int i = 0; i < n; i++)
		got += l->weight_key == NULL || names_layer(names[i], l->weight_key);
	if (got != expected)
		rc = wrong_count(l, got, expected, st);
	for (int i = 0; rc == 0 && i < n; i++)
	{
		int			r;

		if (l->weight_key && !names_layer(names[i], l->weight_key))
			continue;
		r = read_dataset(g, names[i], l->name, &l->w[l->n_w], budget, st);
		if (r < 0)
			rc = -1;
		else if (r == 0)
			rc = tl_fail(st, TL_ERR_MODEL, "layer \"%s\" (%s): weight \"%s\" is listed but missing",
						 l->name, l->class_name, names[i]);
		else
			l->n_w++;
	}
	free_strings(names);
	H5Gclose(g);
	return rc;
}

/*
 * Keras 3 weights: layers/<name>/vars/<i>, with recurrent cells under
 * cell/vars and the two halves of a Bidirectional under forward_layer and
 * backward_layer — collected in that order.
 */
static int
read_v3_group(hid_t root, const char *path, tl_layer *l, int depth,
			  size_t *budget, tl_status *st)
{
	static const char *const subgroups[] = {"cell", "forward_layer", "backward_layer", "layer"};
	char		p[1024];

	for (int i = 0; l->n_w < TL_MAX_WEIGHTS; i++)
	{
		int			r;

		snprintf(p, sizeof(p), "%s/vars/%d", path, i);
		r = read_dataset(root, p, l->name, &l->w[l->n_w], budget, st);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		l->n_w++;
	}
	if (depth < 2)
		for (size_t k = 0; k < sizeof(subgroups) / sizeof(subgroups[0]); k++)
		{
			snprintf(p, sizeof(p), "%s/%s", path, subgroups[k]);
			if (H5LTpath_valid(root, p, 1) > 0 &&
				read_v3_group(root, p, l, depth + 1, budget, st) < 0)
				return -1;
		}
	return 0;
}

int
tl_h5_read_weights(tl_h5 *h, tl_model *m, int v3, size_t max_bytes, tl_status *st)
{
	hid_t		root;
	size_t		budget = max_bytes;
	int			rc = 0;

	if (v3)
		root = H5Gopen2(h->file, "layers", H5P_DEFAULT);
	else
		root = H5LTpath_valid(h->file, "model_weights", 1) > 0 ?
			H5Gopen2(h->file, "model_weights", H5P_DEFAULT) : -1;
	if (root < 0)
	{
		/* a model without weights (only shape layers) needs no group */
		for (int i = 0; i < m->n_layers; i++)
			if (m->layers[i].ops->n_weights && m->layers[i].ops->n_weights(&m->layers[i]) > 0)
				return tl_fail(st, TL_ERR_MODEL, "the file has no %s group: its weights are missing",
							   v3 ? "layers" : "model_weights");
		return 0;
	}
	for (int i = 0; rc == 0 && i < m->n_layers; i++)
	{
		tl_layer   *l = &m->layers[i];
		int			expected = l->ops->n_weights ? l->ops->n_weights(l) : 0;

		if (expected == 0)
			continue;
		if (v3 && l->weight_group)
			rc = tl_fail(st, TL_ERR_UNSUPPORTED,
						 "layer \"%s\" (%s): shared layers and nested models are read from legacy .h5 files only",
						 l->name, l->class_name);
		else if (v3)
		{
			/* Keras 3 names the group after the class; older writers used the name */
			const char *p = l->store_name;

			if (H5LTpath_valid(root, p, 1) <= 0)
				p = l->name;
			if (H5LTpath_valid(root, p, 1) <= 0)
				rc = tl_fail(st, TL_ERR_MODEL,
							 "layer \"%s\" (%s): its weights are missing (no group layers/%s)",
							 l->name, l->class_name, l->store_name);
			else if (read_v3_group(root, p, l, 0, &budget, st) < 0)
				rc = -1;
			else if (l->n_w != expected)
				rc = wrong_count(l, l->n_w, expected, st);
		}
		else
			rc = read_legacy_layer(root, l, expected, &budget, st);
	}
	H5Gclose(root);
	m->weight_bytes = max_bytes - budget;
	return rc;
}
