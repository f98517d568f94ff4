/*
 * tl_registry.c — which Keras layer classes the runtime supports.
 */
#include <string.h>

#include "nn/tl_layer.h"

static const struct
{
	const char *class_name;
	const tl_layer_ops *ops;
}			registry[] =
{
	{"InputLayer", &tl_ops_input},
	{"Dropout", &tl_ops_identity},
	{"SpatialDropout1D", &tl_ops_identity},
	{"SpatialDropout2D", &tl_ops_identity},
	{"SpatialDropout3D", &tl_ops_identity},
	{"GaussianNoise", &tl_ops_identity},
	{"GaussianDropout", &tl_ops_identity},
	{"AlphaDropout", &tl_ops_identity},
	{"ActivityRegularization", &tl_ops_identity},
	{"Flatten", &tl_ops_flatten},
	{"Reshape", &tl_ops_reshape},
	{"Permute", &tl_ops_permute},
	{"Masking", &tl_ops_masking},
	{"Cropping1D", &tl_ops_resize},
	{"Cropping2D", &tl_ops_resize},
	{"UpSampling1D", &tl_ops_resize},
	{"UpSampling2D", &tl_ops_resize},
	{"RepeatVector", &tl_ops_resize},
	{"Rescaling", &tl_ops_affine},
	{"Normalization", &tl_ops_affine},
	{"PReLU", &tl_ops_prelu},
	{"GroupNormalization", &tl_ops_group_norm},
	{"UnitNormalization", &tl_ops_group_norm},
	{"DepthwiseConv2D", &tl_ops_depthwise},
	{"SeparableConv1D", &tl_ops_depthwise},
	{"SeparableConv2D", &tl_ops_depthwise},
	{"Conv1DTranspose", &tl_ops_conv_transpose},
	{"Conv2DTranspose", &tl_ops_conv_transpose},
	{"Dot", &tl_ops_dot},
	{"TimeDistributed", &tl_ops_time_distributed},
	{"Attention", &tl_ops_attention_dot},
	{"TLInputSlice", &tl_ops_input_slice},
	{"MultiHeadAttention", &tl_ops_mha},
	{"Embedding", &tl_ops_embedding},
	{"Dense", &tl_ops_dense},
	{"Activation", &tl_ops_activation},
	{"ReLU", &tl_ops_activation},
	{"LeakyReLU", &tl_ops_activation},
	{"ELU", &tl_ops_activation},
	{"Softmax", &tl_ops_activation},
	{"ThresholdedReLU", &tl_ops_activation},
	{"Conv1D", &tl_ops_conv},
	{"Conv2D", &tl_ops_conv},
	{"MaxPooling1D", &tl_ops_pool},
	{"MaxPooling2D", &tl_ops_pool},
	{"AveragePooling1D", &tl_ops_pool},
	{"AveragePooling2D", &tl_ops_pool},
	{"GlobalAveragePooling1D", &tl_ops_global_pool},
	{"GlobalAveragePooling2D", &tl_ops_global_pool},
	{"GlobalMaxPooling1D", &tl_ops_global_pool},
	{"GlobalMaxPooling2D", &tl_ops_global_pool},
	{"BatchNormalization", &tl_ops_batchnorm},
	{"LayerNormalization", &tl_ops_layernorm},
	{"SimpleRNN", &tl_ops_rnn},
	{"LSTM", &tl_ops_rnn},
	{"GRU", &tl_ops_rnn},
	{"Bidirectional", &tl_ops_rnn},
	{"Concatenate", &tl_ops_merge},
	{"Add", &tl_ops_merge},
	{"Subtract", &tl_ops_merge},
	{"Multiply", &tl_ops_merge},
	{"Average", &tl_ops_merge},
	{"Maximum", &tl_ops_merge},
	{"Minimum", &tl_ops_merge},
	{"ZeroPadding1D", &tl_ops_padding},
	{"ZeroPadding2D", &tl_ops_padding},
	{"ConstantOp", &tl_ops_const_op},
	{"Take", &tl_ops_take},
	{"MultiHeadSelfAttention", &tl_ops_attention},
};

const tl_layer_ops *
tl_layer_lookup(const char *class_name)
{
	for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
		if (strcmp(registry[i].class_name, class_name) == 0)
			return registry[i].ops;
	return NULL;
}
