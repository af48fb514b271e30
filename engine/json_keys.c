/* json_keys.c: finding a key written twice in a JSON object. */
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
