/*
** fuzz_model_gguf.c: loading a whole GGUF model file made of arbitrary bytes (the seeds are
** tiny one-layer models), then, when it loads, evaluating two tokens. A damaged file must be
** refused with a message, without allocating more than its contents justify (run with
** -malloc_limit_mb), and a model that loads must run without touching memory it does not own
** (or refuse to go on with a message, when damaged weights make logits that are not numbers).
*/
#include <stdint.h>

#include "fuzz_util.h"
#include "qora.h"

static void run(qora_model *m) {
  const qora_model_info *in = qora_model_get_info(m);
  qora_session_opts so = { .n_ctx = 4, .n_batch = 2 };
  qora_err err = {{0}};
  int32_t ids[2] = { 0, in->n_vocab - 1 };
  qora_session *s;

  if (!in->has_weights)
    return;
  s = qora_session_new(m, &so, &err);
  FUZZ_CHECK(s != NULL, "no session on a loaded model: %s", err.msg);
  /* Damaged weights may make logits that are not numbers: refused with a message. */
  if (qora_session_eval(s, ids, 2, NULL, &err) == 0)
    FUZZ_CHECK(qora_session_logits(s) != NULL, "no logits");
  else
    FUZZ_CHECK(err.msg[0] != '\0', "eval failed without a message");
  qora_session_free(s);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qora_err err = {{0}};
  const char *path = fuzz_spit("model.gguf", data, size);
  qora_model *m = qora_model_load(path, &(qora_load_opts){ .n_threads = 1 }, &err);

  if (m == NULL) {
    FUZZ_CHECK(err.msg[0] != '\0', "refused without a message");
    return 0;
  }
  run(m);
  qora_model_free(m);
  return 0;
}
