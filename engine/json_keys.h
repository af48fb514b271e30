/*
** json_keys.h: reading a JSON file's top object, and finding a key written twice in an object
** (internal). Python's json keeps the last of them and cJSON finds the first, so such a file
** means one thing to transformers and another to qora; the readers of config.json and
** safetensors headers refuse it.
*/
#ifndef QORA_JSON_KEYS_H
#define QORA_JSON_KEYS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"

/*
** The object that text[0..len) holds, or NULL with a message naming the file what: cut short
** (the text ends inside its JSON), not JSON (with the byte where parsing stops), or JSON of
** another kind. The caller frees the object with cJSON_Delete.
*/
cJSON *json_object_of(const char *text, size_t len, const char *what, qora_err *err);

/*
** Sets *dup to a key that obj holds twice, or to NULL. Sorts the keys, so an object of a
** million keys costs a million log comparisons, not a million squared. Returns -1 when out of
** memory, else 0.
*/
int json_key_twice(const cJSON *obj, const char **dup);

/*
** A number written with a point or an exponent (3.0, 3e0): cJSON reads it as it reads 3, where
** a reader that wants an integer (tokenizers' serde) refuses it.
*/
typedef struct json_fraction {
  const cJSON *item;
  char text[24];            /* as written, cut to fit */
} json_fraction;

/*
** Sets *out (to free) and *n to the numbers of root, parsed from text[0..len), written with a
** point or an exponent; items are matched to the text's numbers in document order (none are
** given when the counts differ). Returns -1 when out of memory, else 0.
*/
int json_fractions(const char *text, size_t len, const cJSON *root, json_fraction **out,
                   size_t *n);

/* How item is written when it is one of json_fractions' n numbers ("3.0"), else NULL. */
const char *json_fraction_of(const json_fraction *f, size_t n, const cJSON *item);

#endif
