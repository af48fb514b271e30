/*
** bpe.c: byte-level BPE on one piece. The piece starts as one symbol per byte; the adjacent
** pair with the lowest merge rank (the leftmost among equals) is joined until no pair has a
** merge. Symbols are a linked list and candidate pairs a binary heap, so a piece of n bytes
** takes O(n log n), however long it is. Heap entries go stale when a neighbour is merged
** away; they remember the two ids they were made for and are dropped when those changed (a
** symbol's id never comes back, because every merge makes its text longer).
*/
#include <stdlib.h>

#include "err.h"
#include "tok_internal.h"
#include "utf8.h"

typedef struct bpe_pair {
  int32_t rank;
  int32_t left;             /* index of the left symbol */
  int32_t lid, rid;         /* the ids of the two symbols when the pair was made */
} bpe_pair;

int bpe_scratch_init(bpe_scratch *s, size_t cap) {
  if (cap < 1)
    cap = 1;
  s->cap = cap;
  s->id = malloc(cap * sizeof *s->id);
  s->prev = malloc(cap * sizeof *s->prev);
  s->next = malloc(cap * sizeof *s->next);
  s->heap = malloc(3 * cap * sizeof *s->heap);
  s->enc = malloc(2 * cap);
  if (!s->id || !s->prev || !s->next || !s->heap || !s->enc) {
    bpe_scratch_free(s);
    return -1;
  }
  return 0;
}


void bpe_scratch_free(bpe_scratch *s) {
  free(s->id);
  free(s->prev);
  free(s->next);
  free(s->heap);
  free(s->enc);
  s->id = s->prev = s->next = NULL;
  s->heap = NULL;
  s->enc = NULL;
}


/* ----------------------------------------------------------------- heap */

static int before(const bpe_pair *a, const bpe_pair *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}


static void heap_push(bpe_pair *h, size_t *n, bpe_pair e) {
  size_t i = (*n)++;

  while (i > 0 && before(&e, &h[(i - 1) / 2])) {
    h[i] = h[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h[i] = e;
}


static bpe_pair heap_pop(bpe_pair *h, size_t *n) {
  bpe_pair top = h[0], last = h[--(*n)];
  size_t i = 0, c;

  while ((c = 2 * i + 1) < *n) {
    if (c + 1 < *n && before(&h[c + 1], &h[c]))
      c++;
    if (!before(&h[c], &last))
      break;
    h[i] = h[c];
    i = c;
  }
  h[i] = last;
  return top;
}


/* --------------------------------------------------------------- merging */

/* Queues the pair (left, its next symbol) when the vocabulary has a merge for it. */
static void offer(const qora_tokenizer *tk, bpe_scratch *s, size_t *n_heap, int32_t left) {
  const tok_merge *m;
  int32_t right;

  if (left < 0 || (right = s->next[left]) < 0)
    return;
  m = tok_pairmap_find(&tk->merges, s->id[left], s->id[right]);
  if (m != NULL)
    heap_push(s->heap, n_heap, (bpe_pair){ m->rank, left, s->id[left], s->id[right] });
}


static void merge_all(const qora_tokenizer *tk, bpe_scratch *s, size_t n) {
  size_t n_heap = 0;

  for (size_t i = 0; i + 1 < n; i++)
    offer(tk, s, &n_heap, (int32_t)i);
  while (n_heap > 0) {
    bpe_pair p = heap_pop(s->heap, &n_heap);
    int32_t r = s->next[p.left];

    if (s->id[p.left] != p.lid || r < 0 || s->id[r] != p.rid)
      continue;
    s->id[p.left] = tok_pairmap_find(&tk->merges, p.lid, p.rid)->result;
    s->id[r] = -1;
    s->next[p.left] = s->next[r];
    if (s->next[r] >= 0)
      s->prev[s->next[r]] = p.left;
    offer(tk, s, &n_heap, s->prev[p.left]);
    offer(tk, s, &n_heap, p.left);
  }
}


/* The token whose text is the whole piece (llama.cpp's and Hugging Face's ignore_merges). */
static int32_t whole_piece(const qora_tokenizer *tk, const unsigned char *w, size_t n,
                           bpe_scratch *s) {
  size_t len = 0;
  int32_t id;

  for (size_t i = 0; i < n; i++)
    len += (size_t)utf8_encode(tok_byte_to_cp(w[i]), s->enc + len);
  id = tok_strmap_find(tk, s->enc, len);
  return (id >= 0 && tk->type[id] == QORA_TOKEN_NORMAL) ? id : -1;
}


/*
** A byte without a token of its own is left out before merging, and its neighbours may then
** merge: Hugging Face's BPE does this when the model has no unk token (SmolLM2 has no token for
** a few control characters and for the lead bytes F1 and F2). llama.cpp stops with an error.
*/
int bpe_piece(const qora_tokenizer *tk, const unsigned char *w, size_t n, bpe_scratch *s,
              qora_tokens *out, qora_err *err) {
  size_t m = 0;
  int32_t id;

  if (n > s->cap)
    return qora_fail(err, "internal error: a piece of %zu bytes exceeds the scratch", n);
  if (n > 0 && tk->ignore_merges && (id = whole_piece(tk, w, n, s)) >= 0)
    return tok_push(out, id, err);

  for (size_t i = 0; i < n; i++) {
    if ((s->id[m] = tk->byte_tok[w[i]]) < 0)
      continue;
    s->prev[m] = (int32_t)m - 1;
    s->next[m] = (int32_t)m + 1;
    m++;
  }
  if (m == 0)
    return 0;
  s->next[m - 1] = -1;
  merge_all(tk, s, m);
  for (int32_t i = 0; i >= 0; i = s->next[i])
    if (tok_push(out, s->id[i], err) < 0)
      return -1;
  return 0;
}
