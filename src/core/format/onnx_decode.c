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

/*
 * Nesting.  protobuf-c unpacks submessages recursively, and the ONNX schema
 * lets messages nest without end (a graph attribute holding a graph whose
 * node holds a graph attribute...; TypeProto inside TypeProto): a file of
 * a megabyte can nest a hundred thousand levels and overflow the stack.
 * So the wire format is walked first, following only the fields through
 * which the schema recurses, and files nested deeper than MAX_NESTING are
 * refused.  Anything malformed is left for protobuf-c to refuse.
 */
#define MAX_NESTING 48

typedef enum
{
	M_LEAF, M_MODEL, M_GRAPH, M_NODE, M_ATTR, M_VALUEINFO, M_TYPE, M_TYPE_INNER,
	M_FUNCTION, M_TRAINING
} msg_kind;

/* The kind of the submessage in field `field` of a `kind` message. */
static msg_kind
submessage(msg_kind kind, uint64_t field)
{
	switch (kind)
	{
		case M_MODEL:
			return field == 7 ? M_GRAPH : field == 20 ? M_TRAINING : field == 25 ? M_FUNCTION : M_LEAF;
		case M_GRAPH:
			return field == 1 ? M_NODE : (field >= 11 && field <= 13) ? M_VALUEINFO : M_LEAF;
		case M_NODE:
		case M_FUNCTION:
			return field == (kind == M_NODE ? 5u : 7u) ? (kind == M_NODE ? M_ATTR : M_NODE) : M_LEAF;
		case M_ATTR:
			return (field == 6 || field == 11) ? M_GRAPH : (field == 14 || field == 15) ? M_TYPE : M_LEAF;
		case M_VALUEINFO:
			return field == 2 ? M_TYPE : M_LEAF;
		case M_TYPE:
			/* sequence_type, map_type, optional_type */
			return (field == 4 || field == 5 || field == 9) ? M_TYPE_INNER : M_LEAF;
		case M_TYPE_INNER:
			/* Sequence.elem_type, Map.value_type, Optional.elem_type */
			return (field == 1 || field == 2) ? M_TYPE : M_LEAF;
		case M_TRAINING:
			return (field == 1 || field == 2) ? M_GRAPH : M_LEAF;
		default:
			return M_LEAF;
	}
}

static int
read_varint(const uint8_t *p, size_t end, size_t *pos, uint64_t *out)
{
	uint64_t	v = 0;

	for (int shift = 0; shift < 64 && *pos < end; shift += 7)
	{
		uint8_t		b = p[(*pos)++];

		v |= (uint64_t) (b & 0x7f) << shift;
		if (!(b & 0x80))
		{
			*out = v;
			return 0;
		}
	}
	return -1;
}

static int
check_nesting(const uint8_t *p, size_t len, tl_status *st)
{
	struct
	{
		msg_kind	kind;
		size_t		end;
	}			stack[MAX_NESTING];
	int			sp = 0;
	size_t		pos = 0;

	stack[0].kind = M_MODEL;
	stack[0].end = len;
	while (sp >= 0)
	{
		uint64_t	key,
					n;

		if (pos >= stack[sp].end)
		{
			pos = stack[sp].end;
			sp--;
			continue;
		}
		if (read_varint(p, stack[sp].end, &pos, &key) < 0)
			return 0;
		switch (key & 7)
		{
			case 0:
				if (read_varint(p, stack[sp].end, &pos, &n) < 0)
					return 0;
				break;
			case 1:
				pos += 8;
				break;
			case 5:
				pos += 4;
				break;
			case 2:
				if (read_varint(p, stack[sp].end, &pos, &n) < 0 || n > stack[sp].end - pos)
					return 0;
				if (submessage(stack[sp].kind, key >> 3) == M_LEAF)
					pos += n;
				else if (sp + 1 >= MAX_NESTING)
					return tl_fail(st, TL_ERR_LIMIT,
								   "the ONNX model nests messages more than %d deep (graphs inside graph attributes, types inside types)",
								   MAX_NESTING);
				else
				{
					stack[sp + 1].kind = submessage(stack[sp].kind, key >> 3);
					stack[sp + 1].end = pos + n;
					sp++;
				}
				break;
			default:
				return 0;		/* groups and the like: protobuf-c decides */
		}
	}
	return 0;
}

Onnx__ModelProto *
onnx_unpack(const void *data, size_t len, tl_status *st)
{
	Onnx__ModelProto *mp;

	if (check_nesting(data, len, st) < 0)
		return NULL;
	mp = onnx__model_proto__unpack(&pb_allocator, len, data);

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
