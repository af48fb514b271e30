/*
** test_vectors.c: qora's logits against llama.cpp's on the tiny SmolLM3 model, every position
** of every prompt, through the batch path; and greedy continuations of the F32 file.
** The references are in ../shared/vectors/tiny-smollm3 (see its README).
*/
#include <stdlib.h>
#include <string.h>

#include "fixture_io.h"
#include "qora.h"
#include "tap.h"

#define DIR "../shared/vectors/tiny-smollm3/"

static const char *const types[] = { "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q4_k",
                                     "q4_k_m", "q6_k" };
static const char *const prompts[] = { "raw", "mixed", "chat", "long" };

static int is_float_type(const char *type) {
  return !strcmp(type, "f32") || !strcmp(type, "f16") || !strcmp(type, "bf16");
}


/* Compares every logit of a prompt; bounds from the issue (float files tighter). */
static void check_logits(qora_model *m, const char *type, const char *prompt) {
  char path[256];
  int32_t ids[2048];
  int n_vocab = qora_model_get_info(m)->n_vocab;
  qora_err err;

  snprintf(path, sizeof path, DIR "prompts/%s.ids", prompt);
  int n = read_id_file(path, ids, 2048);
  snprintf(path, sizeof path, DIR "logits/%s_%s.f32", type, prompt);
  float *want = read_floats(path, (size_t)n * n_vocab);
  float *got = malloc((size_t)n * n_vocab * sizeof *got);
  qora_session *s = qora_session_new(m, &(qora_session_opts){ .n_ctx = 2048 }, &err);

  if (!TAP_OK(n > 0 && want && s && qora_session_eval(s, ids, n, got, &err) == 0,
              "%s %s: evaluates %d prompt tokens", type, prompt, n)) {
    TAP_DIAG("%s", err.msg);
  } else {
    diff d = compare(want, got, (size_t)n * n_vocab);
    double bmax = is_float_type(type) ? 0.06 : 0.3, brms = is_float_type(type) ? 0.01 : 0.05;
    TAP_OK(d.max <= bmax && d.rms <= brms, "%s %s: logits within %.2f max / %.2f rms of "
           "llama.cpp (max %.4f at position %zu id %zu: want %.4f got %.4f; rms %.5f)",
           type, prompt, bmax, brms, d.max, d.at / n_vocab, d.at % n_vocab, want[d.at],
           got[d.at], d.rms);
  }
  qora_session_free(s);
  free(want);
  free(got);
}


static int32_t argmax(const float *x, int n) {
  int32_t best = 0;

  for (int i = 1; i < n; i++)
    if (x[i] > x[best])
      best = i;
  return best;
}


static void check_greedy(qora_model *m, const char *prompt) {
  char path[256];
  int32_t ids[2048], want[32], got[32];
  int n_vocab = qora_model_get_info(m)->n_vocab, ok = 1;
  qora_err err;
  qora_session *s = qora_session_new(m, NULL, &err);

  snprintf(path, sizeof path, DIR "prompts/%s.ids", prompt);
  int n = read_id_file(path, ids, 2048);
  snprintf(path, sizeof path, DIR "greedy/f32_%s.ids", prompt);
  int n_want = read_id_file(path, want, 32);
  ok = s && n > 0 && n_want == 32 && qora_session_eval(s, ids, n, NULL, &err) == 0;
  for (int i = 0; ok && i < 32; i++) {
    got[i] = argmax(qora_session_logits(s), n_vocab);
    ok = qora_session_eval(s, &got[i], 1, NULL, &err) == 0;
  }
  int first = -1;
  for (int i = 0; ok && i < 32 && first < 0; i++)
    if (got[i] != want[i])
      first = i;
  if (!TAP_OK(ok && first < 0, "f32 %s: 32 greedy ids equal llama.cpp's", prompt) && ok)
    TAP_DIAG("first difference at %d: want %d got %d", first, want[first], got[first]);
  qora_session_free(s);
}


int main(void) {
  for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
    char path[256];
    qora_err err;
    snprintf(path, sizeof path, DIR "tiny-smollm3-%s.gguf", types[t]);
    qora_model *m = qora_model_load(path, &(qora_load_opts){ .n_threads = 2 }, &err);
    if (!TAP_OK(m != NULL, "loads tiny-smollm3-%s.gguf", types[t])) {
      TAP_DIAG("%s", err.msg);
      continue;
    }
    for (size_t p = 0; p < sizeof prompts / sizeof *prompts; p++)
      check_logits(m, types[t], prompts[p]);
    if (t == 0)
      for (size_t p = 0; p < 3; p++)
        check_greedy(m, prompts[p]);
    qora_model_free(m);
  }
  return tap_done();
}
