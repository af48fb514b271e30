/*
** make_seeds.c: writes the small valid inputs the fuzzers start from (spec/fuzz/seeds/), with
** the engine's own GGUF writer, and checks that the engine accepts each of them, so a seed
** that rots is noticed. Run from the repository root: build/fuzz/make_seeds spec/fuzz/seeds
** (the config.json and tokenizer.json seeds are copies of spec/fixtures/hf files).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf_write.h"
#include "quant.h"
#include "qora.h"
#include "safetensors.h"

static const char *out_dir;

static void die(const char *what, const qora_err *err) {
  fprintf(stderr, "make_seeds: %s: %s\n", what, err ? err->msg : "failed");
  exit(1);
}


static const char *seed_path(const char *target, const char *name) {
  static char path[512];

  snprintf(path, sizeof path, "%s/%s", out_dir, target);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
  return path;
}


static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");

  if (f == NULL || fwrite(data, 1, n, f) != n || fclose(f) != 0)
    die(path, NULL);
}


/* ------------------------------------------------------------- tiny GGUF models */

/* A vocabulary of 8 tokens, two merges, two specials: enough for every code path. */
static void add_vocab(gguf_writer *w, qora_err *err) {
  static const char *const tokens[] = { "a", "b", "c", "ab", "abc", "\xc4\xa0",
                                        "<|im_start|>", "<|im_end|>" };
  static const char *const merges[] = { "a b", "ab c" };
  static const int32_t types[] = { 1, 1, 1, 1, 1, 1, 3, 3 };

  if (gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", err) < 0 ||
      gguf_writer_set_str(w, "tokenizer.ggml.pre", "smollm", err) < 0 ||
      gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", tokens, NULL, 8, err) < 0 ||
      gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, 8, err) < 0 ||
      gguf_writer_set_str_arr(w, "tokenizer.ggml.merges", merges, NULL, 2, err) < 0 ||
      gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 6, err) < 0 ||
      gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 7, err) < 0 ||
      gguf_writer_set_str(w, "tokenizer.chat_template", "{{ messages }}", err) < 0)
    die("vocabulary", err);
}


typedef struct shape {
  int embd, ff, heads, heads_kv, head_dim;
  int mat_type;             /* the matrices' type; norms are F32 */
} shape;

typedef struct tdesc {
  char name[64];
  uint32_t type, n_dims;
  uint64_t ne[2];
} tdesc;

/* The tensors of a one-layer smollm3 model, GGUF shapes [cols, rows]. */
static int list_tensors(const shape *s, tdesc *t) {
  uint64_t q = (uint64_t)s->heads * s->head_dim, kv = (uint64_t)s->heads_kv * s->head_dim;
  const struct { const char *name; uint64_t cols, rows; } m[] = {
    { "token_embd.weight", s->embd, 8 }, { "output_norm.weight", s->embd, 0 },
    { "blk.0.attn_norm.weight", s->embd, 0 }, { "blk.0.attn_q.weight", s->embd, q },
    { "blk.0.attn_k.weight", s->embd, kv }, { "blk.0.attn_v.weight", s->embd, kv },
    { "blk.0.attn_output.weight", q, s->embd }, { "blk.0.ffn_norm.weight", s->embd, 0 },
    { "blk.0.ffn_gate.weight", s->embd, s->ff }, { "blk.0.ffn_up.weight", s->embd, s->ff },
    { "blk.0.ffn_down.weight", s->ff, s->embd },
  };
  int n = (int)(sizeof m / sizeof m[0]);

  for (int i = 0; i < n; i++) {
    snprintf(t[i].name, sizeof t[i].name, "%s", m[i].name);
    t[i].n_dims = m[i].rows ? 2 : 1;
    t[i].type = m[i].rows ? (uint32_t)s->mat_type : QORA_F32;
    t[i].ne[0] = m[i].cols;
    t[i].ne[1] = m[i].rows ? m[i].rows : 1;
  }
  return n;
}


static void add_hparams(gguf_writer *w, const shape *s, qora_err *err) {
  if (gguf_writer_set_str(w, "general.architecture", "smollm3", err) < 0 ||
      gguf_writer_set_u32(w, "smollm3.block_count", 1, err) < 0 ||
      gguf_writer_set_u32(w, "smollm3.embedding_length", (uint32_t)s->embd, err) < 0 ||
      gguf_writer_set_u32(w, "smollm3.feed_forward_length", (uint32_t)s->ff, err) < 0 ||
      gguf_writer_set_u32(w, "smollm3.attention.head_count", (uint32_t)s->heads, err) < 0 ||
      gguf_writer_set_u32(w, "smollm3.attention.head_count_kv", (uint32_t)s->heads_kv,
                          err) < 0 ||
      gguf_writer_set_u32(w, "smollm3.attention.key_length", (uint32_t)s->head_dim, err) < 0 ||
      gguf_writer_set_u32(w, "smollm3.context_length", 64, err) < 0 ||
      gguf_writer_set_f32(w, "smollm3.rope.freq_base", 10000.0f, err) < 0 ||
      gguf_writer_set_f32(w, "smollm3.attention.layer_norm_rms_epsilon", 1e-6f, err) < 0)
    die("hyperparameters", err);
}


/* Writes a tiny model whose weights are small numbers in the chosen type. */
static void write_model(const char *path, const shape *s) {
  qora_err err = {{0}};
  gguf_writer *w = gguf_writer_new(&err);
  tdesc t[16];
  int n = list_tensors(s, t);

  add_hparams(w, s, &err);
  add_vocab(w, &err);
  for (int i = 0; i < n; i++)
    if (gguf_writer_add_tensor(w, t[i].name, t[i].type, t[i].n_dims, t[i].ne,
                               qora_row_size((int)t[i].type, (int64_t)t[i].ne[0]) * t[i].ne[1],
                               &err) < 0)
      die(t[i].name, &err);
  if (gguf_writer_begin(w, path, &err) < 0)
    die(path, &err);
  for (int i = 0; i < n; i++) {
    size_t row = qora_row_size((int)t[i].type, (int64_t)t[i].ne[0]);
    float *x = malloc(t[i].ne[0] * sizeof *x);
    unsigned char *q = malloc(row);

    for (uint64_t r = 0; r < t[i].ne[1]; r++) {
      for (uint64_t c = 0; c < t[i].ne[0]; c++)
        x[c] = t[i].n_dims == 1 ? 1.0f : 0.1f * (float)sin((double)(r * 31 + c * 7 + i));
      qora_type_get((int)t[i].type)->from_float(x, q, (int64_t)t[i].ne[0]);
      if (gguf_writer_write(w, q, row, &err) < 0)
        die(t[i].name, &err);
    }
    free(x);
    free(q);
  }
  if (gguf_writer_finish(w, &err) < 0)
    die(path, &err);
  gguf_writer_free(w);
}


/* A vocabulary alone, as llama.cpp's vocab-*.gguf files are. */
static void write_vocab(const char *path) {
  qora_err err = {{0}};
  gguf_writer *w = gguf_writer_new(&err);

  if (gguf_writer_set_str(w, "general.architecture", "llama", &err) < 0)
    die(path, &err);
  add_vocab(w, &err);
  if (gguf_writer_begin(w, path, &err) < 0 || gguf_writer_finish(w, &err) < 0)
    die(path, &err);
  gguf_writer_free(w);
}


static void check_model(const char *path) {
  qora_err err = {{0}};
  qora_model *m = qora_model_load(path, &(qora_load_opts){ .n_threads = 1 }, &err);

  if (m == NULL)
    die(path, &err);
  qora_model_free(m);
}


/* --------------------------------------------------------------- safetensors */

static void write_st(const char *name, const char *json, size_t data_bytes) {
  size_t n = strlen(json);
  unsigned char *img = calloc(1, 8 + n + data_bytes);
  qora_err err = {{0}};
  st_file *f;

  for (int i = 0; i < 8; i++)
    img[i] = (unsigned char)((uint64_t)n >> (8 * i));
  memcpy(img + 8, json, n);
  for (size_t i = 0; i < data_bytes; i++)
    img[8 + n + i] = (unsigned char)(i * 37 + 1);
  f = st_open_memory(img, 8 + n + data_bytes, name, &err);
  if (f == NULL)
    die(name, &err);
  st_close(f);
  write_file(seed_path("fuzz_safetensors", name), img, 8 + n + data_bytes);
  free(img);
}


static void write_safetensors(void) {
  write_st("two.safetensors", "{\"__metadata__\":{\"format\":\"pt\"},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[8,16]}}", 16);
  write_st("kinds.safetensors", "{\"model.norm.weight\":{\"dtype\":\"F16\",\"shape\":[4],"
           "\"data_offsets\":[0,8]},\"ids\":{\"dtype\":\"I64\",\"shape\":[1,1],"
           "\"data_offsets\":[8,16]},\"empty\":{\"dtype\":\"U8\",\"shape\":[0],"
           "\"data_offsets\":[16,16]},\"f8\":{\"dtype\":\"F8_E4M3\",\"shape\":[3],"
           "\"data_offsets\":[16,19]}}      ", 19);
}


int main(int argc, char **argv) {
  static const shape f32 = { 8, 16, 2, 1, 4, QORA_F32 }, f16 = { 8, 8, 1, 1, 8, QORA_F16 };
  static const shape q4 = { 32, 32, 2, 1, 16, QORA_Q4_0 };
  const char *path;

  if (argc != 2) {
    fprintf(stderr, "usage: make_seeds SEED_DIR\n");
    return 2;
  }
  out_dir = argv[1];
  mkdir(out_dir, 0755);
  write_model(path = seed_path("fuzz_model_gguf", "tiny_f32.gguf"), &f32);
  check_model(path);
  write_model(path = seed_path("fuzz_model_gguf", "tiny_f16.gguf"), &f16);
  check_model(path);
  write_model(path = seed_path("fuzz_model_gguf", "tiny_q4_0.gguf"), &q4);
  check_model(path);
  write_model(seed_path("fuzz_gguf", "tiny_f32.gguf"), &f32);
  write_vocab(path = seed_path("fuzz_gguf", "vocab.gguf"));
  check_model(path);
  write_safetensors();
  return 0;
}
