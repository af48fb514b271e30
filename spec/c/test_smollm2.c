/*
** test_smollm2.c: the real SmolLM2-135M-Instruct model against llama.cpp. The expected ids
** were made once by llama-cpp-python (spec/fixtures/smollm2/make_greedy.py): the prompt ids
** of three ChatML prompts and the 32 tokens greedy decoding produces after each.
*/
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "fixture_io.h"
#include "qora.h"
#include "tap.h"

#define MODEL "models/SmolLM2-135M-Instruct.Q4_1.gguf"
#define FIXTURE "spec/fixtures/smollm2/greedy.json"
#define N_GREEDY 32

static int read_ids(const cJSON *arr, int32_t *ids, int cap) {
  int n = 0;
  const cJSON *v;

  cJSON_ArrayForEach(v, arr) {
    if (n < cap)
      ids[n++] = (int32_t)v->valueint;
  }
  return n;
}


/* The two best logits' gap, to judge a divergence between two correct engines. */
static float top2_gap(const float *x, int n, int32_t *best) {
  int a = 0, b = 1;

  if (x[b] > x[a]) {
    a = 1;
    b = 0;
  }
  for (int i = 2; i < n; i++) {
    if (x[i] > x[a]) {
      b = a;
      a = i;
    } else if (x[i] > x[b]) {
      b = i;
    }
  }
  *best = a;
  return x[a] - x[b];
}


/* Tokenizes the prompt like llama.cpp, then decodes greedily; returns 1 when all 32 agree. */
static int run_case(qora_model *m, const cJSON *c, int index) {
  const qora_tokenizer *tk = qora_model_tokenizer(m);
  const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
  int32_t want_ids[512], want[N_GREEDY], got;
  int n_ids = read_ids(cJSON_GetObjectItem(c, "ids"), want_ids, 512);
  int n_vocab = qora_model_get_info(m)->n_vocab, first = -1;
  qora_tokens toks = { 0 };
  qora_err err;
  float gap = 0;

  read_ids(cJSON_GetObjectItem(c, "greedy"), want, N_GREEDY);
  int ok = qora_tokenize(tk, text, strlen(text), QORA_TOK_SPECIAL, &toks, &err) == 0;
  TAP_OK(ok && toks.n == (size_t)n_ids && !memcmp(toks.ids, want_ids, n_ids * sizeof *want_ids),
         "prompt %d: tokenizes the ChatML text as llama.cpp does (%d ids)", index, n_ids);
  qora_tokens_free(&toks);
  qora_session *s = qora_session_new(m, NULL, &err);
  ok = s && qora_session_eval(s, want_ids, n_ids, NULL, &err) == 0;
  for (int i = 0; ok && i < N_GREEDY; i++) {
    float g = top2_gap(qora_session_logits(s), n_vocab, &got);
    if (got != want[i] && first < 0) {
      first = i;
      gap = g;
    }
    ok = qora_session_eval(s, first < 0 ? &got : &want[i], 1, NULL, &err) == 0;
  }
  if (first >= 0)
    TAP_DIAG("prompt %d parts from llama.cpp at token %d: qora's top-2 gap there is %.4f, "
             "llama.cpp's %.4f", index, first, gap,
             cJSON_GetArrayItem(cJSON_GetObjectItem(c, "top2_gap"), first)->valuedouble);
  qora_session_free(s);
  return ok && first < 0;
}


int main(void) {
  qora_err err;
  size_t len;
  char *json = slurp(FIXTURE, &len);
  cJSON *doc = json ? cJSON_Parse(json) : NULL;
  qora_model *m = qora_model_load(MODEL, NULL, &err);
  int agree = 0, index = 0;
  const cJSON *c;

  if (!TAP_OK(doc && m, "loads %s and %s", MODEL, FIXTURE)) {
    TAP_DIAG("%s", m ? "bad fixture" : err.msg);
    return tap_done();
  }
  cJSON_ArrayForEach(c, cJSON_GetObjectItem(doc, "cases")) {
    agree += run_case(m, c, ++index);
  }
  TAP_OK(agree >= 2, "the first %d greedy tokens equal llama.cpp's on %d of %d prompts "
         "(at least 2 required)", N_GREEDY, agree, index);
  qora_model_free(m);
  cJSON_Delete(doc);
  free(json);
  return tap_done();
}
