/*
** fuzz_tokenize.c: tokenizing arbitrary bytes with a real vocabulary (SmolLM2's, from the GGUF
** that `make model` fetches; QORA_FUZZ_MODEL names another). The first input byte picks the
** flags, the rest is the text. Invalid UTF-8 must be refused with the output untouched; valid
** text must tokenize, and the ids must decode to the text again, less the few bytes the
** vocabulary has no token for (Hugging Face drops those too). The streaming UTF-8 assembler
** must turn any bytes into valid UTF-8, and valid UTF-8 into itself.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "gguf.h"
#include "tok_internal.h"
#include "tokenizer.h"

#define DEFAULT_MODEL "models/SmolLM2-135M-Instruct.Q4_1.gguf"

static const qora_tokenizer *tk;
static int no_token[256];   /* 1 for a byte the vocabulary has no token of its own for */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *path = getenv("QORA_FUZZ_MODEL");
  qora_err err = {{0}};
  gguf_file *f = gguf_open(path && *path ? path : DEFAULT_MODEL, &err);

  if (f == NULL || (tk = qora_tokenizer_from_gguf(f, &err)) == NULL) {
    fprintf(stderr, "fuzz_tokenize: %s (run `make model` or set QORA_FUZZ_MODEL)\n", err.msg);
    exit(1);
  }
  gguf_close(f);           /* the tokenizer keeps copies of what it needs */
  for (int b = 0; b < 256; b++)
    no_token[b] = tk->byte_tok[b] < 0;
  return 0;
}


/* The streaming assembler on text in pieces: valid UTF-8 out, the text itself if it was. */
static void check_stream(const char *text, size_t n, int valid, size_t piece) {
  char *out = malloc(3 * (n + 1) + 3);
  qora_utf8 u = { { 0 }, 0 };
  size_t w = 0;

  for (size_t i = 0; i < n; i += piece) {
    size_t k = n - i < piece ? n - i : piece;
    size_t got = qora_utf8_push(&u, text + i, k, out + w, 3 * (k + 1));

    FUZZ_CHECK(got != (size_t)-1, "push refused a large enough buffer");
    w += got;
  }
  w += qora_utf8_flush(&u, out + w, 3);
  FUZZ_CHECK(qora_utf8_valid(out, w), "assembler wrote invalid UTF-8");
  if (valid)
    FUZZ_CHECK(w == n && memcmp(out, text, n) == 0, "assembler changed valid text");
  free(out);
}


/* decode(encode(text)) is text less the bytes without a token. */
static void check_round_trip(const char *text, size_t n, const qora_tokens *ids, size_t first) {
  char *want = malloc(n + 1), *got = NULL;
  size_t nw = 0, ng = 0, len;

  for (size_t i = 0; i < n; i++)
    if (!no_token[(unsigned char)text[i]])
      want[nw++] = text[i];
  for (size_t i = first; i < ids->n; i++) {
    const char *s = qora_token_bytes(tk, ids->ids[i], &len);

    FUZZ_CHECK(s != NULL, "id %d is not a token", ids->ids[i]);
    got = realloc(got, ng + len + 1);
    memcpy(got + ng, s, len);
    ng += len;
  }
  FUZZ_CHECK(ng == nw && (nw == 0 || memcmp(got, want, nw) == 0),
             "decoding %zu ids gave %zu bytes, not the %zu of the text", ids->n - first, ng, nw);
  free(want);
  free(got);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qora_err err = {{0}};
  qora_tokens out = { 0 };
  const char *text = (const char *)data + 1;
  size_t n = size ? size - 1 : 0;
  int flags, valid, rc;

  if (size == 0)
    return 0;
  flags = data[0] & (QORA_TOK_SPECIAL | QORA_TOK_BOS);
  valid = qora_utf8_valid(text, n);
  check_stream(text, n, valid, (size_t)(data[0] >> 4) + 1);
  rc = qora_tokenize(tk, text, n, flags, &out, &err);
  if (!valid) {
    FUZZ_CHECK(rc != 0 && err.msg[0] != '\0' && out.n == 0, "invalid UTF-8 accepted");
  } else {
    FUZZ_CHECK(rc == 0, "valid text refused: %s", err.msg);
    check_round_trip(text, n, &out, (flags & QORA_TOK_BOS) && tk->add_bos);
  }
  qora_tokens_free(&out);
  return 0;
}
