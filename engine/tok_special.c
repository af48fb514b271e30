/*
** tok_special.c: finding the special tokens written in a text, in time linear in its length.
**
** The texts of the special tokens (CONTROL and USER_DEFINED) make a trie read from their last
** byte back, with Aho-Corasick failure links. Scanned from its end, a text walks the trie: at
** byte i the node reached stands for the longest text[i..i+d) that ends some special text, and
** its chain of failure links for the shorter ones that do. The specials that start at i are
** the chain's complete texts, so the longest of them is known at each node once, at build.
** Walking forward from each byte instead, the plain way, costs the text's length times the
** length of a special the text keeps almost matching ("aaa..." against "a" x 4095 + "b").
*/
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tok_internal.h"
#include "tokenizer.h"

/* A special text, for sorting. */
typedef struct special_key {
  const unsigned char *text;
  uint32_t len;
  int32_t id;
} special_key;


/* By the bytes read from the end (unsigned), a text before the longer ones that end with it;
** then by id. */
static int backward_order(const void *pa, const void *pb) {
  const special_key *a = pa, *b = pb;
  uint32_t n = a->len < b->len ? a->len : b->len;

  for (uint32_t k = 1; k <= n; k++)
    if (a->text[a->len - k] != b->text[b->len - k])
      return a->text[a->len - k] < b->text[b->len - k] ? -1 : 1;
  if (a->len != b->len)
    return a->len < b->len ? -1 : 1;
  return a->id < b->id ? -1 : a->id > b->id;
}


/* The child of node v by byte c, or 0 (the root is nobody's child). */
static uint32_t child(const tok_trie *t, uint32_t v, unsigned char c) {
  uint32_t lo, hi;

  if (v == 0)
    return t->root[c];
  lo = t->node[v].first;
  hi = lo + t->node[v].n_child;
  while (lo < hi) {                         /* children are in byte order */
    uint32_t mid = lo + (hi - lo) / 2;

    if (t->edge_byte[mid] < c)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < t->node[v].first + t->node[v].n_child && t->edge_byte[lo] == c ? t->edge[lo] : 0;
}


/* The node after v, going one byte c further back in the text. */
static uint32_t step(const tok_trie *t, uint32_t v, unsigned char c) {
  for (;;) {
    uint32_t w = child(t, v, c);

    if (w != 0 || v == 0)
      return w;
    v = t->node[v].fail;
  }
}


/*
** Makes the nodes of the sorted keys, each shared prefix (of the texts read backwards) once:
** a node's parent comes before it and its children follow in byte order. Records at each
** node the lowest id and the lowest user-defined id whose whole text it is.
*/
static void add_keys(const qora_tokenizer *tk, tok_trie *t, const special_key *keys, size_t n,
                     uint32_t *parent, unsigned char *byte_of, uint32_t *path) {
  const special_key *prev = NULL;

  t->n_node = 1;
  t->node[0] = (tok_node){ 0, 0, 0, -1, -1 };
  path[0] = 0;
  for (size_t i = 0; i < n; i++) {
    const special_key *k = &keys[i];
    uint32_t same = 0, v;

    while (prev && same < prev->len && same < k->len &&
           prev->text[prev->len - 1 - same] == k->text[k->len - 1 - same])
      same++;
    for (uint32_t d = same; d < k->len; d++) {
      v = t->n_node++;
      t->node[v] = (tok_node){ 0, 0, 0, -1, -1 };
      byte_of[v] = k->text[k->len - 1 - d];
      parent[v] = path[d];
      path[d + 1] = v;
    }
    v = path[k->len];
    if (t->node[v].any < 0)
      t->node[v].any = k->id;
    if (t->node[v].user < 0 && tk->type[k->id] == QORA_TOKEN_USER_DEFINED)
      t->node[v].user = k->id;
    prev = k;
  }
}


/* Lays the children of each node out together, in byte order as add_keys made them. */
static void link_nodes(tok_trie *t, const uint32_t *parent, const unsigned char *byte_of) {
  for (uint32_t v = 1; v < t->n_node; v++)
    t->node[parent[v]].n_child++;
  for (uint32_t v = 0, at = 0; v < t->n_node; v++) {
    t->node[v].first = at;
    at += t->node[v].n_child;
    t->node[v].n_child = 0;
  }
  for (uint32_t v = 1; v < t->n_node; v++) {
    tok_node *p = &t->node[parent[v]];
    uint32_t e = p->first + p->n_child++;

    t->edge[e] = v;
    t->edge_byte[e] = byte_of[v];
    if (parent[v] == 0)
      t->root[byte_of[v]] = v;
  }
}


/* Failure links and longest specials, a level at a time (a link points to a shallower node). */
static void set_failures(tok_trie *t, const uint32_t *parent, const unsigned char *byte_of,
                         uint32_t *queue) {
  uint32_t head = 0, tail = 0;

  for (int c = 0; c < 256; c++)
    if (t->root[c] != 0)
      queue[tail++] = t->root[c];
  while (head < tail) {
    uint32_t v = queue[head++];
    tok_node *n = &t->node[v];

    n->fail = parent[v] == 0 ? 0 : step(t, t->node[parent[v]].fail, byte_of[v]);
    if (n->any < 0)
      n->any = t->node[n->fail].any;
    if (n->user < 0)
      n->user = t->node[n->fail].user;
    for (uint32_t e = n->first; e < n->first + n->n_child; e++)
      queue[tail++] = t->edge[e];
  }
}


/* Gives back the room of the nodes that shared suffixes saved (n_node was an upper bound). */
static void shrink(tok_trie *t) {
  tok_node *node = realloc(t->node, t->n_node * sizeof *t->node);
  uint32_t *edge = realloc(t->edge, t->n_node * sizeof *t->edge);
  unsigned char *edge_byte = realloc(t->edge_byte, t->n_node);

  t->node = node ? node : t->node;          /* a failed shrink keeps the larger block */
  t->edge = edge ? edge : t->edge;
  t->edge_byte = edge_byte ? edge_byte : t->edge_byte;
}


int tok_specials_build(qora_tokenizer *tk, const char *source, qora_err *err) {
  tok_trie *t = &tk->specials;
  special_key *keys;
  uint32_t *parent = NULL, *scratch = NULL, max_len = 0;
  unsigned char *byte_of = NULL;
  size_t n = 0, n_node = 1;
  int rc = 0;

  for (int32_t i = 0; i < tk->n_vocab; i++)
    n += tok_is_special(tk, i);
  keys = malloc((n ? n : 1) * sizeof *keys);
  if (keys == NULL)
    return qora_fail(err, "out of memory for %zu special tokens", n);
  n = 0;
  for (int32_t i = 0; i < tk->n_vocab; i++) {
    if (!tok_is_special(tk, i) || tok_text_len(tk, i) == 0)
      continue;
    keys[n] = (special_key){ (const unsigned char *)tk->text + tk->text_off[i],
                             tok_text_len(tk, i), i };
    n_node += keys[n].len;
    max_len = keys[n].len > max_len ? keys[n].len : max_len;
    n++;
  }
  if (n_node - 1 > TOK_SPECIAL_TEXT_MAX) {
    free(keys);
    return qora_fail(err, "%s: %zu special and user-defined tokens hold %zu bytes of text, "
                     "more than qora reads (%u; real tokenizers hold a few KB): this is not a "
                     "usable tokenizer", source, n, n_node - 1, TOK_SPECIAL_TEXT_MAX);
  }
  qsort(keys, n, sizeof *keys, backward_order);

  memset(t, 0, sizeof *t);
  t->node = malloc(n_node * sizeof *t->node);
  t->edge = malloc(n_node * sizeof *t->edge);
  t->edge_byte = malloc(n_node);
  parent = malloc(n_node * sizeof *parent);
  scratch = malloc((n_node > max_len + 1 ? n_node : max_len + 1) * sizeof *scratch);
  byte_of = malloc(n_node);
  if (!t->node || !t->edge || !t->edge_byte || !parent || !scratch || !byte_of) {
    rc = qora_fail(err, "out of memory for the %zu special tokens' trie", n);
  } else {
    add_keys(tk, t, keys, n, parent, byte_of, scratch);
    link_nodes(t, parent, byte_of);
    set_failures(t, parent, byte_of, scratch);
    shrink(t);
  }
  free(keys);
  free(parent);
  free(scratch);
  free(byte_of);
  return rc;
}


void tok_specials_find(const qora_tokenizer *tk, const char *text, size_t n, int flags,
                       int32_t *match) {
  const tok_trie *t = &tk->specials;
  const unsigned char *u = (const unsigned char *)text;
  int any = (flags & QORA_TOK_SPECIAL) != 0;
  uint32_t v = 0;

  for (size_t i = n; i-- > 0;) {
    v = step(t, v, u[i]);
    match[i] = any ? t->node[v].any : t->node[v].user;
  }
}


void tok_specials_free(tok_trie *t) {
  free(t->node);
  free(t->edge);
  free(t->edge_byte);
  memset(t, 0, sizeof *t);
}
