/* json_keys.c: finding a key written twice in a JSON object. */
#include <stdlib.h>
#include <string.h>

#include "json_keys.h"

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
