/*
 * onnx_decode.c — the protobuf side of ONNX: unpacking a ModelProto with
 * protobuf-c (its memory from tl_malloc), tensors as float or int64 values,
 * and node attributes.  Every size in a tensor is checked against the bytes
 * it holds and against the budget before anything is copied; data stored
 * outside the file (data_location EXTERNAL) is refused: the parser reads
 * only the bytes it was given.
 */
#include <string.h>

#include "format/onnx_int.h"

static void *
pb_alloc(void *arg, size_t size)
{
	(void) arg;
	return tl_malloc(size ? size : 1);
}

static void
pb_free(void *arg, void *p)
{
	(void) arg;
	tl_free(p);
}

static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

/*
 * Whether the bytes open like a serialised ModelProto: a key of one of its
 * fields (1-8, 14, 20, 25) with the matching wire type.
 */
int
tl_onnx_is_onnx(const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned	field,
				wire;

	if (len < 2)
		return 0;
	field = (p[0] & 0x80) ? ((p[0] & 0x7f) >> 3) | ((unsigned) (p[1] & 0x7f) << 4) : p[0] >> 3;
	wire = p[0] & 7;
	switch (field)
	{
		case 1:
		case 5:
			return wire == 0;	/* ir_version, model_version */
		case 2:
		case 3:
		case 4:
		case 6:
		case 7:
		case 8:
		case 14:
		case 20:
		case 25:
			return wire == 2;
		default:
			return 0;
	}
}

Onnx__ModelProto *
onnx_unpack(const void *data, size_t len, tl_status *st)
{
	Onnx__ModelProto *mp = onnx__model_proto__unpack(&pb_allocator, len, data);

	if (mp == NULL)
		tl_fail(st, TL_ERR_FORMAT,
				"the file is neither a Keras model (HDF5, zip) nor a readable ONNX model: "
				"as ONNX, its protobuf encoding is invalid or truncated");
	else if (mp->graph == NULL)
	{
		tl_fail(st, TL_ERR_FORMAT, "the ONNX model has no graph");
		onnx_unpack_free(mp);
		mp = NULL;
	}
	return mp;
}

void
onnx_unpack_free(Onnx__ModelProto *mp)
{
	if (mp)
		onnx__model_proto__free_unpacked(mp, &pb_allocator);
}

/* Bytes per element of the raw encodings read here; 0 if unsupported. */
static size_t
elem_size(int32_t type)
{
	switch (type)
	{
		case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
			return 4;
		case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
			return 8;
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
		case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
		case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
			return 1;
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
			return 2;
		default:
			return 0;
	}
}

static int
is_int_type(int32_t type)
{
	return type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT &&
		type != ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
}

/* Element k of a raw little-endian buffer, as a double or an int64. */
static void
raw_elem(const uint8_t *p, int32_t type, int64_t k, double *d, int64_t *i)
{
	switch (type)
	{
		case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
			{
				float		f;

				memcpy(&f, p + 4 * k, 4);
				*d = f;
				break;
			}
		case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
			memcpy(d, p + 8 * k, 8);
			break;
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
			memcpy(i, p + 8 * k, 8);
			break;
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
			{
				int32_t		v;

				memcpy(&v, p + 4 * k, 4);
				*i = v;
				break;
			}
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
			{
				int16_t		v;

				memcpy(&v, p + 2 * k, 2);
				*i = v;
				break;
			}
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
			*i = (int8_t) p[k];
			break;
		default:				/* UINT8, BOOL */
			*i = p[k];
			break;
	}
}

int
onnx_read_tensor(const Onnx__TensorProto *t, size_t *budget, onnx_value *v,
				 tl_status *st)
{
	const char *name = t->name ? t->name : "";
	int32_t		type = t->has_data_type ? t->data_type : 0;
	size_t		es = elem_size(type);
	int64_t		count = 1;
	size_t		typed;

	if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "ONNX tensor \"%s\" keeps its data in an external file; tensorlens reads only "
					   "the model's own bytes (save the model with all tensors inside it)", name);
	if (es == 0)
		return tl_fail(st, TL_ERR_UNSUPPORTED,
					   "ONNX tensor \"%s\" has element type %d; float, double and integer tensors are supported",
					   name, (int) type);
	if (t->n_dims > ONNX_MAX_RANK)
		return tl_fail(st, TL_ERR_UNSUPPORTED, "ONNX tensor \"%s\" has rank %zu (at most %d supported)",
					   name, t->n_dims, ONNX_MAX_RANK);
	v->is_const = 1;
	v->rank = (int) t->n_dims;
	for (size_t k = 0; k < t->n_dims; k++)
	{
		if (t->dims[k] < 0 || t->dims[k] > (1 << 30))
			return tl_fail(st, TL_ERR_FORMAT, "ONNX tensor \"%s\" has dimension %lld",
						   name, (long long) t->dims[k]);
		v->dims[k] = t->dims[k];
		count *= t->dims[k];
		if (count > ((int64_t) 1 << 34))
			return tl_fail(st, TL_ERR_LIMIT, "ONNX tensor \"%s\" is too large", name);
	}
	v->is_int = is_int_type(type);
	if ((size_t) count * (v->is_int ? 8 : 4) > *budget)
		return tl_fail(st, TL_ERR_LIMIT,
					   "ONNX tensor \"%s\" (%lld values) goes past the weight limit (tensorlens.max_model_size)",
					   name, (long long) count);
	/* where the values are: raw_data or the typed repeated field */
	switch (type)
	{
		case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
			typed = t->n_float_data;
			break;
		case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
			typed = t->n_double_data;
			break;
		case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
			typed = t->n_int64_data;
			break;
		default:
			typed = t->n_int32_data;
			break;
	}
	if (t->has_raw_data ? t->raw_data.len != (size_t) count * es : typed != (size_t) count)
		return tl_fail(st, TL_ERR_FORMAT,
					   "ONNX tensor \"%s\" holds %zu values, its dimensions say %lld",
					   name, t->has_raw_data ? t->raw_data.len / es : typed, (long long) count);
	v->count = count;
	if (v->is_int)
		v->i = tl_malloc(sizeof(int64_t) * (count ? count : 1));
	else
		v->f = tl_malloc(sizeof(float) * (count ? count : 1));
	if (v->i == NULL && v->f == NULL)
		return tl_fail(st, TL_ERR_NOMEM, "out of memory");
	*budget -= (size_t) count * (v->is_int ? 8 : 4);
	for (int64_t k = 0; k < count; k++)
	{
		double		d = 0;
		int64_t		i = 0;

		if (t->has_raw_data)
			raw_elem(t->raw_data.data, type, k, &d, &i);
		else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
			d = t->float_data[k];
		else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE)
			d = t->double_data[k];
		else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
			i = t->int64_data[k];
		else
			i = t->int32_data[k];
		if (v->is_int)
			v->i[k] = i;
		else
			v->f[k] = (float) d;
	}
	return 0;
}

const Onnx__AttributeProto *
onnx_attr(const Onnx__NodeProto *n, const char *name)
{
	for (size_t k = 0; k < n->n_attribute; k++)
		if (n->attribute[k]->name && strcmp(n->attribute[k]->name, name) == 0)
			return n->attribute[k];
	return NULL;
}

int64_t
onnx_attr_int(const Onnx__NodeProto *n, const char *name, int64_t dflt)
{
	const Onnx__AttributeProto *a = onnx_attr(n, name);

	return a && a->has_i ? a->i : dflt;
}

float
onnx_attr_float(const Onnx__NodeProto *n, const char *name, float dflt)
{
	const Onnx__AttributeProto *a = onnx_attr(n, name);

	return a && a->has_f ? a->f : dflt;
}

const int64_t *
onnx_attr_ints(const Onnx__NodeProto *n, const char *name, int *count)
{
	const Onnx__AttributeProto *a = onnx_attr(n, name);

	*count = a ? (int) (a->n_ints > 64 ? 64 : a->n_ints) : 0;
	return a ? a->ints : NULL;
}

const char *
onnx_attr_string(const Onnx__NodeProto *n, const char *name, const char *dflt,
				 char *buf, size_t len)
{
	const Onnx__AttributeProto *a = onnx_attr(n, name);
	size_t		k;

	if (a == NULL || !a->has_s)
		return dflt;
	for (k = 0; k < a->s.len && k + 1 < len; k++)
		buf[k] = a->s.data[k] ? (char) a->s.data[k] : '?';
	buf[k] = '\0';
	return buf;
}
