/*
** test_decode.c: the decode path (one token per step, the kernels generation uses, on weights
** repacked at load where the CPU takes them) against llama.cpp's logits on the tiny SmolLM3
** model, every position of two prompts, for every quantized file and each CPU level.
** The references are in ../shared/vectors/tiny-smollm3 (see its README); llama.cpp computed
** them as one batch, which equals decoding token by token up to rounding.
*/
#include <stdlib.h>
#include <string.h>

#include "fixture_io.h"
#include "qora.h"
#include "quant.h"
#include "tap.h"

#define DIR "../shared/vectors/tiny-smollm3/"
#define MAX_IDS 256

static const char *const types[] = { "q8_0", "q4_0", "q4_1", "q4_k", "q4_k_m", "q6_k" };
static const char *const prompts[] = { "mixed", "chat" };

/* Feeds the prompt one token at a time; got receives the logits after each. */
static int decode(qora_model *m, const int32_t *ids, int n, float *got, qora_err *err) {
  int n_vocab = qora_model_get_info(m)->n_vocab, rc = 0;
  qora_session *s = qora_session_new(m, &(qora_session_opts){ .n_ctx = 512 }, err);

  if (s == NULL)
    return -1;
  for (int i = 0; i < n && rc == 0; i++)
    rc = qora_session_eval(s, &ids[i], 1, got + (size_t)i * n_vocab, err);
  qora_session_free(s);
  return rc;
}


/* The bounds of test_vectors.c for quantized files: 0.3 max, 0.05 rms. */
static void check_prompt(qora_model *m, const char *type, const char *prompt) {
  char path[256];
  int32_t ids[MAX_IDS];
  int n_vocab = qora_model_get_info(m)->n_vocab;
  qora_err err = { 0 };

  snprintf(path, sizeof path, DIR "prompts/%s.ids", prompt);
  int n = read_id_file(path, ids, MAX_IDS);
  snprintf(path, sizeof path, DIR "logits/%s_%s.f32", type, prompt);
  float *want = n > 0 ? read_floats(path, (size_t)n * n_vocab) : NULL;
  float *got = malloc((size_t)(n > 0 ? n : 1) * n_vocab * sizeof *got);

  if (!TAP_OK(want && decode(m, ids, n, got, &err) == 0, "[%s] %s %s: decodes %d tokens",
              qora_cpu_name(qora_cpu_level()), type, prompt, n)) {
    TAP_DIAG("%s", want ? err.msg : "reference missing");
  } else {
    diff d = compare(want, got, (size_t)n * n_vocab);
    TAP_OK(d.max <= 0.3 && d.rms <= 0.05, "[%s] %s %s: decoded logits within 0.30 max / 0.05 "
           "rms of llama.cpp (max %.4f at position %zu id %zu: want %.4f got %.4f; rms %.5f)",
           qora_cpu_name(qora_cpu_level()), type, prompt, d.max, d.at / n_vocab,
           d.at % n_vocab, want[d.at], got[d.at], d.rms);
  }
  free(want);
  free(got);
}


int main(void) {
  for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
    char path[256];
    qora_err err = { 0 };
    snprintf(path, sizeof path, DIR "tiny-smollm3-%s.gguf", types[t]);
    qora_model *m = qora_model_load(path, &(qora_load_opts){ .n_threads = 2 }, &err);
    if (!TAP_OK(m != NULL, "loads tiny-smollm3-%s.gguf", types[t])) {
      TAP_DIAG("%s", err.msg);
      continue;
    }
    /* The model was repacked for the best level; lower levels read the stored layout. */
    for (int level = qora_cpu_best(); level >= QORA_CPU_SCALAR; level--) {
      qora_cpu_set_level(level);
      for (size_t p = 0; p < sizeof prompts / sizeof *prompts; p++)
        check_prompt(m, types[t], prompts[p]);
    }
    qora_cpu_set_level(qora_cpu_best());
    qora_model_free(m);
  }
  /* The row kernels of the stored layout, for a file loaded without repacking. */
  for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
    char path[256];
    qora_err err = { 0 };
    snprintf(path, sizeof path, DIR "tiny-smollm3-%s.gguf", types[t]);
    qora_model *m = qora_model_load(path, &(qora_load_opts){ .n_threads = 2, .keep_layout = 1 },
                                    &err);
    if (!TAP_OK(m != NULL, "loads tiny-smollm3-%s.gguf in its stored layout", types[t])) {
      TAP_DIAG("%s", err.msg);
      continue;
    }
    check_prompt(m, types[t], "mixed");
    qora_model_free(m);
  }
  return tap_done();
}
