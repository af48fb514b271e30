/*
** attention.h: causal attention of a batch over the KV cache (internal).
*/
#ifndef QORA_ATTENTION_H
#define QORA_ATTENTION_H

#include <stddef.h>

#include "session.h"

/* Scratch floats per thread that qora_attention needs for a session. */
size_t qora_attention_scratch(int n_ctx, int n_kv, int group, int head_dim, int n_threads);

/* Attention of layer il for the batch's n tokens: reads s->q and the cache, writes s->att. */
void qora_attention(qora_session *s, int il, int n);

/* Prefill in tiles (attention_tile.c); returns 0 when the head layout does not fit a tile. */
int qora_attention_tiles(qora_session *s, int il, int n);
size_t qora_attention_tile_scratch(int head_dim);

#endif
