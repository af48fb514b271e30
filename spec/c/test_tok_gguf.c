/*
** test_tok_gguf.c: tokenizers read from small GGUF images made here: special tokens, BOS and
** end-of-generation rules, and every kind of damaged metadata, which must be refused with a
** message that names it.
*/
#include "gguf.h"
#include "tok_gguf_build.h"
#include "tok_json_gen.h"
#include "tok_util.h"
#include "tokenizer.h"

#include <utf8proc.h>

/* What to change in the base vocabulary. */
enum variant {
  GOOD, BAD_MODEL, BAD_PRE, NO_PRE, NO_TOKENS, INT_TOKENS, SHORT_TYPES, BAD_TYPE,
  UNKNOWN_MERGE, SPACELESS_MERGE, ORPHAN_MERGE, EMPTY_TOKEN, BAD_BOS, NO_BOS_ID, NO_MERGES,
  STRING_EOS, SPLIT_UTF8_SPECIAL, N_VARIANTS
};

#define N_TOK 262

/* 256 byte tokens (id = byte), "ab", "abc", then four specials. */
static unsigned char *image(enum variant v, size_t *n) {
  static char bytes[256][4];
  const char *tok[N_TOK];
  size_t len[N_TOK];
  int32_t type[N_TOK];
  const char *merges[] = { "a b", "ab c", v == UNKNOWN_MERGE ? "a zz" :
                           v == SPACELESS_MERGE ? "abc" : v == ORPHAN_MERGE ? "a c" : "a b" };
  gbuf b = { 0 };

  for (int i = 0; i < 256; i++) {
    len[i] = (size_t)utf8proc_encode_char((utf8proc_int32_t)gen_byte_cp((unsigned char)i),
                                          (utf8proc_uint8_t *)bytes[i]);
    tok[i] = bytes[i];
  }
  tok[256] = "ab", tok[257] = "abc", tok[258] = "<s>", tok[259] = "<u>", tok[260] = "<uu>",
  tok[261] = "<|im_end|>";
  for (int i = 256; i < N_TOK; i++)
    len[i] = strlen(tok[i]);
  if (v == EMPTY_TOKEN)
    len[100] = 0;
  if (v == SPLIT_UTF8_SPECIAL)   /* found by fuzz_gguf: it matched the first byte of "é" */
    tok[261] = "<|im_end|> \xc3", len[261] = strlen(tok[261]);
  for (int i = 0; i < N_TOK; i++)
    type[i] = i == 258 || i == 261 ? QORA_TOKEN_CONTROL : i == 259 || i == 260 ?
              QORA_TOKEN_USER_DEFINED : QORA_TOKEN_NORMAL;
  if (v == BAD_TYPE)
    type[7] = 42;

  gb_str(&b, "general.architecture", "llama");
  gb_str(&b, "tokenizer.ggml.model", v == BAD_MODEL ? "llama" : "gpt2");
  if (v != NO_PRE)
    gb_str(&b, "tokenizer.ggml.pre", v == BAD_PRE ? "qwen2" : "gpt-2");
  if (v == INT_TOKENS)
    gb_i32s(&b, "tokenizer.ggml.tokens", type, N_TOK);
  else if (v != NO_TOKENS)
    gb_strs(&b, "tokenizer.ggml.tokens", tok, len, N_TOK);
  gb_i32s(&b, "tokenizer.ggml.token_type", type, v == SHORT_TYPES ? N_TOK - 1 : N_TOK);
  if (v != NO_MERGES)
    gb_strs(&b, "tokenizer.ggml.merges", merges, NULL, 3);
  if (v != NO_BOS_ID)
    gb_u32(&b, "tokenizer.ggml.bos_token_id", v == BAD_BOS ? 99999 : 258);
  if (v == STRING_EOS)
    gb_str(&b, "tokenizer.ggml.eos_token_id", "2");
  gb_bool(&b, "tokenizer.ggml.add_bos_token", 1);
  unsigned char *img = gb_image(&b, n);
  free(b.p);
  return img;
}


static qora_tokenizer *open_variant(enum variant v, gguf_file **f, unsigned char **img,
                                    qora_err *err) {
  size_t n;

  *img = image(v, &n);
  *f = gguf_open_memory(*img, n, err);
  return *f ? qora_tokenizer_from_gguf(*f, err) : NULL;
}


/* Tokenizes text and compares with want[0..n_want). */
static int gives(const qora_tokenizer *tk, const char *text, int flags, const int32_t *want,
                 size_t n_want) {
  qora_tokens got = { 0 }, w = { (int32_t *)want, n_want, n_want };
  qora_err err;
  int ok = qora_tokenize(tk, text, strlen(text), flags, &got, &err) == 0 && same_ids(&w, &got);

  qora_tokens_free(&got);
  return ok;
}


static void test_rules(void) {
  gguf_file *f;
  unsigned char *img;
  qora_err err = {{0}};
  qora_tokenizer *tk = open_variant(GOOD, &f, &img, &err);

  if (!TAP_OK(tk != NULL, "builds a tokenizer from a small GGUF image")) {
    TAP_DIAG("%s", err.msg);
    return;
  }
  TAP_OK(gives(tk, "abc", 0, (int32_t[]){ 257 }, 1) &&
         gives(tk, "abd", 0, (int32_t[]){ 256, 'd' }, 2),
         "merges by rank: abc -> abc, abd -> ab d");
  TAP_OK(gives(tk, "ab", QORA_TOK_BOS, (int32_t[]){ 258, 256 }, 2) &&
         gives(tk, "ab", 0, (int32_t[]){ 256 }, 1),
         "prepends BOS only when asked and the vocabulary says add_bos_token");
  TAP_OK(gives(tk, "x<u>", 0, (int32_t[]){ 'x', 259 }, 2),
         "matches a user-defined token without QORA_TOK_SPECIAL");
  TAP_OK(gives(tk, "<s>", 0, (int32_t[]){ '<', 's', '>' }, 3) &&
         gives(tk, "<s>", QORA_TOK_SPECIAL, (int32_t[]){ 258 }, 1),
         "matches a control token only with QORA_TOK_SPECIAL");
  TAP_OK(gives(tk, "<uu><u>", 0, (int32_t[]){ 260, 259 }, 2),
         "prefers the longest special token at a position");
  TAP_OK(qora_token_is_eog(tk, 261) && !qora_token_is_eog(tk, 258) &&
         qora_token_eos(tk) == -1, "finds the end of turn by its text, with no EOS id given");
  size_t n;
  const char *b = qora_token_bytes(tk, ' ', &n);
  TAP_OK(b && n == 1 && b[0] == ' ' && qora_token_bytes(tk, N_TOK, &n) == NULL &&
         qora_token_text(tk, -1, &n) == NULL && qora_token_type(tk, N_TOK) == 0,
         "decodes byte tokens and answers NULL or 0 for ids outside the vocabulary");
  qora_tokenizer_free(tk);
  gguf_close(f);
  free(img);
}


static void test_refusals(void) {
  static const struct { enum variant v; const char *says; } cases[] = {
    { BAD_MODEL, "'llama'" }, { BAD_PRE, "'qwen2'" }, { NO_PRE, "tokenizer.ggml.pre" },
    { NO_TOKENS, "tokenizer.ggml.tokens" }, { INT_TOKENS, "array of strings" },
    { SHORT_TYPES, "token_type" }, { BAD_TYPE, "token_type[7] is 42" },
    { UNKNOWN_MERGE, "merge 2 ('a' 'zz')" }, { SPACELESS_MERGE, "merges[2] ('abc')" },
    { ORPHAN_MERGE, "makes a token" }, { EMPTY_TOKEN, "token 100 is empty" },
    { BAD_BOS, "99999" }, { NO_BOS_ID, "no BOS id" }, { NO_MERGES, "tokenizer.ggml.merges" },
    { STRING_EOS, "eos_token_id" },
    { SPLIT_UTF8_SPECIAL, "special token 261 ('<|im_end|> \xc3') is not valid UTF-8" },
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    gguf_file *f;
    unsigned char *img;
    qora_err err = {{0}};
    qora_tokenizer *tk = open_variant(cases[i].v, &f, &img, &err);

    TAP_OK(f != NULL && tk == NULL && strstr(err.msg, cases[i].says),
           "refuses damaged metadata %d, saying %s: %s", cases[i].v, cases[i].says, err.msg);
    qora_tokenizer_free(tk);
    gguf_close(f);
    free(img);
  }
}


/* ------------------------------------------------------- many special tokens */

/* The 256 byte tokens, id = byte, NORMAL, their texts written in bytes. */
static void byte_tokens(char bytes[256][4], const char **tok, size_t *len, int32_t *type) {
  for (int i = 0; i < 256; i++) {
    len[i] = (size_t)utf8proc_encode_char((utf8proc_int32_t)gen_byte_cp((unsigned char)i),
                                          (utf8proc_uint8_t *)bytes[i]);
    tok[i] = bytes[i];
    type[i] = QORA_TOKEN_NORMAL;
  }
}


/* A GPT-2 style vocabulary of n tokens without merges: plain text is one token a byte. */
static unsigned char *vocab_image(const char **tok, const size_t *len, const int32_t *type,
                                  int n, size_t *size) {
  gbuf b = { 0 };
  unsigned char *img;

  gb_str(&b, "tokenizer.ggml.model", "gpt2");
  gb_str(&b, "tokenizer.ggml.pre", "gpt-2");
  gb_strs(&b, "tokenizer.ggml.tokens", tok, len, n);
  gb_i32s(&b, "tokenizer.ggml.token_type", type, n);
  gb_strs(&b, "tokenizer.ggml.merges", NULL, NULL, 0);
  img = gb_image(&b, size);
  free(b.p);
  return img;
}


#define N_SPECIAL 50000
#define SP(i) (256 + (i))           /* "<s%05d>": CONTROL for even i, USER_DEFINED for odd */
#define LT (256 + N_SPECIAL)        /* "<", USER_DEFINED: begins every other special */
#define S1 (LT + 1)                 /* "<s1", CONTROL: begins 11,111 of the "<s%05d>" */
#define S12345X (LT + 2)            /* "<s12345>x", USER_DEFINED: one longer than SP(12345) */
#define D_CTL (LT + 3)              /* "<d>", CONTROL */
#define D_USER (LT + 4)             /* "<d>" again, USER_DEFINED */
#define LT3 (LT + 5)                /* "<<<", CONTROL */
#define D_USER2 (LT + 6)            /* "<d>" a third time, USER_DEFINED: never chosen */
#define N_MANY (LT + 7)

/*
** 256 byte tokens (id = byte), then N_SPECIAL specials and seven more that begin, extend or
** repeat them, all starting with '<'; no merges, so plain text becomes one token a byte.
*/
static unsigned char *many_specials_image(size_t *n) {
  static char bytes[256][4], names[N_SPECIAL][8];
  static const char *tok[N_MANY];
  static size_t len[N_MANY];
  static int32_t type[N_MANY];
  static const char *const extra[] = { "<", "<s1", "<s12345>x", "<d>", "<d>", "<<<", "<d>" };
  static const int32_t extra_type[] = { QORA_TOKEN_USER_DEFINED, QORA_TOKEN_CONTROL,
                                        QORA_TOKEN_USER_DEFINED, QORA_TOKEN_CONTROL,
                                        QORA_TOKEN_USER_DEFINED, QORA_TOKEN_CONTROL,
                                        QORA_TOKEN_USER_DEFINED };

  byte_tokens(bytes, tok, len, type);
  for (int i = 0; i < N_SPECIAL; i++) {
    memcpy(names[i], "<s", 2);
    for (int d = 0, v = i; d < 5; d++, v /= 10)
      names[i][6 - d] = (char)('0' + v % 10);
    names[i][7] = '>';
    tok[SP(i)] = names[i], len[SP(i)] = 8;
    type[SP(i)] = i % 2 ? QORA_TOKEN_USER_DEFINED : QORA_TOKEN_CONTROL;
  }
  for (int i = 0; i < N_MANY - LT; i++)
    tok[LT + i] = extra[i], len[LT + i] = strlen(extra[i]), type[LT + i] = extra_type[i];
  return vocab_image(tok, len, type, N_MANY, n);
}


/* Tokenizes text and compares with want[0..n_want), printing the first difference. */
#define GIVES(tk, text, flags, ...) \
  gives(tk, text, flags, (int32_t[]){ __VA_ARGS__ }, \
        sizeof (int32_t[]){ __VA_ARGS__ } / sizeof (int32_t))

/*
** Special tokens are matched at each position, the longest first, among however many share
** their first bytes; the expected ids follow from the construction above. Matching tried each
** of the 50,006 specials that start with '<' at every '<' of a text.
*/
static void test_many_specials(void) {
  static const char text[] = "<s00000><s49999><s12345>x<s12345><s1<s1x<<<<<d>";
  enum { N_LT = 10000 };                   /* 3333 times "<<<", then one "<" */
  size_t n;
  unsigned char *img = many_specials_image(&n);
  qora_err err = {{0}};
  gguf_file *f = gguf_open_memory(img, n, &err);
  qora_tokenizer *tk = f ? qora_tokenizer_from_gguf(f, &err) : NULL;
  char *lts = malloc(N_LT + 1);
  int32_t *lt = malloc(N_LT * sizeof *lt), *lt3 = malloc((N_LT / 3 + 1) * sizeof *lt3);

  if (!TAP_OK(tk != NULL, "builds a vocabulary of %d specials that start with '<': %s",
              N_MANY - 256, tk ? "" : err.msg))
    goto done;
  TAP_OK(GIVES(tk, text, QORA_TOK_SPECIAL, SP(0), SP(49999), S12345X, SP(12345), S1, S1, 'x',
               LT3, LT, D_CTL),
         "with QORA_TOK_SPECIAL: each longest match, the first of two tokens of one text");
  TAP_OK(GIVES(tk, text, 0, LT, 's', '0', '0', '0', '0', '0', '>', SP(49999), S12345X,
               SP(12345), LT, 's', '1', LT, 's', '1', 'x', LT, LT, LT, LT, D_USER),
         "without: the longest user-defined match, the first user-defined one of three of one "
         "text");
  memset(lts, '<', N_LT);
  lts[N_LT] = '\0';
  for (int i = 0; i < N_LT; i++)
    lt[i] = LT;
  for (int i = 0; i < N_LT / 3; i++)
    lt3[i] = LT3;
  lt3[N_LT / 3] = LT;
  TAP_OK(gives(tk, lts, QORA_TOK_SPECIAL, lt3, N_LT / 3 + 1),
         "%d '<' give %d <<< and one < with QORA_TOK_SPECIAL", N_LT, N_LT / 3);
  TAP_OK(gives(tk, lts, 0, lt, N_LT), "%d '<' give %d < without", N_LT, N_LT);
done:
  qora_tokenizer_free(tk);
  gguf_close(f);
  free(img);
  free(lts);
  free(lt);
  free(lt3);
}


/* ---------------------------------------------------------- a hostile text */

#define LONG_LEN 4096               /* the length of the special a run of 'a' keeps matching */
#define N_HOSTILE (256 + 6)

/*
** 256 byte tokens (id = byte), then specials that overlap at both ends: 256 "a" x 4095 + "b"
** (CONTROL), 257 "ab" (USER_DEFINED, which ends it), 258 "a" x 64 + "x" (USER_DEFINED), 259
** "aac" (CONTROL), 260 and 261 "ba" (CONTROL, then USER_DEFINED). No merges: plain text
** becomes one token a byte.
*/
static unsigned char *hostile_image(size_t *n, char **texts, size_t *lens) {
  static char bytes[256][4];
  const char *tok[N_HOSTILE];
  size_t len[N_HOSTILE];
  int32_t type[N_HOSTILE];
  static const int32_t sp_type[] = { QORA_TOKEN_CONTROL, QORA_TOKEN_USER_DEFINED,
                                     QORA_TOKEN_USER_DEFINED, QORA_TOKEN_CONTROL,
                                     QORA_TOKEN_CONTROL, QORA_TOKEN_USER_DEFINED };

  byte_tokens(bytes, tok, len, type);
  memset(texts[0], 'a', LONG_LEN - 1);
  texts[0][LONG_LEN - 1] = 'b', lens[0] = LONG_LEN;
  memcpy(texts[1], "ab", 2), lens[1] = 2;
  memset(texts[2], 'a', 64);
  texts[2][64] = 'x', lens[2] = 65;
  memcpy(texts[3], "aac", 3), lens[3] = 3;
  memcpy(texts[4], "ba", 2), lens[4] = 2;
  memcpy(texts[5], "ba", 2), lens[5] = 2;
  for (int i = 0; i < 6; i++)
    tok[256 + i] = texts[i], len[256 + i] = lens[i], type[256 + i] = sp_type[i];
  return vocab_image(tok, len, type, N_HOSTILE, n);
}


/*
** The ids the rules give, the slow and plain way: at each byte, every special the flags allow
** is compared there, and the longest wins (the lowest id of one text); a byte no special
** starts at is its own token.
*/
static void reference_ids(const char *text, size_t n, char **texts, const size_t *lens,
                          int flags, qora_tokens *out) {
  out->n = 0;
  for (size_t i = 0; i < n;) {
    int32_t best = -1;
    size_t best_len = 0;

    for (int k = 0; k < 6; k++) {
      int allowed = (flags & QORA_TOK_SPECIAL) || k == 1 || k == 2 || k == 5;  /* user */

      if (allowed && lens[k] > best_len && lens[k] <= n - i &&
          memcmp(text + i, texts[k], lens[k]) == 0)
        best = 256 + k, best_len = lens[k];
    }
    if (out->n == out->cap) {
      out->cap = out->cap ? 2 * out->cap : 1024;
      out->ids = realloc(out->ids, out->cap * sizeof *out->ids);
    }
    out->ids[out->n++] = best >= 0 ? best : (unsigned char)text[i];
    i += best >= 0 ? best_len : 1;
  }
}


/* n bytes of runs of 'a' (mostly 4095 long or near it, some shorter), each ended otherwise. */
static char *hostile_text(size_t n) {
  static const size_t runs[] = { 4095, 4094, 4096, 5000, 64, 63, 1, 3000 };
  static const char *const ends[] = { "b", "b", "c", "x", " ", "bb" };
  char *t = malloc(n);
  uint32_t r = 12345;
  size_t i = 0;

  while (i < n) {
    size_t run;

    r = r * 1103515245u + 12345u;
    run = runs[(r >> 16) % 8];
    for (size_t k = 0; k < run && i < n; k++)
      t[i++] = 'a';
    for (const char *e = ends[(r >> 8) % 6]; *e && i < n; e++)
      t[i++] = *e;
  }
  return t;
}


/* 1 when every id of the flags' specials (USER_DEFINED ones only without QORA_TOK_SPECIAL, the
** first of the two "ba" only with it) is among ids: the text tries each of them. */
static int has_each_special(const qora_tokens *ids, int flags) {
  static const int32_t user[] = { 257, 258, 261 }, all[] = { 256, 257, 258, 259, 260 };
  const int32_t *want = flags ? all : user;
  size_t n_want = flags ? 5 : 3;

  for (size_t k = 0; k < n_want; k++) {
    size_t i = 0;

    while (i < ids->n && ids->ids[i] != want[k])
      i++;
    if (i == ids->n) {
      TAP_DIAG("the reference ids have no %d", want[k]);
      return 0;
    }
  }
  return 1;
}


/*
** Matching walked, at each byte, as far as the text went on matching a special: a text of
** 'a' against "a" x 4095 + "b" cost its length times 4096 (12 s for 1 MB here). The ids must
** be those of the rules, whatever the matcher.
*/
static void test_hostile_text(void) {
  enum { N = 1 << 16 };
  char *texts[6], *text = hostile_text(N);
  size_t lens[6], n;
  qora_err err = {{0}};
  unsigned char *img;
  gguf_file *f;
  qora_tokenizer *tk;

  for (int k = 0; k < 6; k++)
    texts[k] = malloc(LONG_LEN);
  img = hostile_image(&n, texts, lens);
  f = gguf_open_memory(img, n, &err);
  tk = f ? qora_tokenizer_from_gguf(f, &err) : NULL;
  if (TAP_OK(tk != NULL, "builds a vocabulary with a special of %d bytes: %s", LONG_LEN,
             tk ? "" : err.msg)) {
    for (int special = 0; special < 2; special++) {
      int flags = special ? QORA_TOK_SPECIAL : 0;
      qora_tokens want = { 0 }, got = { 0 };

      reference_ids(text, N, texts, lens, flags, &want);
      TAP_OK(has_each_special(&want, flags) &&
             qora_tokenize(tk, text, N, flags, &got, &err) == 0 && same_ids(&want, &got),
             "64 KB of runs of 'a' that mostly stop short of the long special give the ids of "
             "a plain comparison at each byte (%zu ids, %s QORA_TOK_SPECIAL)", want.n,
             special ? "with" : "without");
      qora_tokens_free(&want);
      qora_tokens_free(&got);
    }
  }
  qora_tokenizer_free(tk);
  gguf_close(f);
  free(img);
  free(text);
  for (int k = 0; k < 6; k++)
    free(texts[k]);
}


/*
** Special tokens holding more text together than TOK_SPECIAL_TEXT_MAX (4 MiB): two CONTROL
** tokens of 2 MiB + 1 bytes each. The trie of a made-up vocabulary of 50 MB of them asked
** 1.8 GB; such a file is refused with a message that says why.
*/
static void test_too_much_special_text(void) {
  enum { HALF = (2 << 20) + 1, N = 258 };
  static char bytes[256][4];
  const char *tok[N];
  size_t len[N], n;
  int32_t type[N];
  static const char want[] = "GGUF vocabulary: 2 special and user-defined tokens hold "
                             "4194306 bytes of text, more than qora reads";
  char *big[2] = { malloc(HALF), malloc(HALF) };
  qora_err err = {{0}};

  byte_tokens(bytes, tok, len, type);
  for (int k = 0; k < 2; k++) {
    memset(big[k], 'a' + k, HALF);
    tok[256 + k] = big[k], len[256 + k] = HALF, type[256 + k] = QORA_TOKEN_CONTROL;
  }
  unsigned char *img = vocab_image(tok, len, type, N, &n);
  gguf_file *f = gguf_open_memory(img, n, &err);
  qora_tokenizer *tk = f ? qora_tokenizer_from_gguf(f, &err) : NULL;

  /* began "the vocabulary's", without the "GGUF vocabulary: " of its neighbours in build */
  TAP_OK(f != NULL && tk == NULL && strncmp(err.msg, want, strlen(want)) == 0,
         "refuses special tokens of 4 MiB + 2 bytes of text in all, saying so: %s",
         tk ? "(loaded)" : err.msg);
  qora_tokenizer_free(tk);
  gguf_close(f);
  free(img);
  free(big[0]);
  free(big[1]);
}


/* ---------------------------------------------------------- unused tokens */

#define N_PADDED 258                /* 256 byte tokens, then "[PAD256]" and "[PAD257]" */

/*
** Padded embedding rows, as llama.cpp's converter writes them: unused "[PAD<id>]" tokens. Its
** token_to_piece writes nothing for an UNUSED token (special or not), and tokenizers' decode
** skips an id past its vocabulary, so the token stands for no bytes; its text still names it.
*/
static void test_unused_tokens(void) {
  static char bytes[256][4];
  const char *tok[N_PADDED];
  size_t len[N_PADDED], n, size;
  int32_t type[N_PADDED];
  qora_err err = {{0}};
  gguf_file *f;
  qora_tokenizer *tk;
  unsigned char *img;
  const char *b;

  byte_tokens(bytes, tok, len, type);
  tok[256] = "[PAD256]", tok[257] = "[PAD257]";
  for (int i = 256; i < N_PADDED; i++)
    len[i] = strlen(tok[i]), type[i] = QORA_TOKEN_UNUSED;
  img = vocab_image(tok, len, type, N_PADDED, &size);
  f = gguf_open_memory(img, size, &err);
  tk = f ? qora_tokenizer_from_gguf(f, &err) : NULL;
  if (!TAP_OK(tk != NULL, "reads a vocabulary with unused tokens"))
    TAP_DIAG("%s", err.msg);
  b = tk ? qora_token_bytes(tk, 257, &n) : NULL;
  TAP_OK(b != NULL && n == 0 && b[0] == '\0', "an unused token stands for no bytes (got %zu)",
         b ? n : (size_t)0);
  b = tk ? qora_token_text(tk, 256, &n) : NULL;
  TAP_OK(b && n == 8 && memcmp(b, "[PAD256]", 8) == 0 &&
         qora_token_type(tk, 256) == QORA_TOKEN_UNUSED &&
         qora_token_find(tk, "[PAD257]", 8) == 257 && !qora_token_is_eog(tk, 257),
         "keeps its text and type, and finds it by its text");
  TAP_OK(tk && gives(tk, "[PAD256]", QORA_TOK_SPECIAL,
                     (int32_t[]){ '[', 'P', 'A', 'D', '2', '5', '6', ']' }, 8),
         "does not read its text in a text as the token");
  qora_tokenizer_free(tk);
  gguf_close(f);
  free(img);
}


int main(void) {
  test_rules();
  test_refusals();
  test_many_specials();
  test_hostile_text();
  test_too_much_special_text();
  test_unused_tokens();
  return tap_done();
}
