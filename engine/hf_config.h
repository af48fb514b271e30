/*
** hf_config.h: the config.json of a Hugging Face checkpoint (SmolLM3ForCausalLM,
** LlamaForCausalLM), read as transformers 5 reads it, and the RoPE frequencies it implies.
**
** Required: architectures (or model_type), hidden_size, intermediate_size, num_hidden_layers,
** num_attention_heads, vocab_size. Everything else takes transformers' default for the class
** when absent: num_key_value_heads = num_attention_heads; head_dim = hidden / heads;
** max_position_embeddings 32768 (SmolLM3) or 2048 (Llama); rms_norm_eps 1e-6; rope_theta
** 2e6 (SmolLM3) or 1e4 (Llama); tie_word_embeddings true (SmolLM3) or false (Llama);
** no_rope_layer_interval 4. A setting qora cannot honour (biases, sliding windows, another
** activation, partial or dynamic RoPE) is refused by name.
**
** ------------------------------------------------------------------ RoPE, as transformers
** Keys: rope_scaling (transformers 4 layout) or rope_parameters (5). transformers 5 reads
** rope_scaling alone when both are given and it is not null or empty; qora then reads each and
** refuses the config when the two give different settings. The type is its "rope_type", else
** "type", else "default". Theta is the dict's rope_theta, else the top-level rope_theta, else
** the class default.
**
** For a head of dim d, pair i (0 <= i < d/2) turns by angle p * inv_freq[i] at position p:
**   default   inv_freq[i] = theta^(-2i/d)
**   linear    inv_freq[i] = theta^(-2i/d) / factor
**   llama3    wavelengths 2 pi / inv_freq shorter than original_ctx / high_freq_factor are kept,
**             longer than original_ctx / low_freq_factor are divided by factor, and between
**             the two blended by s = (original_ctx / wavelen - low) / (high - low):
**             inv_freq = (1 - s) * inv_freq / factor + s * inv_freq
**   yarn      extrap[i] = theta^(-2i/d), interp[i] = extrap[i] / factor;
**             corr(r) = d * ln(original_ctx / (2 pi r)) / (2 ln theta) is the dimension at
**             which a pair turns r times over the original context;
**             low = floor(corr(beta_fast)), high = ceil(corr(beta_slow)) (no rounding when
**             truncate is false), then clamped to [0, d - 1];
**             ramp[i] = clamp((i - low) / (high - low), 0, 1) (high - low = 0.001 when equal);
**             inv_freq[i] = interp[i] * ramp[i] + extrap[i] * (1 - ramp[i]).
**             So fast pairs (small i) keep their frequency, slow ones are interpolated.
** The attention factor (mscale) multiplies cos and sin, hence q and k each, so the
** attention logits grow by mscale^2; only layers that apply RoPE get it (a NoPE layer takes
** neither the rotation nor the factor). For yarn it is attention_factor when given, else
** (mscale and mscale_all_dim both set and nonzero) m(factor, mscale) / m(factor, mscale_all_dim),
** else m(factor, 1), with m(s, k) = 1 + 0.1 k ln s for s > 1 and 1 otherwise. It is 1 for the
** other types. yarn's factor, when null, is max_position_embeddings / original_ctx; beta_fast
** and beta_slow default to 32 and 1 (also when 0); original_ctx defaults to
** max_position_embeddings, and a top-level original_max_position_embeddings stands in for the
** dict's (as in transformers 5; yarn or llama3 with two different numbers is refused, since
** transformers 4 read the dict's). transformers 4.4x-4.5x also replaced an explicit factor by
** max_position_embeddings / original_ctx whenever original_max_position_embeddings was given;
** configs where the two disagree give different numbers under transformers 4 and 5 (qora
** follows 5).
**
** Pairing: transformers rotates dimension i with i + d/2 ("rotate half"): for q or k of one
** head, x'[i] = x[i] cos - x[i + d/2] sin and x'[i + d/2] = x[i + d/2] cos + x[i] sin,
** with cos and sin of p * inv_freq[i] (times mscale). GGUF files store q_proj and k_proj with
** the rows of each head permuted so that pairs are adjacent (2i, 2i + 1), same frequencies.
*/
#ifndef QORA_HF_CONFIG_H
#define QORA_HF_CONFIG_H

#include <stddef.h>

#include "qora.h"

enum hf_rope_type { HF_ROPE_DEFAULT, HF_ROPE_LINEAR, HF_ROPE_YARN, HF_ROPE_LLAMA3 };

typedef struct hf_rope {
  int type;                 /* enum hf_rope_type */
  double theta;
  double factor;            /* linear, yarn, llama3 */
  int original_ctx;         /* original_max_position_embeddings: yarn, llama3 */
  double beta_fast, beta_slow;        /* yarn */
  double attention_factor;  /* yarn: resolved as above; 1 for the other types */
  int truncate;             /* yarn: round the ramp's ends (transformers' default) */
  double low_freq_factor, high_freq_factor;  /* llama3 */
} hf_rope;

typedef struct hf_config {
  char arch[16];            /* the GGUF architecture name: "smollm3" or "llama" */
  int n_embd;               /* hidden_size */
  int n_ff;                 /* intermediate_size */
  int n_layer;
  int n_head;
  int n_head_kv;
  int head_dim;
  int n_vocab;
  int n_ctx_train;          /* max_position_embeddings */
  float norm_eps;
  int tied_embeddings;
  int bos_id, eos_id;       /* bos_token_id, eos_token_id (the first of a list); -1 if absent */
  hf_rope rope;
  unsigned char *uses_rope; /* [n_layer]: 1 when the layer applies RoPE */
} hf_config;

/* Parses config.json text (len bytes). On failure returns -1 with a message naming the field. */
int hf_config_parse(const char *json, size_t len, hf_config *cfg, qora_err *err);

/* Reads DIR/config.json. */
int hf_config_load(const char *dir, hf_config *cfg, qora_err *err);

void hf_config_free(hf_config *cfg);

/*
** Fills inv_freq[0 .. dim/2) for a head of even size dim, as transformers computes them for
** rope (any type above), and returns the factor that multiplies cos and sin.
*/
float hf_rope_freqs(const hf_rope *rope, int dim, float *inv_freq);

/* The yarn case of hf_rope_freqs (rope->type must be HF_ROPE_YARN). Returns the mscale. */
float hf_yarn_freqs(const hf_rope *rope, int dim, float *inv_freq);

#endif
