/*
** tok_internal.h: what the tokenizer's files share (internal). tokenizer.c builds and runs
** the tokenizer, tok_table.c holds its hash tables, tok_split.c the pre-tokenizers, bpe.c
** the merging, tok_gguf.c and tok_hf.c read the two file formats into a tok_spec.
*/
#ifndef QORA_TOK_INTERNAL_H
#define QORA_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "qora.h"

/* ------------------------------------------------------------- tables */

/*
** Vocabulary text -> id, open addressing. A slot holds a short text itself (most look-ups are
** of texts of 8 bytes or less) and says where a longer one is, so that a look-up touches one
** cache line, or two for a long text.
*/
#define TOK_INLINE 8

typedef struct tok_slot {
  int32_t id;               /* -1: empty */
  uint32_t len;             /* of the text */
  union {
    char text[TOK_INLINE];  /* len <= TOK_INLINE: the text */
    struct {
      uint32_t off;         /* longer: the text is tk->text[off .. off+len) */
      uint32_t tag;         /* and these are high bits of its hash */
    } far;
  } u;
} tok_slot;

typedef struct tok_strmap {
  tok_slot *slot;
  uint32_t mask;
} tok_strmap;

/* A string to look up, given as two parts (b may be empty) and the hash of both. */
typedef struct tok_key {
  const char *a, *b;
  size_t na, nb;
  uint64_t h;
  uint64_t word;            /* na + nb <= TOK_INLINE: the text as a zero-padded word */
} tok_key;

/* Look-ups and inserts come in batches of up to this many, so that their cache misses overlap. */
#define TOK_BATCH 192

/* A merge: the pair (left id, right id) -> its rank and the id of the joined token. */
typedef struct tok_merge {
  uint64_t key;             /* left << 32 | right; TOK_NO_KEY when the slot is empty */
  int32_t rank;
  int32_t result;
} tok_merge;

#define TOK_NO_KEY UINT64_MAX

typedef struct tok_pairmap {
  tok_merge *slot;
  uint64_t mask;
} tok_pairmap;

/* GPT-2's byte-level alphabet: each byte stands as one printable code point (0..323). */
uint32_t tok_byte_to_cp(unsigned char b);
int tok_cp_to_byte(uint32_t cp);          /* -1 for a code point outside the alphabet */


/* ------------------------------------------------------------ splitting */

/* The steps a pre-tokenizer chain can hold; each one splits the pieces of the last. */
enum tok_step {
  TOK_STEP_LLAMA3 = 1,      /* Llama 3's pattern (llama.cpp: llama-bpe) */
  TOK_STEP_GPT2,            /* GPT-2's pattern (ByteLevel with use_regex) */
  TOK_STEP_DIGITS,          /* every number character alone (Digits individual_digits) */
  TOK_STEP_DIGIT_RUNS       /* runs of number characters (Digits without individual_digits) */
};

#define TOK_MAX_STEPS 8

/* Character classes of the patterns: \p{L}, \p{N}, \s; anything else is "other". */
enum { TOK_CL_L = 1, TOK_CL_N = 2, TOK_CL_S = 4 };

uint8_t tok_class(uint32_t cp);

/*
** Splits cp[0..n) by the steps. ends receives the end index of each piece (ascending, the last
** is n); tmp is scratch of the same size (n + 1 entries each). Returns the piece count.
*/
size_t tok_split(const int *steps, int n_steps, const uint32_t *cp, const uint8_t *cls,
                 size_t n, uint32_t *ends, uint32_t *tmp);

/* --------------------------------------------------------- the tokenizer */

enum { TOK_ATTR_EOG = 1 };

/*
** A node of the trie of the special texts read backwards (tok_special.c). It stands for a
** string that ends some special text; reached at byte i of a text scanned from its end, for
** the longest such string that starts at i.
*/
typedef struct tok_node {
  uint32_t fail;            /* the node of its longest proper prefix that ends a special */
  uint32_t first, n_child;  /* its children: edge[first .. first + n_child), in byte order */
  int32_t any;              /* the longest special text that starts where it is reached: its
                               lowest id (a vocabulary may give a text twice), or -1 */
  int32_t user;             /* the same among USER_DEFINED ids, or -1 */
} tok_node;

typedef struct tok_trie {
  tok_node *node;           /* (n_node) node 0 is the root, the empty string */
  uint32_t *edge;           /* (n_node - 1) the children of each node, by node index */
  unsigned char *edge_byte; /* (n_node - 1) the byte that leads to each */
  uint32_t n_node;
  uint32_t root[256];       /* the root's child by each byte, 0 when none */
} tok_trie;

struct qora_tokenizer {
  int32_t n_vocab;
  char *text;               /* vocabulary texts, each NUL-terminated */
  uint32_t *text_off;       /* (n_vocab + 1): token i is text[text_off[i] .. text_off[i+1]-1) */
  char *bytes;              /* what each token stands for, byte-level decoding undone */
  uint32_t *bytes_off;      /* (n_vocab + 1), as text_off */
  uint8_t *type;            /* (n_vocab) QORA_TOKEN_* */
  uint8_t *attr;            /* (n_vocab) TOK_ATTR_* bits */
  tok_strmap by_text;
  tok_pairmap merges;
  int32_t byte_tok[256];    /* the token of each lone byte, -1 when the vocabulary lacks it */

  int steps[TOK_MAX_STEPS];
  int n_steps;
  int ignore_merges;        /* a piece that is itself a token skips the merges */
  int add_bos;
  int32_t bos, eos, eot, eom;

  tok_trie specials;        /* the texts of CONTROL and USER_DEFINED tokens */

  char *chat_template;      /* NUL-terminated, or NULL */
  size_t chat_template_len;
  char *named;              /* n_named pairs "name\0template\0" (tok_spec.named), or NULL */
  size_t named_len;
  int n_named;
};

/*
** Where a merge's two halves are, given its index (asked for 0, 1, 2, ... in order); returns -1
** with err when it is malformed.
*/
typedef int (*tok_merge_fn)(void *ctx, uint64_t i, gguf_str *left, gguf_str *right,
                            qora_err *err);

/* Everything a file says about its tokenizer, before tables are built. */
typedef struct tok_spec {
  int32_t n_vocab;
  const gguf_str *tokens;   /* (n_vocab) texts as the vocabulary writes them */
  const uint8_t *types;     /* (n_vocab) QORA_TOKEN_*, or NULL when every token is normal */
  uint64_t n_merges;
  tok_merge_fn merge;
  void *merge_ctx;
  int steps[TOK_MAX_STEPS];
  int n_steps;
  int ignore_merges;
  int add_bos;
  int32_t bos, eos, eot, eom;  /* -1 when absent */
  const char *bos_text;     /* when bos is -1: the text of the BOS token, or NULL */
  const char *eos_text;     /* the same for EOS */
  gguf_str chat_template;   /* len 0 when there is none */
  gguf_str named;           /* other named templates, n_named pairs "name\0template\0" */
  int n_named;
  const char *source;       /* names the file or key in error messages */
} tok_spec;

/* The length of token id's text (text_off counts its NUL). */
static inline uint32_t tok_text_len(const qora_tokenizer *tk, int32_t id) {
  return tk->text_off[id + 1] - tk->text_off[id] - 1;
}

/* A CONTROL or USER_DEFINED token: its text written in a text can stand for it. */
static inline int tok_is_special(const qora_tokenizer *tk, int32_t id) {
  return tk->type[id] == QORA_TOKEN_CONTROL || tk->type[id] == QORA_TOKEN_USER_DEFINED;
}

/*
** Bytes of text the special tokens may hold together. The trie takes about 25 bytes per byte
** of it (36 while it is built) and 0.2 to 0.4 us per byte to build, so a made-up vocabulary of
** 50 MB of specials asked 1.8 GB and 19 s; real ones hold a few KB (Llama 3: 6 KB).
*/
#if !defined(TOK_SPECIAL_TEXT_MAX)
#define TOK_SPECIAL_TEXT_MAX (4u << 20)
#endif

/*
** The special tokens' trie (tok_special.c). -1 with err when out of memory or when their texts
** hold more than TOK_SPECIAL_TEXT_MAX bytes (a message that starts with source, as tok_spec's).
*/
int tok_specials_build(qora_tokenizer *tk, const char *source, qora_err *err);
void tok_specials_free(tok_trie *t);

/*
** Sets match[i], for each byte of text[0..n), to the longest special token that starts there
** (any with QORA_TOK_SPECIAL, else only a USER_DEFINED one), or -1. Linear in n.
*/
void tok_specials_find(const qora_tokenizer *tk, const char *text, size_t n, int flags,
                       int32_t *match);

/* Builds a tokenizer from spec. NULL with err on error. */
qora_tokenizer *tok_build(const tok_spec *spec, qora_err *err);

/* Table building and look-ups (tok_table.c). */
int tok_strmap_build(qora_tokenizer *tk, qora_err *err);
int32_t tok_strmap_find(const qora_tokenizer *tk, const char *s, size_t n);
tok_key tok_key_of(const char *a, size_t na, const char *b, size_t nb);
/* Looks up n <= TOK_BATCH keys at once; out[i] is the id of key i or -1. */
void tok_strmap_find_many(const qora_tokenizer *tk, const tok_key *keys, size_t n, int32_t *out);
int tok_pairmap_init(tok_pairmap *m, uint64_t n, qora_err *err);
/* Adds n <= TOK_BATCH merges, except pairs already there (the first rank wins, as in
** llama.cpp). */
void tok_pairmap_add_many(tok_pairmap *m, const tok_merge *e, size_t n);
const tok_merge *tok_pairmap_find(const tok_pairmap *m, int32_t left, int32_t right);
void tok_tables_free(qora_tokenizer *tk);

/* ------------------------------------------------------------------ BPE */

/* Scratch for merging one piece of up to cap bytes (bpe.c). */
typedef struct bpe_scratch {
  int32_t *id, *prev, *next;  /* (cap) the symbols: token id (-1: merged away), links */
  struct bpe_pair *heap;    /* (3 * cap) candidate merges */
  char *enc;                /* (2 * cap) the piece in the byte-level alphabet */
  size_t cap;
} bpe_scratch;

int bpe_scratch_init(bpe_scratch *s, size_t cap);
void bpe_scratch_free(bpe_scratch *s);

/* Appends the ids of the piece w[0..n) (raw bytes) to out. -1 with err on failure. */
int bpe_piece(const qora_tokenizer *tk, const unsigned char *w, size_t n, bpe_scratch *s,
              qora_tokens *out, qora_err *err);

int tok_push(qora_tokens *out, int32_t id, qora_err *err);

#endif
