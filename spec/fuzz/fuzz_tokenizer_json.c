/*
** fuzz_tokenizer_json.c: a Hugging Face tokenizer folder built from arbitrary bytes. The input
** up to its first NUL is tokenizer.json; what follows it, when there is a NUL, is
** tokenizer_config.json (JSON text holds no raw NUL, so the split loses nothing). A vocabulary
** qora accepts must then tokenize text into ids it can decode.
*/
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "tokenizer.h"

/* Named templates have key-safe, non-empty names and their stated lengths. */
static void named(const qora_tokenizer *tk) {
  const char *name, *text;
  size_t len;

  for (int i = 0; (text = qora_tokenizer_named_template(tk, i, &name, &len)); i++) {
    FUZZ_CHECK(name[0] != '\0' && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
               "UVWXYZ0123456789_") == strlen(name), "template %d has the name '%s'", i, name);
    FUZZ_CHECK(strlen(text) == len, "template %s: length %zu, text of %zu", name, len,
               strlen(text));
  }
}


static void use(const qora_tokenizer *tk) {
  static const char text[] = "Hello, world!\n 12345 <|im_end|><think> caf\xc3\xa9 \xe4\xb8\xad";
  qora_err err = {{0}};
  qora_tokens out = { 0 };
  size_t len;

  if (qora_tokenize(tk, text, sizeof text - 1, QORA_TOK_SPECIAL | QORA_TOK_BOS, &out,
                    &err) == 0) {
    for (size_t i = 0; i < out.n; i++)
      FUZZ_CHECK(qora_token_bytes(tk, out.ids[i], &len) != NULL, "id %d is not a token",
                 out.ids[i]);
  } else {
    FUZZ_CHECK(err.msg[0] != '\0', "tokenizing failed without a message");
  }
  for (int32_t id = 0; id < qora_vocab_size(tk) && id < 64; id++)
    (void)qora_token_is_eog(tk, id);
  qora_tokens_free(&out);
  named(tk);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t n_json = nul ? (size_t)(nul - data) : size;
  qora_err err = {{0}};
  char dir[128];
  qora_tokenizer *tk;

  fuzz_spit("tokenizer.json", data, n_json);
  if (nul != NULL) {
    fuzz_spit("tokenizer_config.json", nul + 1, size - n_json - 1);
  } else {
    snprintf(dir, sizeof dir, "%s/tokenizer_config.json", fuzz_dir());
    unlink(dir);
  }
  snprintf(dir, sizeof dir, "%s", fuzz_dir());
  tk = qora_tokenizer_from_hf(dir, &err);
  if (tk == NULL) {
    FUZZ_CHECK(err.msg[0] != '\0', "refused without a message");
    return 0;
  }
  use(tk);
  qora_tokenizer_free(tk);
  return 0;
}
