/*
** fuzz_gguf.c: the GGUF reader on arbitrary bytes, then every accessor on what it accepted,
** then the vocabulary a GGUF's tokenizer.ggml.* metadata describes. Whatever the bytes, the
** reader refuses them with a message or hands out only pointers inside the image.
*/
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "gguf.h"
#include "tokenizer.h"

/* Reads every entry through the typed getters and the array helpers. */
static void read_all(const gguf_file *f) {
  char key[256];
  qora_err err;

  for (uint64_t i = 0; i < f->n_kv; i++) {
    const gguf_kv *kv = &f->kv[i];
    uint32_t u;
    float x;
    int b;
    gguf_str s;

    if (kv->key.len >= sizeof key || memchr(kv->key.ptr, 0, kv->key.len))
      continue;
    memcpy(key, kv->key.ptr, kv->key.len);
    key[kv->key.len] = '\0';
    FUZZ_CHECK(gguf_find(f, key) == kv, "key %s found elsewhere", key);
    gguf_get_u32(f, key, &u, &err);
    gguf_get_f32(f, key, &x, &err);
    gguf_get_bool(f, key, &b, &err);
    if (gguf_get_str(f, key, &s, &err) == 1)
      FUZZ_CHECK((const uint8_t *)s.ptr + s.len <= f->map + f->size, "string past the end");
    if (kv->type != GGUF_ARRAY || kv->n > 4096)
      continue;
    if (kv->arr_type == GGUF_STRING) {
      gguf_str *strs = malloc((kv->n + 1) * sizeof *strs);
      if (gguf_str_array(kv, strs, &err) == 0 && kv->n > 0)
        FUZZ_CHECK((const uint8_t *)strs[kv->n - 1].ptr + strs[kv->n - 1].len <=
                   f->map + f->size, "array string past the end");
      free(strs);
    } else {
      for (uint64_t k = 0; k < kv->n; k++)
        (void)(gguf_arr_int(kv, k) + gguf_arr_float(kv, k));
    }
  }
}


static void check_tensors(const gguf_file *f) {
  for (uint64_t i = 0; i < f->n_tensors; i++) {
    const gguf_tensor *t = &f->tensors[i];

    if (t->data != NULL)
      FUZZ_CHECK((const uint8_t *)t->data + t->nbytes <= f->map + f->size,
                 "tensor %llu ends past the file", (unsigned long long)i);
  }
}


/* Tokenizes a short text with the file's vocabulary, when it has one qora accepts. */
static void try_vocabulary(const gguf_file *f) {
  static const char text[] = "Hello, world! 123 <|im_end|> \xc3\xa9t\xc3\xa9";
  qora_err err;
  qora_tokens out = { 0 };
  qora_tokenizer *tk = qora_tokenizer_from_gguf(f, &err);

  if (tk == NULL)
    return;
  if (qora_tokenize(tk, text, sizeof text - 1, QORA_TOK_SPECIAL | QORA_TOK_BOS, &out,
                    &err) == 0)
    for (size_t i = 0; i < out.n; i++)
      FUZZ_CHECK(qora_token_bytes(tk, out.ids[i], NULL) != NULL, "id %d out of range",
                 out.ids[i]);
  qora_tokens_free(&out);
  qora_tokenizer_free(tk);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qora_err err = {{0}};
  gguf_file *f = gguf_open_memory(data, size, &err);

  if (f == NULL) {
    FUZZ_CHECK(err.msg[0] != '\0', "refused without a message");
    return 0;
  }
  read_all(f);
  check_tensors(f);
  try_vocabulary(f);
  gguf_close(f);
  return 0;
}
