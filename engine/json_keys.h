/*
** json_keys.h: finding a key written twice in a JSON object (internal). Python's json keeps the
** last of them and cJSON finds the first, so such a file means one thing to transformers and
** another to qora; the readers of config.json and safetensors headers refuse it.
*/
#ifndef QORA_JSON_KEYS_H
#define QORA_JSON_KEYS_H

#include <cjson/cJSON.h>

/*
** Sets *dup to a key that obj holds twice, or to NULL. Sorts the keys, so an object of a
** million keys costs a million log comparisons, not a million squared. Returns -1 when out of
** memory, else 0.
*/
int json_key_twice(const cJSON *obj, const char **dup);

#endif
