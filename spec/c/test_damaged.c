/*
** test_damaged.c: a model file one of whose weights is NaN or infinite fails to evaluate with
** a message, at every CPU level, in one batch and token by token; it never answers with finite
** logits. Each case is a copy of a tiny SmolLM3 file (../shared/vectors/tiny-smollm3) with
** one value of one tensor overwritten, chosen so that the damage has to pass a step that used
** to drop it: the activation quantizers skipped a NaN when they took a block's largest
** magnitude, and softmax's lower bound on exponents turned a NaN score into a tiny weight.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture_io.h"
#include "gguf.h"
#include "qora.h"
#include "quant.h"
#include "tap.h"

#define DIR "../shared/vectors/tiny-smollm3/"
#define MAX_IDS 256

typedef struct damage {
  const char *file;         /* tiny-smollm3-FILE.gguf */
  const char *tensor;
  size_t at;                /* byte in the tensor's data */
  int f16;                  /* the value is an F16 (a block's scale), else an F32 */
  float value;
  const char *why;          /* the step the damage used to vanish in */
} damage;

static const damage cases[] = {
  {"f32", "blk.0.attn_q.weight", 0, 0, NAN, "a NaN query: softmax's exponent bound"},
  {"q8_0", "blk.0.attn_norm.weight", 4, 0, NAN, "a NaN norm weight: the Q8_0 activations"},
  {"q4_1", "blk.1.attn_norm.weight", 8, 0, NAN,
   "a NaN norm weight of layer 1: the Q8_1 activations"},
  {"q4_0", "blk.1.ffn_down.weight", 0, 1, INFINITY,
   "an infinite block scale: the next layer's Q8_0 activations"},
  {"q4_k_m", "blk.0.ffn_gate.weight", 0, 1, NAN,
   "a NaN super-block scale: the Q8_K activations"},
};


/* The F16 bits of NaN or infinity (the only values the cases write as F16). */
static uint16_t f16_bits(float v) {
  return v != v ? 0x7e00 : v > 0 ? 0x7c00 : 0xfc00;
}


/* Writes the damaged copy of c's file to path; 0 on success. */
static int write_damaged(const damage *c, const char *path) {
  char src[256];
  size_t len;
  qora_err err = { 0 };

  snprintf(src, sizeof src, DIR "tiny-smollm3-%s.gguf", c->file);
  char *buf = slurp(src, &len);
  gguf_file *g = buf ? gguf_open_memory(buf, len, &err) : NULL;
  const gguf_tensor *t = g ? gguf_find_tensor(g, c->tensor) : NULL;
  int rc = -1;

  if (t != NULL && c->at + 4 <= t->nbytes) {
    uint8_t *p = (uint8_t *)buf + g->data_offset + t->offset + c->at;
    uint16_t h = f16_bits(c->value);
    memcpy(p, c->f16 ? (const void *)&h : (const void *)&c->value, c->f16 ? 2 : 4);
    FILE *f = fopen(path, "wb");
    rc = f && fwrite(buf, 1, len, f) == len ? 0 : -1;
    if (f && fclose(f) != 0)
      rc = -1;
  }
  if (g)
    gguf_close(g);
  free(buf);
  return rc;
}


/* Evaluates ids in one batch (one = 0) or token by token; 0 when every step succeeded. */
static int evaluate(qora_model *m, const int32_t *ids, int n, int one, qora_err *err) {
  qora_session *s = qora_session_new(m, &(qora_session_opts){ .n_ctx = 512 }, err);
  int rc = s ? 0 : -1;

  for (int i = 0; rc == 0 && i < n; i += one ? 1 : n)
    rc = qora_session_eval(s, ids + i, one ? 1 : n, NULL, err);
  qora_session_free(s);
  return rc;
}


static void check_case(const damage *c, const int32_t *ids, int n) {
  char path[] = "/tmp/qora-damaged-XXXXXX";
  int fd = mkstemp(path);
  qora_err err = { 0 };
  qora_model *m = NULL;

  if (fd >= 0)
    close(fd);
  if (!TAP_OK(fd >= 0 && write_damaged(c, path) == 0, "%s: writes the damaged copy of %s",
              c->why, c->file))
    return;
  m = qora_model_load(path, &(qora_load_opts){ .n_threads = 2 }, &err);
  unlink(path);
  if (!TAP_OK(m != NULL, "%s: the damaged copy loads (a value is not checked at load)", c->why)) {
    TAP_DIAG("%s", err.msg);
    return;
  }
  for (int level = qora_cpu_best(); level >= QORA_CPU_SCALAR; level--) {
    qora_cpu_set_level(level);
    for (int one = 0; one <= 1; one++) {
      memset(&err, 0, sizeof err);
      int rc = evaluate(m, ids, n, one, &err);
      if (TAP_OK(rc != 0 && strstr(err.msg, "not a number") != NULL,
                 "[%s] %s (%s), %s: fails, saying a logit is not a number",
                 qora_cpu_name(level), c->why, c->file, one ? "token by token" : "one batch"))
        continue;
      TAP_DIAG("%s", rc == 0 ? "evaluated with finite logits" : err.msg);
    }
  }
  qora_cpu_set_level(qora_cpu_best());
  qora_model_free(m);
}


int main(void) {
  int32_t ids[MAX_IDS];
  int n = read_id_file(DIR "prompts/mixed.ids", ids, MAX_IDS);

  if (!TAP_OK(n > 1, "reads the prompt's ids"))
    return tap_done();
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    check_case(&cases[i], ids, n);
  return tap_done();
}
