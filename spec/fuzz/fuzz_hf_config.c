/*
** fuzz_hf_config.c: config.json parsing on arbitrary bytes. A config it accepts must describe
** a model qora can build: sizes in range and consistent, and RoPE frequencies and attention
** factor that are finite and positive (anything else would run and print garbage).
*/
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "hf_config.h"

static void check(const hf_config *c) {
  float *freq;
  float mscale;

  FUZZ_CHECK(c->n_embd >= 1 && c->n_ff >= 1 && c->n_layer >= 1 && c->n_head >= 1 &&
             c->n_head_kv >= 1 && c->n_vocab >= 1 && c->head_dim >= 2, "sizes");
  FUZZ_CHECK(c->head_dim % 2 == 0 && c->n_head % c->n_head_kv == 0, "head shapes");
  FUZZ_CHECK(c->norm_eps > 0 && c->norm_eps < 1, "eps %g", c->norm_eps);
  FUZZ_CHECK(c->uses_rope != NULL, "no RoPE layer list");
  for (int i = 0; i < c->n_layer; i++)
    FUZZ_CHECK(c->uses_rope[i] <= 1, "uses_rope[%d] is %d", i, c->uses_rope[i]);
  freq = malloc((size_t)c->head_dim / 2 * sizeof *freq);
  mscale = hf_rope_freqs(&c->rope, c->head_dim, freq);
  FUZZ_CHECK(isfinite(mscale) && mscale > 0, "RoPE attention factor %g", mscale);
  for (int i = 0; i < c->head_dim / 2; i++)
    FUZZ_CHECK(isfinite(freq[i]) && freq[i] >= 0, "RoPE frequency %d is %g (type %d)", i,
               freq[i], c->rope.type);
  free(freq);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qora_err err = {{0}};
  hf_config cfg;

  if (hf_config_parse((const char *)data, size, &cfg, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "refused without a message");
    return 0;
  }
  check(&cfg);
  hf_config_free(&cfg);
  return 0;
}
