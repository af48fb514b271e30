/*
** make_hf_checkpoint: writes a full-size SmolLM3-3B-shaped Hugging Face checkpoint folder with
** random BF16 weights (36 layers, hidden 2048, MLP 11008, 16 heads, 4 KV heads, 128,256-token
** vocabulary, tied embeddings: about 6.2 GB in two shards and an index, as the real model
** ships), for measuring what loading a real one costs; and measures it.
**
**   make_hf_checkpoint -v VOCAB.gguf -t TEMPLATE_DIR [-o DIR] [-s SEED]
**   make_hf_checkpoint -l DIR [-q QUANT] [-j THREADS]
**
** The first form writes DIR (default models/smollm3-3b-random-hf): config.json, the shards,
** model.safetensors.index.json, and a tokenizer.json with VOCAB.gguf's vocabulary (Llama 3's,
** shared/vectors/tokenizer/llama3-vocab.gguf; four reserved specials are renamed to SmolLM3's
** chat tokens) in the layout of TEMPLATE_DIR/tokenizer.json, whose tokenizer_config.json is
** copied as it is. Tensors lie in each shard sorted by name, as the safetensors library
** writes them. The second form loads DIR with qora_model_load and prints the peak resident
** memory of the process and the bytes of the converted weights.
**
** Weights have rms 1 / sqrt(inputs) (the matrices feeding the residual stream half that), the
** embedding rms 1, norms 1: a model that neither vanishes nor explodes, saying nothing.
*/
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"
#include "gguf.h"
#include "hf_config.h"
#include "quant.h"

enum { N_LAYER = 36, N_EMBD = 2048, N_HEAD = 16, N_HEAD_KV = 4, HEAD_DIM = 128, N_FF = 11008,
       N_VOCAB = 128256, N_CTX = 65536 };

#define MAX_TENSORS (N_LAYER * 9 + 2)
#define CHUNK (1 << 20)           /* values generated and written at a time */

typedef struct tdesc {
  char name[64];
  uint64_t rows, cols;      /* cols 0: a vector of rows values */
  double rms;               /* 0: a norm, all ones */
  int shard;
  uint64_t begin, end;      /* data_offsets inside the shard */
} tdesc;

static tdesc tensors[MAX_TENSORS];
static int n_tensors;


static int fail(const char *fmt, const char *arg) {
  fprintf(stderr, "make_hf_checkpoint: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  return 1;
}


/* ---------------------------------------------------------------- layout */

static void add(const char *name, uint64_t rows, uint64_t cols, double rms) {
  tdesc *t = &tensors[n_tensors++];

  snprintf(t->name, sizeof t->name, "%s", name);
  t->rows = rows;
  t->cols = cols;
  t->rms = rms;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const tdesc *)a)->name, ((const tdesc *)b)->name);
}

static uint64_t nbytes(const tdesc *t) {
  return t->rows * (t->cols ? t->cols : 1) * 2;
}

/* Every tensor of the model, sorted by name, split into two shards of about equal size. */
static void layout(void) {
  uint64_t total = 0, done = 0, offset = 0;
  char n[64];

  add("model.embed_tokens.weight", N_VOCAB, N_EMBD, 1.0);
  add("model.norm.weight", N_EMBD, 0, 0);
  for (int il = 0; il < N_LAYER; il++) {
#define NAME(s) (snprintf(n, sizeof n, "model.layers.%d." s, il), n)
    add(NAME("input_layernorm.weight"), N_EMBD, 0, 0);
    add(NAME("post_attention_layernorm.weight"), N_EMBD, 0, 0);
    add(NAME("self_attn.q_proj.weight"), N_HEAD * HEAD_DIM, N_EMBD, 1 / sqrt(N_EMBD));
    add(NAME("self_attn.k_proj.weight"), N_HEAD_KV * HEAD_DIM, N_EMBD, 1 / sqrt(N_EMBD));
    add(NAME("self_attn.v_proj.weight"), N_HEAD_KV * HEAD_DIM, N_EMBD, 1 / sqrt(N_EMBD));
    add(NAME("self_attn.o_proj.weight"), N_EMBD, N_HEAD * HEAD_DIM, 0.5 / sqrt(N_EMBD));
    add(NAME("mlp.gate_proj.weight"), N_FF, N_EMBD, 1 / sqrt(N_EMBD));
    add(NAME("mlp.up_proj.weight"), N_FF, N_EMBD, 1 / sqrt(N_EMBD));
    add(NAME("mlp.down_proj.weight"), N_EMBD, N_FF, 0.5 / sqrt(N_FF));
#undef NAME
  }
  qsort(tensors, (size_t)n_tensors, sizeof *tensors, by_name);
  for (int i = 0; i < n_tensors; i++)
    total += nbytes(&tensors[i]);
  for (int i = 0; i < n_tensors; i++) {
    tensors[i].shard = done >= total / 2 ? 2 : 1;
    if (i > 0 && tensors[i].shard != tensors[i - 1].shard)
      offset = 0;
    tensors[i].begin = offset;
    tensors[i].end = offset += nbytes(&tensors[i]);
    done += nbytes(&tensors[i]);
  }
}


/* ---------------------------------------------------------------- shards */

/* The JSON header of one shard, padded with spaces to a multiple of 8 bytes. */
static char *shard_header(int shard, uint64_t *len) {
  cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "__metadata__");
  char *text, *padded;
  size_t n;

  cJSON_AddStringToObject(meta, "format", "pt");
  for (int i = 0; i < n_tensors; i++) {
    const tdesc *t = &tensors[i];
    cJSON *e;
    if (t->shard != shard)
      continue;
    e = cJSON_AddObjectToObject(root, t->name);
    cJSON_AddStringToObject(e, "dtype", "BF16");
    cJSON *shape = cJSON_AddArrayToObject(e, "shape"), *offs;
    cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->rows));
    if (t->cols)
      cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->cols));
    offs = cJSON_AddArrayToObject(e, "data_offsets");
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)t->begin));
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)t->end));
  }
  text = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  n = strlen(text);
  padded = malloc(n + 8);
  memcpy(padded, text, n);
  while (n % 8)
    padded[n++] = ' ';
  free(text);
  *len = n;
  return padded;
}

/* Values uniform in [-a, a] have rms a / sqrt(3). */
static int write_tensor(FILE *f, const tdesc *t, qora_rng *r, qora_bf16 *buf) {
  uint64_t n = t->rows * (t->cols ? t->cols : 1);
  double a = t->rms * sqrt(3.0);

  for (uint64_t done = 0; done < n;) {
    size_t k = n - done < CHUNK ? (size_t)(n - done) : CHUNK;
    for (size_t i = 0; i < k; i++) {
      double u = qora_rng_uniform(r);
      buf[i] = qora_f32_to_bf16(t->rms > 0 ? (float)((2 * u - 1) * a) : 1.0f);
    }
    if (fwrite(buf, 2, k, f) != k)
      return -1;
    done += k;
  }
  return 0;
}

static int write_shard(const char *dir, int shard, qora_rng *r) {
  char path[512];
  uint64_t len;
  char *header = shard_header(shard, &len);
  qora_bf16 *buf = malloc(CHUNK * sizeof *buf);
  FILE *f;
  int rc = 0;

  snprintf(path, sizeof path, "%s/model-0000%d-of-00002.safetensors", dir, shard);
  f = fopen(path, "wb");
  if (f == NULL || buf == NULL || fwrite(&len, 8, 1, f) != 1 || fwrite(header, 1, len, f) != len)
    rc = -1;
  for (int i = 0; i < n_tensors && rc == 0; i++)
    if (tensors[i].shard == shard)
      rc = write_tensor(f, &tensors[i], r, buf);
  if (f != NULL && fclose(f) != 0)
    rc = -1;
  free(header);
  free(buf);
  return rc ? fail("cannot write %s", path) : 0;
}


/* ---------------------------------------------------------------- JSON files */

static int write_json(const char *dir, const char *name, cJSON *root) {
  char path[512], *text = cJSON_Print(root);
  FILE *f;
  int ok;

  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "wb");
  ok = f && text && fputs(text, f) >= 0;
  ok &= f && fclose(f) == 0;
  free(text);
  cJSON_Delete(root);
  return ok ? 0 : fail("cannot write %s", path);
}

static int write_index(const char *dir) {
  cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "metadata");
  cJSON *map = cJSON_AddObjectToObject(root, "weight_map");
  uint64_t total = 0;

  for (int i = 0; i < n_tensors; i++) {
    total += nbytes(&tensors[i]);
    cJSON_AddStringToObject(map, tensors[i].name, tensors[i].shard == 1 ?
                            "model-00001-of-00002.safetensors" :
                            "model-00002-of-00002.safetensors");
  }
  cJSON_AddNumberToObject(meta, "total_size", (double)total);
  return write_json(dir, "model.safetensors.index.json", root);
}

/* SmolLM3-3B's config.json, with its sizes. */
static int write_config(const char *dir) {
  cJSON *root = cJSON_CreateObject(), *arch = cJSON_AddArrayToObject(root, "architectures");

  cJSON_AddItemToArray(arch, cJSON_CreateString("SmolLM3ForCausalLM"));
  cJSON_AddStringToObject(root, "model_type", "smollm3");
  cJSON_AddNumberToObject(root, "hidden_size", N_EMBD);
  cJSON_AddNumberToObject(root, "intermediate_size", N_FF);
  cJSON_AddNumberToObject(root, "num_hidden_layers", N_LAYER);
  cJSON_AddNumberToObject(root, "num_attention_heads", N_HEAD);
  cJSON_AddNumberToObject(root, "num_key_value_heads", N_HEAD_KV);
  cJSON_AddNumberToObject(root, "vocab_size", N_VOCAB);
  cJSON_AddNumberToObject(root, "max_position_embeddings", N_CTX);
  cJSON_AddNumberToObject(root, "rope_theta", 5000000.0);
  cJSON_AddNumberToObject(root, "rms_norm_eps", 1e-6);
  cJSON_AddNumberToObject(root, "no_rope_layer_interval", 4);
  cJSON_AddBoolToObject(root, "tie_word_embeddings", 1);
  cJSON_AddStringToObject(root, "hidden_act", "silu");
  cJSON_AddStringToObject(root, "torch_dtype", "bfloat16");
  return write_json(dir, "config.json", root);
}


/* ---------------------------------------------------------------- tokenizer */

static const char *const renamed[][2] = {
  {"<|reserved_special_token_2|>", "<|im_start|>"}, {"<|reserved_special_token_3|>", "<|im_end|>"},
  {"<|reserved_special_token_4|>", "<think>"}, {"<|reserved_special_token_5|>", "</think>"},
};

static char *token_text(gguf_str s) {
  char *t = malloc(s.len + 1);

  memcpy(t, s.ptr, s.len);
  t[s.len] = '\0';
  for (size_t i = 0; i < sizeof renamed / sizeof *renamed; i++)
    if (strcmp(t, renamed[i][0]) == 0) {
      free(t);
      return strdup(renamed[i][1]);
    }
  return t;
}

static cJSON *added_token(int id, const char *text) {
  cJSON *e = cJSON_CreateObject();

  cJSON_AddNumberToObject(e, "id", id);
  cJSON_AddStringToObject(e, "content", text);
  cJSON_AddBoolToObject(e, "single_word", 0);
  cJSON_AddBoolToObject(e, "lstrip", 0);
  cJSON_AddBoolToObject(e, "rstrip", 0);
  cJSON_AddBoolToObject(e, "normalized", 0);
  cJSON_AddBoolToObject(e, "special", 1);
  return e;
}

/* Fills the template's model.vocab, model.merges and added_tokens from the vocabulary GGUF. */
static int fill_tokenizer(cJSON *root, const gguf_file *g) {
  const gguf_kv *tok = gguf_find(g, "tokenizer.ggml.tokens");
  const gguf_kv *types = gguf_find(g, "tokenizer.ggml.token_type");
  const gguf_kv *merges = gguf_find(g, "tokenizer.ggml.merges");
  cJSON *model = cJSON_GetObjectItem(root, "model"), *vocab = cJSON_CreateObject();
  cJSON *mlist = cJSON_CreateArray(), *added = cJSON_CreateArray();
  gguf_str *s;

  if (!tok || !types || !merges || !model || tok->n != N_VOCAB)
    return fail("%s", "the vocabulary GGUF lacks tokens, types or merges of 128256 tokens");
  s = malloc((tok->n > merges->n ? tok->n : merges->n) * sizeof *s);
  gguf_str_array(tok, s, NULL);
  for (uint64_t i = 0; i < tok->n; i++) {
    char *t = token_text(s[i]);
    if (gguf_arr_int(types, i) == 3)
      cJSON_AddItemToArray(added, added_token((int)i, t));
    else
      cJSON_AddNumberToObject(vocab, t, (double)i);
    free(t);
  }
  gguf_str_array(merges, s, NULL);
  for (uint64_t i = 0; i < merges->n; i++) {
    char *m = token_text(s[i]), *sp = strchr(m, ' ');
    cJSON *pair = cJSON_CreateArray();
    *sp = '\0';
    cJSON_AddItemToArray(pair, cJSON_CreateString(m));
    cJSON_AddItemToArray(pair, cJSON_CreateString(sp + 1));
    cJSON_AddItemToArray(mlist, pair);
    free(m);
  }
  free(s);
  cJSON_ReplaceItemInObject(model, "vocab", vocab);
  cJSON_ReplaceItemInObject(model, "merges", mlist);
  cJSON_ReplaceItemInObject(root, "added_tokens", added);
  return 0;
}

static int write_tokenizer(const char *dir, const char *vocab_path, const char *tmpl_dir) {
  char path[512];
  size_t len;
  qora_err err;
  gguf_file *g = gguf_open(vocab_path, &err);
  char *text, *cfg;
  cJSON *root;
  int rc;

  if (g == NULL)
    return fail("%s", err.msg);
  snprintf(path, sizeof path, "%s/tokenizer.json", tmpl_dir);
  text = qora_read_file(path, 64u << 20, &len, &err);
  snprintf(path, sizeof path, "%s/tokenizer_config.json", tmpl_dir);
  cfg = qora_read_file(path, 64u << 20, &len, &err);
  root = text ? cJSON_Parse(text) : NULL;
  rc = root && cfg ? fill_tokenizer(root, g) : fail("%s", err.msg);
  if (rc == 0)
    rc = write_json(dir, "tokenizer.json", root);
  else
    cJSON_Delete(root);
  if (rc == 0)
    rc = write_json(dir, "tokenizer_config.json", cJSON_Parse(cfg));
  free(text);
  free(cfg);
  gguf_close(g);
  return rc;
}


/* ---------------------------------------------------------------- measuring */

static double seconds(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int measure(const char *dir, const char *quant, int threads) {
  qora_load_opts o = { .n_threads = threads, .quant = quant, .progress = 1 };
  qora_err err;
  struct rusage ru;
  double t0 = seconds(), t1;
  qora_model *m = qora_model_load(dir, &o, &err);
  const qora_model_info *in;

  if (m == NULL)
    return fail("%s", err.msg);
  t1 = seconds();
  getrusage(RUSAGE_SELF, &ru);
  in = qora_model_get_info(m);
  printf("loaded %s as %s with %d threads in %.1f s\n", dir, quant ? quant : "q4_0 (default)",
         qora_model_threads(m), t1 - t0);
  printf("weights: %.3f GB (%llu parameters)\n", in->weight_bytes / 1e9,
         (unsigned long long)in->n_params);
  printf("peak RSS: %.3f GB (%.3f GB above the weights)\n", ru.ru_maxrss * 1024 / 1e9,
         (ru.ru_maxrss * 1024.0 - (double)in->weight_bytes) / 1e9);
  qora_model_free(m);
  return 0;
}


int main(int argc, char **argv) {
  const char *out = "models/smollm3-3b-random-hf", *vocab = NULL, *tmpl = NULL, *load = NULL;
  const char *quant = NULL;
  int threads = 0;
  uint64_t s = 1;
  qora_rng r;

  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "-o") == 0) out = argv[i + 1];
    else if (strcmp(argv[i], "-v") == 0) vocab = argv[i + 1];
    else if (strcmp(argv[i], "-t") == 0) tmpl = argv[i + 1];
    else if (strcmp(argv[i], "-s") == 0) s = strtoull(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "-l") == 0) load = argv[i + 1];
    else if (strcmp(argv[i], "-q") == 0) quant = argv[i + 1];
    else if (strcmp(argv[i], "-j") == 0) threads = atoi(argv[i + 1]);
    else return fail("unknown option %s", argv[i]);
  }
  if (load)
    return measure(load, quant, threads);
  if (vocab == NULL || tmpl == NULL)
    return fail("%s", "usage: make_hf_checkpoint -v VOCAB.gguf -t TEMPLATE_DIR [-o DIR] "
                "[-s SEED] | -l DIR [-q QUANT] [-j THREADS]");
  if (mkdir(out, 0755) != 0 && errno != EEXIST)
    return fail("cannot make %s", out);
  qora_rng_seed(&r, s);
  layout();
  if (write_config(out) || write_index(out) || write_tokenizer(out, vocab, tmpl) ||
      write_shard(out, 1, &r) || write_shard(out, 2, &r))
    return 1;
  printf("wrote %s\n", out);
  return 0;
}
