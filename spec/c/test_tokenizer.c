/*
** test_tokenizer.c: the tokenizer read from GGUF metadata, against llama.cpp's outputs:
** its tokenizer test for Llama 3 (llama-bpe.inp / .out) and the ids of the tiny-smollm3
** prompts.
*/
#include "gguf.h"
#include "tok_util.h"
#include "tokenizer.h"

#define CASE_SEP "\n__ggml_vocab_test__\n"

static qora_tokenizer *load(const char *rel, gguf_file **f) {
  qora_err err = {{0}};
  qora_tokenizer *tk = NULL;

  *f = gguf_open(vec_path(rel), &err);
  if (*f != NULL)
    tk = qora_tokenizer_from_gguf(*f, &err);
  if (!TAP_OK(tk != NULL, "builds the tokenizer of %s", rel))
    TAP_DIAG("%s", err.msg);
  return tk;
}


/* 1 when the token bytes of ids, joined, are text[0..n). */
static int decodes_to(const qora_tokenizer *tk, const qora_tokens *ids, const char *text,
                      size_t n) {
  size_t at = 0, len;

  for (size_t i = 0; i < ids->n; i++) {
    const char *b = qora_token_bytes(tk, ids->ids[i], &len);

    if (b == NULL || at + len > n || memcmp(text + at, b, len) != 0)
      return 0;
    at += len;
  }
  return at == n;
}


static void test_llama3_cases(const qora_tokenizer *tk) {
  size_t n_inp, n_out, n_cases = 0, passed = 0, round_trips = 0;
  char *inp = slurp(vec_path("tokenizer/llama-bpe.inp"), &n_inp);
  char *out = slurp(vec_path("tokenizer/llama-bpe.out"), &n_out);
  char *c = inp, *line = out, *sep;
  qora_tokens want = { 0 }, got = { 0 };
  qora_err err;

  if (!TAP_OK(inp && out, "reads llama-bpe.inp and llama-bpe.out"))
    return;
  while ((sep = strstr(c, CASE_SEP)) != NULL) {
    char *eol = strchr(line, '\n');
    size_t len = (size_t)(sep - c);
    int ok;

    parse_ids(line, eol ? (size_t)(eol - line) : strlen(line), &want);
    got.n = 0;
    ok = qora_tokenize(tk, c, len, 0, &got, &err) == 0 && same_ids(&want, &got);
    if (!ok)
      TAP_DIAG("case %zu differs: \"%.*s\"", n_cases, (int)len, c);
    passed += ok;
    round_trips += decodes_to(tk, &got, c, len);
    n_cases++;
    c = sep + strlen(CASE_SEP);
    line = eol ? eol + 1 : line + strlen(line);
  }
  TAP_OK(n_cases == 46 && passed == 46, "gives llama.cpp's ids for all 46 Llama 3 cases "
         "(%zu of %zu)", passed, n_cases);
  TAP_OK(round_trips == n_cases, "the token bytes of every case join back into the case");
  qora_tokens_free(&want);
  qora_tokens_free(&got);
  free(inp);
  free(out);
}


static void test_llama3_specials(const qora_tokenizer *tk) {
  static const char text[] = "<|begin_of_text|>Hi<|eot_id|>";
  qora_tokens got = { 0 };
  qora_err err;

  TAP_OK(qora_vocab_size(tk) == 128256, "has 128256 tokens");
  TAP_OK(qora_token_bos(tk) == 128000 && qora_token_eos(tk) == 128009,
         "reads BOS 128000 and EOS 128009 from the metadata");
  TAP_OK(qora_token_is_eog(tk, 128009) && qora_token_is_eog(tk, 128001) &&
         qora_token_is_eog(tk, 128008) && !qora_token_is_eog(tk, 128000) &&
         !qora_token_is_eog(tk, 13), "ends generation at <|eot_id|>, <|end_of_text|> and "
         "<|eom_id|> only");
  TAP_OK(qora_token_find(tk, "<|eot_id|>", 10) == 128009 &&
         qora_token_type(tk, 128009) == QORA_TOKEN_CONTROL, "finds <|eot_id|>, a control token");

  qora_tokenize(tk, text, sizeof text - 1, QORA_TOK_SPECIAL | QORA_TOK_BOS, &got, &err);
  TAP_OK(got.n == 3 && got.ids[0] == 128000 && got.ids[1] == 13347 && got.ids[2] == 128009,
         "parses specials written in the text when asked, adds no BOS the file does not ask for");
  got.n = 0;
  qora_tokenize(tk, text, sizeof text - 1, 0, &got, &err);
  TAP_OK(got.n > 3 && decodes_to(tk, &got, text, sizeof text - 1),
         "leaves specials as plain text without QORA_TOK_SPECIAL (%zu ids)", got.n);
  qora_tokens_free(&got);
}


/* Long pieces must take n log n, not n^2: each of these is one piece of 100 KB or more. */
static void test_long_pieces(const qora_tokenizer *tk) {
  static const char *units[] = { "a", "ab", "!", " ", "\xF0\x9F\xA6\x99", "7", "\xE6\x9D\xB1" };
  enum { N = 100 * 1000 };
  char *text = malloc(N + 8);
  qora_tokens got = { 0 };
  qora_err err;

  for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
    size_t k = strlen(units[u]), n = 0;
    int ok;

    while (n + k <= N) {
      memcpy(text + n, units[u], k);
      n += k;
    }
    got.n = 0;
    ok = qora_tokenize(tk, text, n, 0, &got, &err) == 0 && decodes_to(tk, &got, text, n);
    TAP_OK(ok, "tokenizes %zu bytes of '%s' repeated into %zu ids and back", n, units[u],
           got.n);
  }
  qora_tokens_free(&got);
  free(text);
}


static void test_tiny_prompts(void) {
  static const char *names[] = { "raw", "mixed", "chat", "long" };
  gguf_file *f;
  qora_tokenizer *tk = load("tiny-smollm3/tiny-smollm3-f32.gguf", &f);
  char path[256];

  for (size_t i = 0; tk && i < sizeof names / sizeof names[0]; i++) {
    size_t n_txt, n_ids;
    char *txt, *ids;
    qora_tokens want = { 0 }, got = { 0 };
    qora_err err;

    snprintf(path, sizeof path, "tiny-smollm3/prompts/%s.txt", names[i]);
    txt = slurp(vec_path(path), &n_txt);
    snprintf(path, sizeof path, "tiny-smollm3/prompts/%s.ids", names[i]);
    ids = slurp(vec_path(path), &n_ids);
    if (txt && ids) {
      parse_ids(ids, n_ids, &want);
      if (qora_tokenize(tk, txt, n_txt, QORA_TOK_SPECIAL, &got, &err) < 0)
        TAP_DIAG("%s", err.msg);
    }
    TAP_OK(txt && ids && same_ids(&want, &got), "gives llama.cpp's ids for the %s prompt "
           "(%zu ids)", names[i], want.n);
    free(txt);
    free(ids);
    qora_tokens_free(&want);
    qora_tokens_free(&got);
  }
  if (tk)
    TAP_OK(qora_token_is_eog(tk, 461) && qora_token_is_eog(tk, 457) &&
           !qora_token_is_eog(tk, 460) && !qora_token_is_eog(tk, 459),
           "tiny-smollm3 ends generation at <|im_end|> and <|end_of_text|>");
  qora_tokenizer_free(tk);
  gguf_close(f);
}


int main(void) {
  gguf_file *f;
  qora_tokenizer *tk = load("tokenizer/llama3-vocab.gguf", &f);

  if (tk) {
    test_llama3_cases(tk);
    test_llama3_specials(tk);
    test_long_pieces(tk);
  }
  qora_tokenizer_free(tk);
  gguf_close(f);
  test_tiny_prompts();
  return tap_done();
}
