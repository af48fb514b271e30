/*
** test_threads.c: results do not depend on the thread count. The tiny SmolLM3 model evaluates
** a prompt and decodes greedily past the first key chunk (2048 keys, attention.c) with 1, 2
** and 3 threads; every logit must be bit for bit the same. Past it each head's key range is
** split in chunks whose parts the thread finishing the last one merges: with 3 threads an
** item's chunks fall to two threads.
*/
#include <stdlib.h>
#include <string.h>

#include "qora.h"
#include "tap.h"

#define MODEL "../shared/vectors/tiny-smollm3/tiny-smollm3-q4_k_m.gguf"
#define N_PROMPT 1900
#define N_DECODE 300

/* Logits after the prompt and after each decoded token, one row each. */
static float *run(int threads, int *n_rows) {
  qora_err err;
  qora_model *m = qora_model_load(MODEL, &(qora_load_opts){ .n_threads = threads }, &err);
  int n_vocab = m ? qora_model_get_info(m)->n_vocab : 0;
  qora_session *s = m ? qora_session_new(m, &(qora_session_opts){ .n_ctx = 4096 }, &err) : NULL;
  float *rows = calloc((size_t)(N_DECODE + 1) * (n_vocab ? n_vocab : 1), sizeof *rows);
  int32_t ids[N_PROMPT];

  *n_rows = 0;
  for (int i = 0; i < N_PROMPT; i++)
    ids[i] = (i * 37 + 11) % (n_vocab ? n_vocab : 1);
  if (s && qora_session_eval(s, ids, N_PROMPT, NULL, &err) == 0) {
    for (int k = 0; k <= N_DECODE; k++) {
      const float *l = qora_session_logits(s);
      int32_t best = 0;
      memcpy(rows + (size_t)k * n_vocab, l, (size_t)n_vocab * sizeof *l);
      for (int i = 1; i < n_vocab; i++)
        best = l[i] > l[best] ? i : best;
      *n_rows = k + 1;
      if (k < N_DECODE && qora_session_eval(s, &best, 1, NULL, &err) != 0)
        break;
    }
  }
  *n_rows *= n_vocab;
  qora_session_free(s);
  qora_model_free(m);
  return rows;
}


int main(void) {
  int n1, n;
  float *one = run(1, &n1);

  TAP_OK(n1 > 0, "evaluates %d tokens and decodes %d with one thread", N_PROMPT, N_DECODE);
  for (int threads = 2; threads <= 3; threads++) {
    float *other = run(threads, &n);
    int first = -1;
    for (int i = 0; i < n && i < n1 && first < 0; i++)
      if (memcmp(&one[i], &other[i], sizeof *one) != 0)
        first = i;
    if (!TAP_OK(n == n1 && first < 0, "%d threads give the same logits as one", threads) &&
        first >= 0)
      TAP_DIAG("first difference at row %d: %.9g against %.9g", first / 462, one[first],
               other[first]);
    free(other);
  }
  free(one);
  return tap_done();
}
