/*
** tok_table.c: the tokenizer's hash tables. Vocabulary text -> id, and merge pair -> rank;
** both open addressing with linear probing, sized once, so building them allocates a few
** large blocks and nothing per token.
*/
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)1 << 21)

/*
** Tables of a few megabytes are read at random while they are built and used: on 2 MB pages
** the look-ups stop missing the TLB, which roughly halves the time to build them.
*/
static void *table_alloc(size_t n) {
  void *p;

  if (n < HUGE_PAGE)
    return malloc(n);
  n = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  p = aligned_alloc(HUGE_PAGE, n);
#ifdef MADV_HUGEPAGE
  if (p != NULL)
    madvise(p, n, MADV_HUGEPAGE);
#endif
  return p;
}

#include "err.h"
#include "tok_internal.h"

uint32_t tok_byte_to_cp(unsigned char b) {
  if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
    return b;
  if (b <= 0x20)
    return 256u + b;                  /* 0x00..0x20 -> 256..288 */
  if (b <= 0xA0)
    return 256u + 33 + (b - 0x7Fu);   /* 0x7F..0xA0 -> 289..322 */
  return 256u + 67;                   /* 0xAD -> 323 */
}


int tok_cp_to_byte(uint32_t cp) {
  if (cp < 256)
    return tok_byte_to_cp((unsigned char)cp) == cp ? (int)cp : -1;
  if (cp <= 256 + 32)
    return (int)(cp - 256);
  if (cp <= 256 + 66)
    return (int)(cp - 256 - 33 + 0x7F);
  if (cp == 256 + 67)
    return 0xAD;
  return -1;
}


/*
** A word-at-a-time hash of a string seen as little-endian 8-byte words, the last one padded
** with zeros: each full word is multiplied in, then the padded tail, then the length, and a
** final mix spreads every bit to the low bits used as the index. Keys come in two parts ("a"
** then "b" hashes as "ab"): short ones are joined in a zeroed buffer, long ones streamed.
*/
static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}


static uint64_t take(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0x9E3779B97F4A7C15ull;
  return h ^ (h >> 29);
}


#define SEED 0x243F6A8885A308D3ull

static uint64_t finish(uint64_t h, uint64_t tail, size_t len) {
  return mix(take(h, tail) ^ len);
}


/* The streamed form, for keys longer than the joining buffer. */
static uint64_t hash_long(const char *a, size_t na, const char *b, size_t nb) {
  uint64_t h = SEED, w = 0;
  unsigned k = 0;               /* bytes in w */

  for (size_t part = 0; part < 2; part++) {
    const unsigned char *p = (const unsigned char *)(part ? b : a);
    size_t n = part ? nb : na;

    for (size_t i = 0; i < n; i++) {
      w |= (uint64_t)p[i] << (8 * k);
      if (++k == 8) {
        h = take(h, w);
        w = 0;
        k = 0;
      }
    }
  }
  return finish(h, w, na + nb);
}


tok_key tok_key_of(const char *a, size_t na, const char *b, size_t nb) {
  uint64_t buf[9] = { 0 }, h = SEED;
  size_t len = na + nb, i;

  if (len > 64)
    return (tok_key){ a, b, na, nb, hash_long(a, na, b, nb) };
  memcpy(buf, a, na);
  memcpy((char *)buf + na, b, nb);
  for (i = 0; i < len / 8; i++)
    h = take(h, buf[i]);        /* little-endian: the word's first byte is its low byte */
  return (tok_key){ a, b, na, nb, finish(h, buf[i], len) };
}


/* ---------------------------------------------------------- text -> id */

/* Short texts are compared inline: a call to memcmp costs more than the bytes. */
static int same(const char *x, const char *y, size_t n) {
  if (n > 16)
    return memcmp(x, y, n) == 0;
  for (size_t i = 0; i < n; i++)
    if (x[i] != y[i])
      return 0;
  return 1;
}


static int key_is(const qora_tokenizer *tk, const tok_slot *s, const tok_key *k) {
  const char *t = tk->text + s->off;

  return s->tag == (uint32_t)(k->h >> 32) && s->len == k->na + k->nb &&
         same(t, k->a, k->na) && same(t + k->na, k->b, k->nb);
}


/* The slot holding key k, or the empty slot where it would go. */
static uint32_t probe(const qora_tokenizer *tk, const tok_key *k) {
  const tok_strmap *m = &tk->by_text;
  uint32_t i = (uint32_t)k->h & m->mask;

  while (m->slot[i].id >= 0 && !key_is(tk, &m->slot[i], k))
    i = (i + 1) & m->mask;
  return i;
}


int tok_strmap_build(qora_tokenizer *tk, qora_err *err) {
  tok_strmap *m = &tk->by_text;
  uint32_t cap = 16;
  tok_key keys[TOK_BATCH];

  while (cap < 2u * (uint32_t)tk->n_vocab)
    cap *= 2;
  m->slot = table_alloc(cap * sizeof *m->slot);
  if (m->slot == NULL)
    return qora_fail(err, "out of memory for a vocabulary of %d tokens", tk->n_vocab);
  for (uint32_t i = 0; i < cap; i++)
    m->slot[i].id = -1;
  m->mask = cap - 1;

  for (int32_t base = 0; base < tk->n_vocab; base += TOK_BATCH) {
    int32_t n = tk->n_vocab - base < TOK_BATCH ? tk->n_vocab - base : TOK_BATCH;

    for (int32_t j = 0; j < n; j++) {
      uint32_t off = tk->text_off[base + j];

      keys[j] = tok_key_of(tk->text + off, tk->text_off[base + j + 1] - off - 1, "", 0);
      __builtin_prefetch(&m->slot[(uint32_t)keys[j].h & m->mask], 1);
    }
    for (int32_t j = 0; j < n; j++) {
      tok_slot *s = &m->slot[probe(tk, &keys[j])];

      if (s->id >= 0)
        continue;                   /* a duplicate text: the first id keeps it */
      *s = (tok_slot){ (uint32_t)(keys[j].h >> 32), base + j,
                       (uint32_t)(keys[j].a - tk->text), (uint32_t)keys[j].na };
    }
  }
  return 0;
}


int32_t tok_strmap_find(const qora_tokenizer *tk, const char *s, size_t n) {
  tok_key k = tok_key_of(s, n, "", 0);

  return tk->by_text.slot[probe(tk, &k)].id;
}


/*
** Three passes: fetch every key's first slot, then the text of the slot each key lands on,
** then compare. The misses of a pass overlap instead of following one another.
*/
void tok_strmap_find_many(const qora_tokenizer *tk, const tok_key *keys, size_t n, int32_t *out) {
  const tok_strmap *m = &tk->by_text;

  for (size_t j = 0; j < n; j++)
    __builtin_prefetch(&m->slot[(uint32_t)keys[j].h & m->mask]);
  for (size_t j = 0; j < n; j++) {
    const tok_slot *s = &m->slot[(uint32_t)keys[j].h & m->mask];

    if (s->id >= 0)
      __builtin_prefetch(tk->text + s->off);
  }
  for (size_t j = 0; j < n; j++)
    out[j] = m->slot[probe(tk, &keys[j])].id;
}


/* ------------------------------------------------------- pair -> merge */

static uint64_t pair_key(int32_t left, int32_t right) {
  return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}


static uint64_t pair_slot(uint64_t key, uint64_t mask) {
  return mix(key * 0x9E3779B97F4A7C15ull) & mask;
}


int tok_pairmap_init(tok_pairmap *m, uint64_t n, qora_err *err) {
  uint64_t cap = 16;

  while (cap < n + n / 2 + 1)
    cap *= 2;
  m->slot = table_alloc(cap * sizeof *m->slot);
  if (m->slot == NULL)
    return qora_fail(err, "out of memory for %llu merges", (unsigned long long)n);
  for (uint64_t i = 0; i < cap; i++)
    m->slot[i].key = TOK_NO_KEY;
  m->mask = cap - 1;
  return 0;
}


/* Each merge's key carries the pair; rank and result ride along. */
void tok_pairmap_add_many(tok_pairmap *m, const tok_merge *e, size_t n) {
  for (size_t j = 0; j < n; j++)
    __builtin_prefetch(&m->slot[pair_slot(e[j].key, m->mask)], 1);
  for (size_t j = 0; j < n; j++) {
    uint64_t i = pair_slot(e[j].key, m->mask);

    while (m->slot[i].key != TOK_NO_KEY && m->slot[i].key != e[j].key)
      i = (i + 1) & m->mask;
    if (m->slot[i].key == TOK_NO_KEY)
      m->slot[i] = e[j];
  }
}


const tok_merge *tok_pairmap_find(const tok_pairmap *m, int32_t left, int32_t right) {
  uint64_t key = pair_key(left, right);

  for (uint64_t i = pair_slot(key, m->mask);; i = (i + 1) & m->mask) {
    if (m->slot[i].key == key)
      return &m->slot[i];
    if (m->slot[i].key == TOK_NO_KEY)
      return NULL;
  }
}


void tok_tables_free(qora_tokenizer *tk) {
  free(tk->by_text.slot);
  free(tk->merges.slot);
}
