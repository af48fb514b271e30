/* json_keys.c: finding a key written twice in a JSON object, and numbers written inexactly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_keys.h"


/* 1 when text[0..len) ends inside a string or with an object or array left open. */
static int ends_open(const char *text, size_t len) {
  int depth = 0, in_string = 0;

  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = 0;
    } else if (c == '"') {
      in_string = 1;
    } else if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      depth--;
    }
  }
  return in_string || depth > 0;
}


cJSON *json_object_of(const char *text, size_t len, const char *what, qora_err *err) {
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  size_t at = end != NULL ? (size_t)(end - text) : 0;

  if (root == NULL && ends_open(text, len)) {
    qora_fail(err, "%s ends inside its JSON (%zu bytes): the file looks cut short; copy or "
              "download it again", what, len);
    return NULL;
  }
  if (root == NULL) {
    qora_fail(err, "%s is not valid JSON (parsing stops at byte %zu of %zu)", what, at, len);
    return NULL;
  }
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    qora_fail(err, "%s is JSON but not a JSON object", what);
    return NULL;
  }
  return root;
}

static int by_key(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}


int json_key_twice(const cJSON *obj, const char **dup) {
  const cJSON *c;
  const char **keys;
  size_t n = 0;

  *dup = NULL;
  for (c = obj ? obj->child : NULL; c != NULL; c = c->next)
    n++;
  if (n < 2)
    return 0;
  keys = malloc(n * sizeof *keys);
  if (keys == NULL)
    return -1;
  n = 0;
  for (c = obj->child; c != NULL; c = c->next)
    keys[n++] = c->string ? c->string : "";
  qsort(keys, n, sizeof *keys, by_key);
  for (size_t i = 1; i < n && *dup == NULL; i++)
    if (strcmp(keys[i - 1], keys[i]) == 0)
      *dup = keys[i];
  free(keys);
  return 0;
}


/* ------------------------------------------------------------ numbers as written */

/* The offsets of text's numbers into at (when not NULL), in order; returns their count. */
static size_t number_offsets(const char *text, size_t len, size_t *at) {
  size_t n = 0;

  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (c == '"') {
      for (i++; i < len && text[i] != '"'; i++)
        i += text[i] == '\\';
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      if (at)
        at[n] = i;
      n++;
      while (i + 1 < len && text[i + 1] != '\0' && strchr("0123456789+-.eE", text[i + 1]))
        i++;
    }
  }
  return n;
}


/* The length of the number at s, and whether it has a point or an exponent. */
static size_t number_length(const char *s, const char *end, int *inexact) {
  size_t k = 0;

  *inexact = 0;
  while (s + k < end && s[k] != '\0' && strchr("0123456789+-.eE", s[k])) {
    *inexact |= s[k] == '.' || s[k] == 'e' || s[k] == 'E';
    k++;
  }
  return k;
}


typedef struct walk {
  const char *text, *end;
  const size_t *at;
  size_t n_at, next;
  json_fraction *out;
  size_t n, cap;
} walk;

/* Visits items in document order, matching each number to the next number of the text. */
static int visit(walk *w, const cJSON *item) {
  for (; item != NULL; item = item->next) {
    if (cJSON_IsNumber(item) && w->next < w->n_at) {
      const char *s = w->text + w->at[w->next++];
      int inexact;
      size_t k = number_length(s, w->end, &inexact);
      if (inexact) {
        if (w->n == w->cap) {
          size_t cap = w->cap ? 2 * w->cap : 8;
          json_fraction *grown = realloc(w->out, cap * sizeof *grown);
          if (grown == NULL)
            return -1;
          w->out = grown, w->cap = cap;
        }
        w->out[w->n].item = item;
        snprintf(w->out[w->n].text, sizeof w->out[w->n].text, "%.*s", (int)k, s);
        w->n++;
      }
    } else if (cJSON_IsNumber(item)) {
      w->next++;
    }
    if (visit(w, item->child) < 0)
      return -1;
  }
  return 0;
}


/* Fractions in the order of their items' addresses, for json_fraction_of's search. */
static int by_item(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const json_fraction *)a)->item;
  uintptr_t y = (uintptr_t)((const json_fraction *)b)->item;
  return (x > y) - (x < y);
}


/*
** The fractions are kept sorted by item and searched by halves: a loader asks for each of a
** vocabulary's ids, and a file may hold a million fractions elsewhere, which a scan of them
** all for each of 128K ids would take hours over.
*/
const char *json_fraction_of(const json_fraction *f, size_t n, const cJSON *item) {
  json_fraction key = { item, "" };
  const json_fraction *hit = n ? bsearch(&key, f, n, sizeof *f, by_item) : NULL;

  return hit ? hit->text : NULL;
}


int json_fractions(const char *text, size_t len, const cJSON *root, json_fraction **out,
                   size_t *n) {
  walk w = { text, text + len, NULL, 0, 0, NULL, 0, 0 };
  size_t count = number_offsets(text, len, NULL);
  int rc = 0;

  *out = NULL, *n = 0;
  if (count == 0)
    return 0;
  if ((w.at = malloc(count * sizeof *w.at)) == NULL)
    return -1;
  w.n_at = number_offsets(text, len, (size_t *)w.at);
  rc = visit(&w, root);
  free((size_t *)w.at);
  if (rc < 0 || w.next != w.n_at) {     /* out of memory, or the numbers did not match up */
    free(w.out);
    return rc;
  }
  if (w.n > 1)
    qsort(w.out, w.n, sizeof *w.out, by_item);
  *out = w.out, *n = w.n;
  return 0;
}
