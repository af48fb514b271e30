/*
** test_safetensors.c: the safetensors reader on the tiny Hugging Face fixtures, on images this
** test builds and then truncates or makes lie, and on checkpoint folders with broken indexes.
** Expected tensor bits were printed once by PyPI's safetensors 0.8.0 (safe_open, get_tensor).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "tap.h"

#define FIX "spec/fixtures/hf/"

static uint16_t u16_at(const void *p, size_t i) {
  uint16_t v;

  memcpy(&v, (const uint8_t *)p + 2 * i, 2);
  return v;
}

/* A tensor with these bits at index 0, 1, 2 and last (BF16 as printed by safetensors). */
static int bits_are(const st_tensor *t, uint16_t a, uint16_t b, uint16_t c, uint16_t last) {
  return t && t->type == QORA_BF16 && u16_at(t->data, 0) == a && u16_at(t->data, 1) == b &&
         u16_at(t->data, 2) == c && u16_at(t->data, t->n_elements - 1) == last;
}


/* ================================================================ fixtures */

static void test_sharded_fixture(void) {
  qora_err err = {{0}};
  st_checkpoint *c = st_checkpoint_open(FIX "tiny-yarn", &err);
  const st_tensor *t;

  if (!TAP_OK(c != NULL, "opens the two-shard tiny-yarn folder through its index")) {
    TAP_DIAG("%s", err.msg);
    return;
  }
  TAP_OK(c->n_files == 2 && c->n_tensors == 74, "finds 74 tensors in 2 files (got %zu in %zu)",
         c->n_tensors, c->n_files);
  t = st_checkpoint_get(c, "model.embed_tokens.weight", &err);
  TAP_OK(t && t->n_dims == 2 && t->shape[0] == 462 && t->shape[1] == 64 &&
         t->nbytes == 462 * 64 * 2 && strcmp(t->dtype, "BF16") == 0,
         "model.embed_tokens.weight is BF16 [462, 64]");
  t = st_checkpoint_get(c, "model.layers.7.self_attn.k_proj.weight", &err);
  TAP_OK(t && t->shape[0] == 32 && t->shape[1] == 64, "k_proj of layer 7 is [32, 64]");
  TAP_OK(bits_are(t, 0xbd1c, 0xbf45, 0xbd01, 0x3ce6),
         "k_proj of layer 7 (second shard) holds the bits safetensors reads");
  TAP_OK(bits_are(st_checkpoint_find(c, "model.norm.weight"), 0x3f3f, 0x3f6b, 0x3f57, 0x3f31),
         "model.norm.weight holds the bits safetensors reads");
  TAP_OK(st_checkpoint_find(c, "lm_head.weight") == NULL, "has no lm_head (tied embeddings)");
  TAP_OK(st_checkpoint_get(c, "model.layers.8.mlp.up_proj.weight", &err) == NULL &&
         strstr(err.msg, "no tensor model.layers.8.mlp.up_proj.weight"),
         "names a tensor that is not there: %s", err.msg);
  st_checkpoint_close(c);
}

static void test_single_fixture(void) {
  qora_err err = {{0}};
  st_checkpoint *c = st_checkpoint_open(FIX "tiny-nope", &err);
  const st_tensor *t;

  if (!TAP_OK(c != NULL, "opens the one-file tiny-nope folder")) {
    TAP_DIAG("%s", err.msg);
    return;
  }
  TAP_OK(c->n_files == 1 && c->n_tensors == 57, "finds 57 tensors (got %zu)", c->n_tensors);
  t = st_checkpoint_get(c, "lm_head.weight", &err);
  TAP_OK(bits_are(t, 0xbd84, 0xbdac, 0x3e09, 0x3e09), "lm_head.weight holds the bits "
         "safetensors reads");
  t = st_checkpoint_get(c, "model.layers.5.self_attn.q_proj.weight", &err);
  TAP_OK(t && t->shape[0] == 128 && t->shape[1] == 64, "q_proj is [128, 64] (head_dim 32)");
  st_checkpoint_close(c);
}


/* ================================================================= images */

/* 8-byte length, the header, then data_len bytes 0, 1, 2, ... */
static uint8_t *image(const char *json, size_t data_len, size_t *size) {
  size_t n = strlen(json);
  uint8_t *buf = malloc(8 + n + data_len + 1);

  for (int i = 0; i < 8; i++)
    buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
  memcpy(buf + 8, json, n);
  for (size_t i = 0; i < data_len; i++)
    buf[8 + n + i] = (uint8_t)i;
  *size = 8 + n + data_len;
  return buf;
}

static const char *GOOD =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"b\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[16,28]},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
    "\"c\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[28,30]},"
    "\"e\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[30,30]}}  ";

static void test_good_image(void) {
  qora_err err = {{0}};
  size_t size;
  uint8_t *buf = image(GOOD, 30, &size);
  st_file *f = st_open_memory(buf, size, "good", &err);
  const st_tensor *a, *b, *c;

  if (!TAP_OK(f != NULL, "opens a valid image with metadata and trailing header spaces")) {
    TAP_DIAG("%s", err.msg);
    free(buf);
    return;
  }
  a = st_file_find(f, "a");
  b = st_file_find(f, "b");
  c = st_file_find(f, "c");
  TAP_OK(f->n_tensors == 4 && st_file_find(f, "__metadata__") == NULL,
         "reads 4 tensors and skips __metadata__");
  TAP_OK(a && a->type == QORA_F32 && a->data == buf + 8 + strlen(GOOD) && a->nbytes == 16,
         "places F32 a at the start of the data section");
  TAP_OK(b && b->type == QORA_F16 && b->n_dims == 2 && b->shape[0] == 2 && b->shape[1] == 3 &&
         ((const uint8_t *)b->data)[0] == 16, "reads F16 b as [2, 3] at offset 16");
  TAP_OK(c && c->type == QORA_BF16 && c->n_dims == 0 && c->n_elements == 1,
         "reads a BF16 scalar");
  TAP_OK(st_file_find(f, "e") && st_file_find(f, "e")->type == -1,
         "keeps an I64 tensor, marked as a type qora cannot use");
  st_close(f);
  free(buf);
}

static void test_truncated(void) {
  qora_err err = {{0}};
  size_t size, refused = 0, first_bad = 0;
  uint8_t *buf = image(GOOD, 30, &size);

  for (size_t n = 0; n < size; n++) {
    st_file *f = st_open_memory(buf, n, "cut", &err);

    if (f == NULL)
      refused++;
    else if (first_bad == 0)
      first_bad = n;
    st_close(f);
  }
  TAP_OK(refused == size, "refuses the image cut at every one of its %zu lengths (first "
         "accepted: %zu)", size, first_bad);
  st_open_memory(buf, size - 1, "cut", &err);
  TAP_OK(strstr(err.msg, "not inside the 29-byte data section") != NULL,
         "says the data section is short: %s", err.msg);
  st_open_memory(buf, 100, "cut", &err);
  TAP_OK(strstr(err.msg, "runs past the end") != NULL, "says the header is cut: %s", err.msg);
  free(buf);
}

/* Opens a one-image file whose header is json (with data_len data bytes); returns 1 if it is
** refused with a message containing want. */
static int refused(const char *json, size_t data_len, const char *want, qora_err *err) {
  size_t size;
  uint8_t *buf = image(json, data_len, &size);
  st_file *f = st_open_memory(buf, size, "bad", err);
  int ok = f == NULL && strstr(err->msg, want) != NULL;

  st_close(f);
  free(buf);
  return ok;
}

static void test_lying_headers(void) {
  static const struct {
    const char *what, *json, *want;
  } cases[] = {
    {"a shape that disagrees with data_offsets",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,16]}}", "needs 20 bytes"},
    {"a dtype that disagrees with data_offsets",
     "{\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,16]}}", "needs 8 bytes"},
    {"offsets past the data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]}}",
     "not inside"},
    {"begin after end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}",
     "not inside"},
    {"overlapping tensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", "overlap"},
    {"the same bytes twice",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}", "overlap"},
    {"a name listed twice",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", "listed twice"},
    {"an unknown dtype", "{\"a\":{\"dtype\":\"Q4_0\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     "unknown dtype \"Q4_0\""},
    {"a missing dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", "\"dtype\" is missing"},
    {"a missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}",
     "\"shape\" is missing"},
    {"missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", "data_offsets"},
    {"a negative dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
     "non-negative integer"},
    {"a fractional offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.5]}}",
     "data_offsets"},
    {"a huge offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e300]}}",
     "data_offsets"},
    {"a shape that overflows 64 bits",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
     "\"data_offsets\":[0,8]}}", "overflows"},
    {"nine dimensions",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}",
     "9 dimensions"},
    {"a field given twice",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"shape\":[4],\"data_offsets\":[0,8]}}",
     "\"shape\" is given twice"},
    {"a name that is not UTF-8",
     "{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
     "tensor name \"a\" then a byte that is not UTF-8"},
    {"an entry that is not an object", "{\"a\":[1,2]}", "not a JSON object"},
    {"a header that is not JSON", "{\"a\":{\"dtype\":\"F32\",", "not a valid JSON object"},
    {"bytes after the JSON", "{} x", "unexpected bytes"},
    {"a header that is a list", "[{}]", "does not start with '{'"},
    {"a gap between tensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}",
     "4 bytes before tensor b belong to no tensor"},
    {"bytes after the last tensor",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     "last 8 bytes of the file belong to no tensor"},
  };
  qora_err err = {{0}};

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    TAP_OK(refused(cases[i].json, 16, cases[i].want, &err), "refuses %s: %s", cases[i].what,
           err.msg);
}

#define MANY_KEYS 100000

/* A one-tensor header whose entry has MANY_KEYS more keys, the last one "k0" again if dup. */
static char *many_keys_json(int dup) {
  char *json = malloc(MANY_KEYS * 16 + 128), *p = json;

  p += sprintf(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]");
  for (int i = 0; i < MANY_KEYS; i++)
    p += sprintf(p, ",\"k%d\":0", dup && i == MANY_KEYS - 1 ? 0 : i);
  strcpy(p, "}}");
  return json;
}


/*
** Keys given twice are found by sorting: comparing every pair of an entry's keys took minutes
** on a header of a million keys (found reading the code behind fuzz_safetensors).
*/
static void test_many_keys(void) {
  qora_err err = {{0}};
  char *json = many_keys_json(0);
  size_t size;
  uint8_t *buf = image(json, 16, &size);
  st_file *f;

  f = st_open_memory(buf, size, "many", &err);
  TAP_OK(f != NULL, "opens a tensor entry of %d keys: %s", MANY_KEYS, f ? "" : err.msg);
  st_close(f);
  free(buf);
  free(json);
  json = many_keys_json(1);
  TAP_OK(refused(json, 16, "tensor a: \"k0\" is given twice", &err), "refuses a key given "
         "twice among %d: %s", MANY_KEYS, err.msg);
  free(json);
}

/* A header length one byte short (the header's padding absorbs it) shifts every tensor. */
static void test_short_header_length(void) {
  const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}  ";
  size_t size;
  uint8_t *img = image(json, 16, &size);
  uint64_t len;
  qora_err err = {{0}};

  memcpy(&len, img, 8);
  len--;
  memcpy(img, &len, 8);
  st_file *f = st_open_memory(img, size, "short", &err);
  TAP_OK(f == NULL && strstr(err.msg, "belong to no tensor"),
         "refuses a header length one byte short: %s", err.msg);
  st_close(f);
  free(img);
}


static void test_lying_lengths(void) {
  qora_err err = {{0}};
  uint8_t buf[16] = {0};
  uint64_t lens[] = {0, 1, 9, 200 << 20, UINT64_MAX};
  const char *want[] = {"not plausible", "not plausible", "runs past", "not plausible",
                        "not plausible"};

  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    for (int b = 0; b < 8; b++)
      buf[b] = (uint8_t)(lens[i] >> (8 * b));
    memcpy(buf + 8, "{}      ", 8);
    TAP_OK(st_open_memory(buf, sizeof buf, "len", &err) == NULL && strstr(err.msg, want[i]),
           "refuses header length %llu in a 16-byte file: %s", (unsigned long long)lens[i],
           err.msg);
  }
  TAP_OK(st_open_memory(buf, 5, "len", &err) == NULL && strstr(err.msg, "too short"),
         "refuses a 5-byte file: %s", err.msg);
  TAP_OK(st_open("spec/fixtures/hf/no-such.safetensors", &err) == NULL &&
         strstr(err.msg, "cannot open spec/fixtures/hf/no-such.safetensors"),
         "names a file it cannot open: %s", err.msg);
}


/* ================================================================ folders */

static char dir[64];

static void put(const char *name, const void *data, size_t n) {
  char path[256];
  FILE *fp;

  snprintf(path, sizeof path, "%s/%s", dir, name);
  fp = fopen(path, "wb");
  fwrite(data, 1, n, fp);
  fclose(fp);
}

static void put_image(const char *name, const char *json, size_t data_len) {
  size_t size;
  uint8_t *buf = image(json, data_len, &size);

  put(name, buf, size);
  free(buf);
}

static void drop(const char *name) {
  char path[256];

  snprintf(path, sizeof path, "%s/%s", dir, name);
  unlink(path);
}

/* Writes the index text and returns the checkpoint error (NULL when it opened). */
static const char *open_with_index(const char *index, qora_err *err) {
  st_checkpoint *c;

  put("model.safetensors.index.json", index, strlen(index));
  c = st_checkpoint_open(dir, err);
  st_checkpoint_close(c);
  return c ? NULL : err->msg;
}

static void test_folders(void) {
  qora_err err = {{0}};
  const char *msg;
  st_checkpoint *c;

  snprintf(dir, sizeof dir, "/tmp/qora-st-XXXXXX");
  if (!TAP_OK(mkdtemp(dir) != NULL, "makes a scratch folder"))
    return;
  c = st_checkpoint_open(dir, &err);
  TAP_OK(c == NULL && strstr(err.msg, "neither model.safetensors nor"),
         "refuses a folder without weights: %s", err.msg);

  put_image("one.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"n\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}", 16);
  put_image("two.safetensors", "{\"y\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}",
            4);
  msg = open_with_index("{\"metadata\":{},\"weight_map\":{\"x\":\"one.safetensors\","
                        "\"y\":\"two.safetensors\",\"n\":\"one.safetensors\"}}", &err);
  TAP_OK(msg == NULL, "opens a two-shard folder: %s", msg ? msg : "ok");
  c = st_checkpoint_open(dir, &err);
  TAP_OK(c && st_checkpoint_get(c, "y", &err) && st_checkpoint_get(c, "n", &err) == NULL &&
         strstr(err.msg, "tensor n is I64"), "refuses to hand out an I64 tensor: %s", err.msg);
  st_checkpoint_close(c);

  msg = open_with_index("{\"weight_map\":{\"x\":\"one.safetensors\",\"y\":\"three.safetensors\"}}",
                        &err);
  TAP_OK(msg && strstr(msg, "three.safetensors is missing") && strstr(msg, "puts y in it"),
         "names a missing shard: %s", msg);
  msg = open_with_index("{\"weight_map\":{\"x\":\"two.safetensors\"}}", &err);
  TAP_OK(msg && strstr(msg, "two.safetensors: model.safetensors.index.json puts x in it, but"),
         "names a tensor the index puts in the wrong shard: %s", msg);
  msg = open_with_index("{\"weight_map\":{\"x\":\"../one.safetensors\"}}", &err);
  TAP_OK(msg && strstr(msg, "not a plain file name"), "refuses a shard outside the folder: %s",
         msg);
  msg = open_with_index("{\"weight_map\":{\"x\":\"one.safetensors\",\"x\":\"one.safetensors\"}}",
                        &err);
  TAP_OK(msg && strstr(msg, "listed twice"), "refuses a tensor listed twice: %s", msg);
  msg = open_with_index("{\"weight_map\":{}}", &err);
  TAP_OK(msg && strstr(msg, "weight_map"), "refuses an empty weight_map: %s", msg);
  /* the byte counted from 0: 'x' is the 16th of the 17 */
  msg = open_with_index("{\"weight_map\": x}", &err);
  TAP_OK(msg && strstr(msg, "model.safetensors.index.json is not valid JSON (parsing stops at "
                       "byte 15 of 17)"), "refuses an index that is not JSON: %s", msg);
  msg = open_with_index("{\"weight_map\":{\"x\":\"one.safet", &err);
  TAP_OK(msg && strstr(msg, "model.safetensors.index.json ends inside its JSON (29 bytes): "
                       "the file looks cut short"), "says an index cut short looks so: %s", msg);
  msg = open_with_index("[\"one.safetensors\"]", &err);
  TAP_OK(msg && strstr(msg, "model.safetensors.index.json is JSON but not a JSON object"),
         "refuses an index that is JSON of another kind: %s", msg);
  put_image("two.safetensors", "{\"y\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}",
            4);
  msg = open_with_index("{\"weight_map\":{\"y\":\"two.safetensors\"}}", &err);
  TAP_OK(msg && strstr(msg, "two.safetensors: tensor y"), "names the broken shard: %s", msg);

  drop("model.safetensors.index.json");
  drop("one.safetensors");
  drop("two.safetensors");
  TAP_OK(rmdir(dir) == 0, "leaves nothing behind in the scratch folder");
}

int main(void) {
  test_sharded_fixture();
  test_single_fixture();
  test_good_image();
  test_truncated();
  test_lying_headers();
  test_many_keys();
  test_lying_lengths();
  test_short_header_length();
  test_folders();
  return tap_done();
}
