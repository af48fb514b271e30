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
** with zeros: each word is multiplied in, then the length, and a final mix spreads every bit
** to the low bits used as the index. Keys come in two parts, and "a" then "b" hashes exactly
** as "ab": the words of b are shifted into place behind the tail of a.
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


/* The n < 8 bytes at p as a little-endian word, reading no byte past them. */
static uint64_t load_tail(const unsigned char *p, size_t n) {
  uint64_t w = 0;
  unsigned shift = 0;

  if (n & 4) {
    uint32_t x;

    memcpy(&x, p, 4);
    w = x;
    p += 4, shift = 32;
  }
  if (n & 2) {
    uint16_t x;

    memcpy(&x, p, 2);
    w |= (uint64_t)x << shift;
    p += 2, shift += 16;
  }
  if (n & 1)
    w |= (uint64_t)*p << shift;
  return w;
}


static uint64_t load_word(const unsigned char *p) {
  uint64_t w;

  memcpy(&w, p, 8);
  return w;
}


typedef struct hasher {
  uint64_t h;
  uint64_t pending;         /* the first k bytes of the next word */
  unsigned k;               /* 0 to 7 */
} hasher;

static void feed(hasher *s, const unsigned char *p, size_t n) {
  unsigned bits = 8 * s->k;

  for (; n >= 8; p += 8, n -= 8) {
    uint64_t x = load_word(p);

    if (bits == 0) {
      s->h = take(s->h, x);
    } else {
      s->h = take(s->h, s->pending | x << bits);
      s->pending = x >> (64 - bits);
    }
  }
  if (n > 0) {
    uint64_t x = load_tail(p, n);

    if (s->k + n < 8) {
      s->pending |= x << bits;
      s->k += (unsigned)n;
    } else {                  /* s->k > 0 here, so the shifts stay below 64 */
      s->h = take(s->h, s->pending | x << bits);
      s->pending = x >> (64 - bits);
      s->k = s->k + (unsigned)n - 8;
    }
  }
}


#define SEED 0x243F6A8885A308D3ull

/* The common case, at most 8 bytes: one word, hashed as feed and finish would hash it. */
static tok_key short_key(const char *a, size_t na, const char *b, size_t nb) {
  uint64_t w = na == 8 ? load_word((const unsigned char *)a) :
               load_tail((const unsigned char *)a, na);
  uint64_t h;

  if (nb > 0)
    w |= load_tail((const unsigned char *)b, nb) << (8 * na);   /* na < 8 here */
  h = take(SEED, w);
  if (na + nb == 8)
    h = take(h, 0);               /* a full word, then an empty tail */
  return (tok_key){ a, b, na, nb, mix(h ^ (na + nb)), w };
}


tok_key tok_key_of(const char *a, size_t na, const char *b, size_t nb) {
  hasher s = { SEED, 0, 0 };

  if (na + nb <= TOK_INLINE)
    return short_key(a, na, b, nb);
  feed(&s, (const unsigned char *)a, na);
  if (nb > 0)
    feed(&s, (const unsigned char *)b, nb);
  return (tok_key){ a, b, na, nb, mix(take(s.h, s.pending) ^ (na + nb)), 0 };
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


static uint64_t slot_word(const tok_slot *s) {
  uint64_t w;

  memcpy(&w, s->u.text, 8);
  return w;
}


static int key_is(const qora_tokenizer *tk, const tok_slot *s, const tok_key *k) {
  const char *t;

  if (s->len != k->na + k->nb)
    return 0;
  if (s->len <= TOK_INLINE)
    return slot_word(s) == k->word;     /* both zero-padded */
  t = tk->text + s->u.far.off;
  return s->u.far.tag == (uint32_t)(k->h >> 32) && same(t, k->a, k->na) &&
         same(t + k->na, k->b, k->nb);
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
      s->id = base + j;
      s->len = (uint32_t)keys[j].na;
      if (s->len <= TOK_INLINE) {
        memcpy(s->u.text, &keys[j].word, 8);
      } else {
        s->u.far.off = (uint32_t)(keys[j].a - tk->text);
        s->u.far.tag = (uint32_t)(keys[j].h >> 32);
      }
    }
  }
  return 0;
}


int32_t tok_strmap_find(const qora_tokenizer *tk, const char *s, size_t n) {
  tok_key k = tok_key_of(s, n, "", 0);

  return tk->by_text.slot[probe(tk, &k)].id;
}


/*
** A software pipeline: while key j is compared, the (long) text of key j + 8 and the slot of
** key j + 16 are on their way, so the cache misses of different keys overlap.
*/
void tok_strmap_find_many(const qora_tokenizer *tk, const tok_key *keys, size_t n, int32_t *out) {
  const tok_strmap *m = &tk->by_text;

  for (size_t j = 0; j < n + 16; j++) {
    if (j < n)
      __builtin_prefetch(&m->slot[(uint32_t)keys[j].h & m->mask]);
    if (j >= 8 && j - 8 < n) {
      const tok_slot *s = &m->slot[(uint32_t)keys[j - 8].h & m->mask];

      if (s->id >= 0 && s->len > TOK_INLINE)
        __builtin_prefetch(tk->text + s->u.far.off);
    }
    if (j >= 16)
      out[j - 16] = m->slot[probe(tk, &keys[j - 16])].id;
  }
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


/* Each merge's key carries the pair; rank and result ride along. Slots are fetched 8 ahead. */
void tok_pairmap_add_many(tok_pairmap *m, const tok_merge *e, size_t n) {
  for (size_t j = 0; j < n + 8; j++) {
    uint64_t i;

    if (j < n)
      __builtin_prefetch(&m->slot[pair_slot(e[j].key, m->mask)], 1);
    if (j < 8)
      continue;
    i = pair_slot(e[j - 8].key, m->mask);
    while (m->slot[i].key != TOK_NO_KEY && m->slot[i].key != e[j - 8].key)
      i = (i + 1) & m->mask;
    if (m->slot[i].key == TOK_NO_KEY)
      m->slot[i] = e[j - 8];
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
