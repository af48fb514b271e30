/*
** test_tok_utf8.c: streaming UTF-8 assembly and the refusal of text that is not UTF-8.
** Expected replacements follow the Unicode Standard's "U+FFFD substitution of maximal
** subparts" (chapter 3, table 3-8 is the first case below); Python's bytes.decode(errors=
** "replace") applies the same rule and agrees on every case here.
*/
#include <stdint.h>
#include <utf8proc.h>

#include "gguf.h"
#include "tok_util.h"
#include "tokenizer.h"

#define FFFD "\xEF\xBF\xBD"

/* Pushes in[0..n) in chunks of the given size, then flushes; returns the bytes written. */
static size_t stream(const char *in, size_t n, size_t chunk, char *out) {
  qora_utf8 u = { { 0 }, 0 };
  size_t w = 0;

  for (size_t i = 0; i < n; i += chunk) {
    size_t k = n - i < chunk ? n - i : chunk;

    w += qora_utf8_push(&u, in + i, k, out + w, 3 * (k + 4));
  }
  return w + qora_utf8_flush(&u, out + w, 3);
}


/* Checks that every chunking of in gives want. */
static void check(const char *what, const char *in, size_t n, const char *want) {
  char out[256];
  int ok = 1;

  for (size_t chunk = 1; chunk <= n; chunk++) {
    size_t w = stream(in, n, chunk, out);

    if (w != strlen(want) || memcmp(out, want, w) != 0) {
      TAP_DIAG("chunks of %zu: got %zu bytes, want %zu", chunk, w, strlen(want));
      ok = 0;
      break;
    }
  }
  TAP_OK(ok, "%s", what);
}


static void test_stream_cases(void) {
  static const char table38[] = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";

  check("passes ASCII through", "plain text", 10, "plain text");
  check("holds a character cut between pushes until it completes", "caf\xC3\xA9 \xF0\x9F\xA6\x99",
        10, "caf\xC3\xA9 \xF0\x9F\xA6\x99");
  check("replaces maximal subparts as Unicode's table 3-8 does", table38, sizeof table38 - 1,
        "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
  check("replaces an overlong lead and its stray tail", "\xE0\x80", 2, FFFD FFFD);
  check("replaces each byte of an encoded surrogate", "\xED\xA0\x80", 3, FFFD FFFD FFFD);
  check("replaces bytes above U+10FFFF", "\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);
  check("replaces a cut sequence followed by ASCII", "\xC3" "a", 2, FFFD "a");
  check("turns held bytes into U+FFFD at the flush", "ok\xF0\x9F\xA6", 5, "ok" FFFD);
  check("replaces bytes that never start a character", "\xFF\xC0\xC1\xF5", 4,
        FFFD FFFD FFFD FFFD);
}


static void test_stream_limits(void) {
  qora_utf8 u = { { 0 }, 0 };
  char out[16];

  TAP_OK(qora_utf8_push(&u, "\xC3", 1, out, sizeof out) == 0 && u.n_held == 1,
         "writes nothing while a character is incomplete");
  TAP_OK(qora_utf8_push(&u, "abcd", 4, out, 5) == (size_t)-1 && u.n_held == 1,
         "refuses an output buffer smaller than 3 * (n + 1) and consumes nothing");
  TAP_OK(qora_utf8_flush(&u, out, 2) == (size_t)-1 && u.n_held == 1,
         "refuses a flush buffer smaller than 3 bytes");
  TAP_OK(qora_utf8_flush(&u, out, 3) == 3 && memcmp(out, FFFD, 3) == 0 && u.n_held == 0,
         "flushes held bytes as one U+FFFD");
  TAP_OK(qora_utf8_flush(&u, out, 3) == 0, "flushes nothing when nothing is held");
}


/* utf8proc's reading of s[0..n): 1 when every character is valid. */
static int valid_by_utf8proc(const char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                          (utf8proc_ssize_t)(n - i), &cp);

    if (k <= 0)
      return 0;
    i += (size_t)k;
  }
  return 1;
}


/* Random bytes in random chunks never come out as broken UTF-8. */
static void test_stream_random(void) {
  uint64_t x = 0x9E3779B97F4A7C15ull;
  char in[4096], out[3 * 4096 + 16];
  int bad = 0;

  for (int round = 0; round < 200 && !bad; round++) {
    qora_utf8 u = { { 0 }, 0 };
    size_t w = 0;

    for (size_t i = 0; i < sizeof in; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      in[i] = (char)(round % 2 ? (x & 0xFF) : 0x80 | (x & 0x7F));  /* odd rounds: all bytes */
    }
    for (size_t i = 0; i < sizeof in;) {
      size_t k = 1 + (size_t)(x % 7);

      k = k > sizeof in - i ? sizeof in - i : k;
      w += qora_utf8_push(&u, in + i, k, out + w, 3 * (k + 4));
      i += k;
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    }
    w += qora_utf8_flush(&u, out + w, 3);
    bad = !valid_by_utf8proc(out, w);
  }
  TAP_OK(!bad, "never emits invalid UTF-8 for random bytes in random chunks");
}


/* Streams the token bytes of a tokenized text: every chunk whole, the sum the text. */
static void test_stream_tokens(void) {
  static const char text[] = "Zwölf Boxkämpfer 🦙🦙 東京 👩🏽‍💻 مرحبا ok";
  qora_err err = {{0}};
  gguf_file *f = gguf_open(vec_path("tokenizer/llama3-vocab.gguf"), &err);
  qora_tokenizer *tk = f ? qora_tokenizer_from_gguf(f, &err) : NULL;
  qora_tokens ids = { 0 };
  qora_utf8 u = { { 0 }, 0 };
  char out[512];
  size_t w = 0, split = 0;
  int whole = 1;

  if (!TAP_OK(tk && qora_tokenize(tk, text, sizeof text - 1, 0, &ids, &err) == 0,
              "tokenizes a text with multi-byte characters"))
    TAP_DIAG("%s", err.msg);
  for (size_t i = 0; tk && i < ids.n; i++) {
    size_t n, k;
    const char *b = qora_token_bytes(tk, ids.ids[i], &n);

    k = qora_utf8_push(&u, b, n, out + w, sizeof out - w);
    whole &= valid_by_utf8proc(out + w, k);
    split += k != n;
    w += k;
  }
  w += qora_utf8_flush(&u, out + w, sizeof out - w);
  TAP_OK(whole && w == sizeof text - 1 && memcmp(out, text, w) == 0 && split > 0,
         "streams token bytes as whole characters only (%zu tokens held bytes back)", split);
  qora_tokens_free(&ids);
  qora_tokenizer_free(tk);
  gguf_close(f);
}


static void test_invalid_text(void) {
  static const struct { const char *text; size_t n; const char *at; } bad[] = {
    { "abc\xFF", 4, "byte 4 " },          /* counted from 1, as Lua counts */
    { "caf\xC3", 4, "byte 4 " },
    { "\xC0\x80", 2, "byte 1 " },
    { "ok \xED\xA0\x80", 6, "byte 4 " },
    { "x\xF4\x90\x80\x80", 5, "byte 2 " },
    { "\xE2\x82", 2, "byte 1 " },
  };
  qora_err err = {{0}};
  gguf_file *f = gguf_open(vec_path("tokenizer/llama3-vocab.gguf"), &err);
  qora_tokenizer *tk = f ? qora_tokenizer_from_gguf(f, &err) : NULL;
  qora_tokens ids = { 0 };

  for (size_t i = 0; tk && i < sizeof bad / sizeof bad[0]; i++) {
    int rc = qora_tokenize(tk, bad[i].text, bad[i].n, 0, &ids, &err);

    TAP_OK(rc == -1 && ids.n == 0 && strstr(err.msg, "UTF-8") && strstr(err.msg, bad[i].at),
           "refuses invalid UTF-8 case %zu at its %s: %s", i, bad[i].at, err.msg);
  }
  TAP_OK(tk && qora_tokenize(tk, "a\0b", 3, 0, &ids, &err) == 0 && ids.n == 3,
         "accepts a NUL character inside the text");
  qora_tokens_free(&ids);
  qora_tokenizer_free(tk);
  gguf_close(f);
}


int main(void) {
  test_stream_cases();
  test_stream_limits();
  test_stream_random();
  test_stream_tokens();
  test_invalid_text();
  return tap_done();
}
