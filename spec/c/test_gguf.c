/*
** test_gguf.c: the GGUF reader on the reference files and on broken copies of them.
** Expected counts are those PyPI's gguf package reports for the same files.
*/
#include <stdlib.h>
#include <string.h>

#include "fixture_io.h"
#include "gguf.h"
#include "tap.h"
#include "tok_gguf_build.h"

#define VEC "../shared/vectors/"

static void test_reference_files(void) {
  qora_err err = {{0}};
  gguf_file *f = gguf_open(VEC "tiny-smollm3/tiny-smollm3-q4_k_m.gguf", &err);
  gguf_str s;
  uint32_t n;

  if (!TAP_OK(f != NULL, "opens tiny-smollm3-q4_k_m.gguf")) {
    TAP_DIAG("%s", err.msg);
    return;
  }
  TAP_OK(f->n_tensors == 38 && f->n_kv == 23, "reads 38 tensors and 23 metadata entries");
  TAP_OK(gguf_get_str(f, "general.architecture", &s, &err) == 1 && gguf_str_eq(s, "smollm3"),
         "reads the architecture string");
  TAP_OK(gguf_get_u32(f, "smollm3.block_count", &n, &err) == 1 && n == 4, "reads block_count");
  TAP_OK(gguf_get_str(f, "smollm3.block_count", &s, &err) == -1 && strstr(err.msg, "string"),
         "refuses an integer read as a string: %s", err.msg);
  const gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
  TAP_OK(t && t->type == QORA_Q6_K && t->ne[0] == 256 && t->ne[1] == 462 &&
         t->nbytes == 462 * 210, "token_embd.weight is Q6_K 256x462");
  gguf_close(f);

  f = gguf_open(VEC "tokenizer/llama3-vocab.gguf", &err);
  const gguf_kv *kv = f ? gguf_find(f, "tokenizer.ggml.merges") : NULL;
  TAP_OK(f && f->n_tensors == 0 && kv && kv->n == 280147,
         "opens the vocabulary-only GGUF with its 280147 merges");
  gguf_close(f);
}


/* Every truncation before the end of the last tensor must be refused, never crash. */
static void test_truncations(const unsigned char *img, size_t size) {
  qora_err err;
  gguf_file *whole = gguf_open_memory(img, size, &err);
  uint64_t end = 0;
  int refused = 0, tried = 0;

  for (uint64_t i = 0; i < whole->n_tensors; i++) {
    uint64_t e = whole->data_offset + whole->tensors[i].offset + whole->tensors[i].nbytes;
    end = e > end ? e : end;
  }
  for (size_t cut = 0; cut < end; cut += cut < whole->data_offset + 64 ? 1 : 997) {
    unsigned char *copy = malloc(cut ? cut : 1);
    memcpy(copy, img, cut);
    gguf_file *f = gguf_open_memory(copy, cut, &err);
    refused += f == NULL;
    tried++;
    gguf_close(f);
    free(copy);
  }
  TAP_OK(refused == tried, "refuses the file truncated at each of %d offsets (%d refused)",
         tried, refused);

  /* Cut inside the last tensor: the message places it in the file, as a hex viewer would. */
  const gguf_tensor *last = &whole->tensors[0];
  for (uint64_t i = 1; i < whole->n_tensors; i++)
    last = whole->tensors[i].offset > last->offset ? &whole->tensors[i] : last;
  uint64_t at = whole->data_offset + last->offset, cut = at + last->nbytes / 2;
  char want[160];
  snprintf(want, sizeof want, "(%llu bytes from byte %llu) runs past the end of the file "
           "(%llu bytes)", (unsigned long long)last->nbytes, (unsigned long long)at,
           (unsigned long long)cut);
  gguf_file *f = gguf_open_memory(img, cut, &err);
  TAP_OK(f == NULL && strstr(err.msg, want) && strstr(err.msg, "cut short"),
         "a file cut inside its last tensor says where the tensor lies in the file: %s",
         f ? "(opened)" : err.msg);
  gguf_close(f);
  gguf_close(whole);
}


/* Overwrites 8 bytes at off with v and expects a refusal whose message contains want. */
static void expect_refusal(const unsigned char *img, size_t size, size_t off, uint64_t v,
                           const char *want, const char *what) {
  unsigned char *copy = malloc(size);
  qora_err err = {{0}};

  memcpy(copy, img, size);
  memcpy(copy + off, &v, 8);
  gguf_file *f = gguf_open_memory(copy, size, &err);
  TAP_OK(f == NULL && strstr(err.msg, want) != NULL, "refuses %s: %s", what, err.msg);
  gguf_close(f);
  free(copy);
}


static void test_hostile_headers(const unsigned char *img, size_t size) {
  unsigned char *copy = malloc(size);
  qora_err err;
  int survived = 1;

  expect_refusal(img, size, 0, UINT64_C(0x0000000347554747), "not a GGUF", "a wrong magic");
  expect_refusal(img, size, 8, UINT64_C(1) << 60, "can hold: it is cut short or corrupt",
                 "an absurd tensor count");
  expect_refusal(img, size, 16, UINT64_C(1) << 60, "can hold: it is cut short or corrupt",
                 "an absurd kv count");
  expect_refusal(img, size, 24, UINT64_C(1) << 62, "past the end", "an absurd key length");
  /* Random byte changes in the header: any outcome but a crash is acceptable. */
  srand(7);
  for (int i = 0; i < 3000; i++) {
    memcpy(copy, img, size);
    for (int k = 0; k < 4; k++)
      copy[rand() % 4096] = (unsigned char)rand();
    gguf_file *f = gguf_open_memory(copy, size, &err);
    gguf_close(f);
  }
  TAP_OK(survived, "survives 3000 randomly damaged headers");
  free(copy);
}


/*
** GGUF asks for an alignment that is a multiple of 8; with 1, 2 or 4, F32 weights lay at
** addresses that are not multiples of 4, read as floats all the same (undefined behaviour).
*/
static void test_small_alignment(void) {
  for (uint32_t a = 1; a <= 4; a *= 2) {
    gbuf b = { 0 };
    qora_err err = {{0}};
    size_t n;
    unsigned char *img;
    gguf_file *f;

    gb_u32(&b, "general.alignment", a);
    img = gb_image(&b, &n);
    f = gguf_open_memory(img, n, &err);
    TAP_OK(f == NULL && strstr(err.msg, "at least 8"), "refuses general.alignment %u: %s", a,
           err.msg);
    gguf_close(f);
    free(img);
    free(b.p);
  }
}


#define MANY 100000

/* An image of MANY u32 keys and MANY tensor infos of an unknown type (no data needed). */
static unsigned char *many_names(int dup_key, int dup_tensor, size_t *n) {
  gbuf b = { 0 };
  char name[32];
  unsigned char *img;
  uint64_t n_tensors = MANY;

  for (int i = 0; i < MANY; i++) {
    snprintf(name, sizeof name, "k.%07d", dup_key && i == MANY - 1 ? 0 : i);
    gb_u32(&b, name, (uint32_t)i);
  }
  for (int i = 0; i < MANY; i++) {
    snprintf(name, sizeof name, "t.%07d", dup_tensor && i == MANY - 1 ? 0 : i);
    gb_strv(&b, name, strlen(name));
    gb_u32v(&b, 1);           /* n_dims */
    gb_u64v(&b, 1);           /* ne[0] */
    gb_u32v(&b, 99);          /* a type qora does not know: sized by the model loader */
    gb_u64v(&b, 0);           /* offset */
  }
  img = gb_image(&b, n);
  memcpy(img + 8, &n_tensors, 8);
  free(b.p);
  return img;
}


/*
** Every name of a many_names image is found where the builder wrote it (entry i is named
** "k.%07d" / "t.%07d" with i), and names it never wrote, shorter, longer or between two
** written ones, are not found.
*/
static void check_many_lookups(const gguf_file *f) {
  static const char *const absent[] = { "t.", "t.000000", "t.00000000", "t.0100000",
                                        "t.9999999", "k.0000000", "", "s.0000000" };
  char name[32];
  int bad_t = -1, bad_k = -1;

  for (int i = 0; i < MANY && (bad_t < 0 || bad_k < 0); i++) {
    snprintf(name, sizeof name, "t.%07d", i);
    if (bad_t < 0 && gguf_find_tensor(f, name) != &f->tensors[i])
      bad_t = i;
    snprintf(name, sizeof name, "k.%07d", i);
    if (bad_k < 0 && gguf_find(f, name) != &f->kv[i])
      bad_k = i;
  }
  TAP_OK(gguf_find_tensor(f, "t.0000000") == &f->tensors[0] &&
         gguf_find_tensor(f, "t.0099999") == &f->tensors[MANY - 1],
         "finds the first and the last of %d tensors by name", MANY);
  if (!TAP_OK(bad_t < 0, "finds each of %d tensors by name", MANY))
    TAP_DIAG("first not found where written: t.%07d", bad_t);
  if (!TAP_OK(bad_k < 0, "finds each of %d keys by name", MANY))
    TAP_DIAG("first not found where written: k.%07d", bad_k);
  for (size_t i = 0; i < sizeof absent / sizeof *absent; i++)
    TAP_OK(gguf_find_tensor(f, absent[i]) == NULL, "no tensor is named \"%s\"", absent[i]);
  TAP_OK(gguf_find(f, "k.0100000") == NULL && gguf_find(f, "t.0000000") == NULL,
         "no key is named k.0100000 or t.0000000");
}


/*
** Names are checked for duplicates by sorting: comparing every pair took minutes on a file of
** a few million names (found reading the code behind fuzz_gguf, whose inputs are too small).
*/
static void test_many_names(void) {
  qora_err err = {{0}};
  size_t n;
  unsigned char *img = many_names(0, 0, &n);
  gguf_file *f;

  f = gguf_open_memory(img, n, &err);
  TAP_OK(f && f->n_kv == MANY && f->n_tensors == MANY, "opens %d distinct keys "
         "and %d distinct tensor names: %s", MANY, MANY, f ? "" : err.msg);
  if (f != NULL)
    check_many_lookups(f);
  gguf_close(f);
  free(img);
  img = many_names(1, 0, &n);
  f = gguf_open_memory(img, n, &err);
  TAP_OK(!f && strstr(err.msg, "metadata key k.0000000 appears twice"), "refuses a key given "
         "twice among %d: %s", MANY, err.msg);
  gguf_close(f);
  free(img);
  img = many_names(0, 1, &n);
  f = gguf_open_memory(img, n, &err);
  TAP_OK(!f && strstr(err.msg, "tensor t.0000000 appears twice"), "refuses a tensor name "
         "given twice among %d: %s", MANY, err.msg);
  gguf_close(f);
  free(img);
}


int main(void) {
  size_t size = 0;
  unsigned char *img = (unsigned char *)slurp(VEC "tiny-smollm3/tiny-smollm3-q4_0.gguf", &size);

  test_reference_files();
  test_many_names();
  test_small_alignment();
  if (TAP_OK(img != NULL, "reads tiny-smollm3-q4_0.gguf into memory")) {
    test_truncations(img, size);
    test_hostile_headers(img, size);
  }
  free(img);
  return tap_done();
}
