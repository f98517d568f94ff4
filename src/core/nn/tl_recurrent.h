/*
 * tl_recurrent.h — what the recurrent layer (tl_recurrent.c) and its cells
 * (tl_rnn_cell.c) share.
 */
#ifndef TL_RECURRENT_H
#define TL_RECURRENT_H

#include "nn/tl_layer.h"

/* Gates per cell kind: LSTM i, f, c, o; GRU z, r, h; SimpleRNN one. */
static inline int
tl_rnn_gates(tl_cell cell)
{
	return cell == TL_CELL_LSTM ? 4 : cell == TL_CELL_GRU ? 3 : 1;
}

/* Floats of one step record (pre-activations, then h and c). */
int			tl_rnn_rec_stride(const tl_rnn_cfg *r);
/* h of sample i after reading step s, from the step records. */
const float *tl_rnn_rec_h(const tl_rnn_cfg *r, const float *recs, int i, int T, int s);

/*
 * A Keras mask over one direction's steps: mask (m x T in time order, 1 =
 * a real step) or NULL; a masked step leaves the state as it was and
 * outputs the previous output, or zeros when `zeros` is set (Bidirectional
 * returning sequences, as Keras forces).
 */
typedef struct tl_rnn_mask
{
	const float *mask;
	int			zeros;
} tl_rnn_mask;

/*
 * One direction over m samples of T steps (tl_rnn_cell.c): see there for
 * the layout of out, work, recs and the token table xtab.
 */
void		tl_rnn_direction(const tl_layer *l, const tl_rnn_cfg *r, const float *x, int m,
							 int T, int in_dim, float *out, float *work, float *recs,
							 const float *xtab, const tl_rnn_mask *mk);
/* Backpropagation through time for one direction, from its step records. */
void		tl_rnn_direction_backward(const tl_layer *l, const tl_rnn_cfg *r, int m, int T,
									  int in_dim, float *recs, const float *dO, float *dx,
									  float *work, const tl_rnn_mask *mk);

#endif							/* TL_RECURRENT_H */
