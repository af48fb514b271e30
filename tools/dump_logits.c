/*
** dump_logits: the logits qora computes after every position of a prompt, for comparing qora
** with other engines by hand (spec/fixtures/hf/check_llama_cpp.py).
**
**   dump_logits MODEL IDS OUT.f32 [-q QUANT] [-kv f32|f16]
**
** MODEL is a GGUF file or a Hugging Face folder (loaded as QUANT, default f32); IDS holds one
** token id per line; OUT receives little-endian float32 [n_ids][n_vocab], the whole prompt
** evaluated as one batch, with an F32 KV cache unless -kv f16 is given.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qora.h"

#define MAX_IDS 65536

static int fail(const char *what, const char *detail) {
  fprintf(stderr, "dump_logits: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  return 1;
}

static int read_ids(const char *path, int32_t *ids) {
  FILE *f = fopen(path, "r");
  long v;
  int n = 0;

  if (f == NULL)
    return -1;
  while (n < MAX_IDS && fscanf(f, "%ld", &v) == 1)
    ids[n++] = (int32_t)v;
  fclose(f);
  return n;
}

int main(int argc, char **argv) {
  const char *quant = "f32";
  int kv_f32 = 1, n, n_vocab, rc = 0;
  static int32_t ids[MAX_IDS];
  qora_load_opts lo = { 0 };
  qora_session_opts so = { 0 };
  qora_err err;
  qora_model *m;
  qora_session *s;
  float *logits;
  FILE *out;
  struct stat st;

  if (argc < 4)
    return fail("usage: dump_logits MODEL IDS OUT.f32 [-q QUANT] [-kv f32|f16]", NULL);
  for (int i = 4; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "-q") == 0)
      quant = argv[i + 1];
    else if (strcmp(argv[i], "-kv") == 0)
      kv_f32 = strcmp(argv[i + 1], "f16") != 0;
    else
      return fail("unknown option", argv[i]);
  }
  if ((n = read_ids(argv[2], ids)) < 1)
    return fail("cannot read ids from", argv[2]);
  lo.quant = stat(argv[1], &st) == 0 && S_ISREG(st.st_mode) &&
             !strstr(argv[1], "config.json") ? NULL : quant;   /* a GGUF keeps its types */
  if ((m = qora_model_load(argv[1], &lo, &err)) == NULL)
    return fail(err.msg, NULL);
  so.n_ctx = n;
  so.n_batch = n;
  so.kv_f32 = kv_f32;
  n_vocab = qora_model_get_info(m)->n_vocab;
  s = qora_session_new(m, &so, &err);
  logits = malloc((size_t)n * n_vocab * sizeof *logits);
  if (s == NULL || logits == NULL || qora_session_eval(s, ids, n, logits, &err) < 0)
    rc = fail(logits ? err.msg : "out of memory", NULL);
  else if ((out = fopen(argv[3], "wb")) == NULL ||
           fwrite(logits, sizeof *logits, (size_t)n * n_vocab, out) != (size_t)n * n_vocab ||
           fclose(out) != 0)
    rc = fail("cannot write", argv[3]);
  free(logits);
  qora_session_free(s);
  qora_model_free(m);
  return rc;
}
