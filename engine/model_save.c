/*
** model_save.c: a loaded model written as a GGUF v3 file that qora maps back and llama.cpp
** loads: llama.cpp's metadata keys for the smollm3 and llama architectures, the byte-level
** BPE vocabulary as tokenizer.ggml.*, the chat template (and a GGUF source's named ones), and
** every weight in the type it was loaded in (so a folder converted once to Q4_0 loads next time
** without converting).
**
** Two things llama.cpp has no key for are written under extra keys that it ignores and qora
** reads (model_gguf.c): a SmolLM3 list of RoPE layers that is not the every-fourth default
** (<arch>.no_rope_layers), and YaRN settings of other architectures' keys that llama.cpp
** reads for some architectures only (rope.scaling.yarn_beta_fast / yarn_beta_slow).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "err.h"
#include "fileio.h"
#include "gguf_write.h"
#include "model.h"
#include "quant.h"
#include "repack.h"
#include "tok_internal.h"
#include "tokenizer.h"

#define KEY_MAX 96
#define YARN_BETA_FAST 32.0f
#define YARN_BETA_SLOW 1.0f

/* llama.cpp's general.file_type for a file mostly of one type (a label; readers use each
** tensor's own type). */
static int file_type(int type) {
  switch (type) {
  case QORA_F32: return 0;
  case QORA_F16: return 1;
  case QORA_Q4_0: return 2;
  case QORA_Q4_1: return 3;
  case QORA_Q8_0: return 7;
  case QORA_Q4_K: return 15;      /* Q4_K_M */
  case QORA_Q5_K: return 17;      /* Q5_K_M */
  case QORA_Q6_K: return 18;
  case QORA_BF16: return 32;
  default: return -1;
  }
}


/* ================================================================ architecture */

typedef struct saver {
  const qora_model *m;
  gguf_writer *w;
  qora_err *err;
} saver;


static int set_u32(saver *s, const char *suffix, uint32_t v) {
  char key[KEY_MAX];

  snprintf(key, sizeof key, "%s.%s", s->m->info.arch, suffix);
  return gguf_writer_set_u32(s->w, key, v, s->err);
}


static int set_f32(saver *s, const char *suffix, float v) {
  char key[KEY_MAX];

  snprintf(key, sizeof key, "%s.%s", s->m->info.arch, suffix);
  return gguf_writer_set_f32(s->w, key, v, s->err);
}


/* The type most weight matrices have (type_counts counts the F32 norms too). */
static int main_type(const qora_model_info *in) {
  int best = QORA_F32, most = in->type_counts[QORA_F32] - (2 * in->n_layer + 1);

  for (int t = 0; t < QORA_TYPE_COUNT; t++)
    if (t != QORA_F32 && in->type_counts[t] > most) {
      best = t;
      most = in->type_counts[t];
    }
  return best;
}


/* 1 when key is one of the n names at own. */
static int one_of(gguf_str key, const char *const *own, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (gguf_str_eq(key, own[i]))
      return 1;
  return 0;
}


/*
** The source GGUF's keys under prefix that the saver does not write itself (the n names at
** own) go into the saved file as they were.
*/
static int copy_others(saver *s, const char *prefix, const char *const *own, size_t n) {
  const gguf_file *f = s->m->gguf;
  size_t len = strlen(prefix);

  for (uint64_t i = 0; f != NULL && i < f->n_kv; i++) {
    const gguf_kv *kv = &f->kv[i];
    if (kv->key.len > len && memcmp(kv->key.ptr, prefix, len) == 0 &&
        !one_of(kv->key, own, n) && gguf_writer_copy_kv(s->w, kv, s->err) < 0)
      return -1;
  }
  return 0;
}


/*
** The general.* keys besides those write_general sets or that describe the source's own layout
** (license, languages, author, ...): a converted copy keeps saying whose model it is and
** under what terms.
*/
static int copy_general(saver *s) {
  static const char *const own[] = { "general.architecture", "general.name",
                                     "general.quantization_version", "general.file_type",
                                     "general.alignment" };

  return copy_others(s, "general.", own, sizeof own / sizeof *own);
}


static int write_general(saver *s) {
  const qora_model_info *in = &s->m->info;
  int ft = file_type(main_type(in));

  if (gguf_writer_set_str(s->w, "general.architecture", in->arch, s->err) < 0 ||
      (in->name[0] && gguf_writer_set_str(s->w, "general.name", in->name, s->err) < 0) ||
      gguf_writer_set_u32(s->w, "general.quantization_version", 2, s->err) < 0 ||
      copy_general(s) < 0)
    return -1;
  return ft >= 0 ? gguf_writer_set_u32(s->w, "general.file_type", (uint32_t)ft, s->err) : 0;
}


/* YaRN as llama.cpp reads it: type, factor, original context; the rest only when not the
** defaults. attn_factor multiplies YaRN's own 0.1 ln(factor) + 1 in llama.cpp. */
static int write_yarn(saver *s) {
  const qora_rope_cfg *c = &s->m->rope.cfg;
  char key[KEY_MAX];
  float def_mscale = (float)(0.1 * log(c->yarn_factor) + 1.0);

  snprintf(key, sizeof key, "%s.rope.scaling.type", s->m->info.arch);
  if (gguf_writer_set_str(s->w, key, "yarn", s->err) < 0 ||
      set_f32(s, "rope.scaling.factor", c->yarn_factor) < 0 ||
      set_u32(s, "rope.scaling.original_context_length", (uint32_t)c->yarn_orig_ctx) < 0)
    return -1;
  if (c->yarn_beta_fast != YARN_BETA_FAST &&
      set_f32(s, "rope.scaling.yarn_beta_fast", c->yarn_beta_fast) < 0)
    return -1;
  if (c->yarn_beta_slow != YARN_BETA_SLOW &&
      set_f32(s, "rope.scaling.yarn_beta_slow", c->yarn_beta_slow) < 0)
    return -1;
  if (fabsf(c->yarn_mscale - def_mscale) > 1e-6f * def_mscale &&
      set_f32(s, "rope.scaling.attn_factor", c->yarn_mscale / def_mscale) < 0)
    return -1;
  return 0;
}


/* The RoPE layers, when they are not what llama.cpp assumes for the architecture. */
static int write_no_rope(saver *s) {
  const qora_model_info *in = &s->m->info;
  int smollm3 = strcmp(in->arch, "smollm3") == 0, plain = 1;
  int32_t list[QORA_MAX_LAYERS];
  char key[KEY_MAX];

  for (int il = 0; il < in->n_layer; il++) {
    list[il] = s->m->layers[il].use_rope;
    plain &= list[il] == (!smollm3 || (il + 1) % 4 != 0);
  }
  if (plain)
    return 0;
  snprintf(key, sizeof key, "%s.no_rope_layers", in->arch);
  return gguf_writer_set_arr(s->w, key, GGUF_I32, list, (uint64_t)in->n_layer, s->err);
}


static int write_hparams(saver *s) {
  const qora_model_info *in = &s->m->info;

  if (set_u32(s, "context_length", (uint32_t)in->n_ctx_train) < 0 ||
      set_u32(s, "embedding_length", (uint32_t)in->n_embd) < 0 ||
      set_u32(s, "block_count", (uint32_t)in->n_layer) < 0 ||
      set_u32(s, "feed_forward_length", (uint32_t)in->n_ff) < 0 ||
      set_u32(s, "attention.head_count", (uint32_t)in->n_head) < 0 ||
      set_u32(s, "attention.head_count_kv", (uint32_t)in->n_head_kv) < 0 ||
      set_u32(s, "rope.dimension_count", (uint32_t)in->head_dim) < 0 ||
      set_u32(s, "vocab_size", (uint32_t)in->n_vocab) < 0 ||
      set_f32(s, "rope.freq_base", in->rope_theta) < 0 ||
      set_f32(s, "attention.layer_norm_rms_epsilon", in->norm_eps) < 0)
    return -1;
  if (in->head_dim * in->n_head != in->n_embd &&
      (set_u32(s, "attention.key_length", (uint32_t)in->head_dim) < 0 ||
       set_u32(s, "attention.value_length", (uint32_t)in->head_dim) < 0))
    return -1;
  if (s->m->rope.cfg.yarn_factor > 1.0f && write_yarn(s) < 0)
    return -1;
  return write_no_rope(s);
}


/* ================================================================== tokenizer */

/* llama.cpp's name for the pre-tokenizer qora runs (tok_gguf.c reads the same names back). */
static const char *pre_name(const qora_tokenizer *tk) {
  if (tk->n_steps == 1 && tk->steps[0] == TOK_STEP_LLAMA3)
    return tk->ignore_merges ? "llama-bpe" : "smaug-bpe";
  if (tk->ignore_merges)
    return NULL;
  if (tk->n_steps == 2 && tk->steps[0] == TOK_STEP_DIGITS && tk->steps[1] == TOK_STEP_GPT2)
    return "smollm";
  if (tk->n_steps == 1 && tk->steps[0] == TOK_STEP_GPT2)
    return "gpt-2";
  return NULL;
}


static int by_rank(const void *a, const void *b) {
  const tok_merge *x = a, *y = b;

  return (x->rank > y->rank) - (x->rank < y->rank);
}


/* The merges as "left right" texts, in rank order, from the tokenizer's pair table. */
static int write_merges(saver *s, const qora_tokenizer *tk) {
  uint64_t n = 0, cap = tk->merges.mask + 1;
  tok_merge *all = malloc((cap ? cap : 1) * sizeof *all);
  char **strs = NULL;
  int rc = -1;

  for (uint64_t i = 0; all && tk->merges.slot && i < cap; i++)
    if (tk->merges.slot[i].key != TOK_NO_KEY)
      all[n++] = tk->merges.slot[i];
  if (all != NULL)
    qsort(all, n, sizeof *all, by_rank);
  strs = all ? calloc(n ? n : 1, sizeof *strs) : NULL;
  for (uint64_t i = 0; strs && i < n; i++) {
    uint32_t l = (uint32_t)(all[i].key >> 32), r = (uint32_t)all[i].key;
    const char *lt = tk->text + tk->text_off[l], *rt = tk->text + tk->text_off[r];
    size_t len = strlen(lt) + strlen(rt) + 2;

    if ((strs[i] = malloc(len)) == NULL)
      break;
    snprintf(strs[i], len, "%s %s", lt, rt);
  }
  if (strs && (n == 0 || strs[n - 1] != NULL))
    rc = gguf_writer_set_str_arr(s->w, "tokenizer.ggml.merges", (const char *const *)strs,
                                 NULL, n, s->err);
  else
    qora_fail(s->err, "out of memory for the merges");
  for (uint64_t i = 0; strs && i < n; i++)
    free(strs[i]);
  free(strs);
  free(all);
  return rc;
}


/*
** Token texts and types. A folder's tokenizer arrives padded to the embedding's rows with
** unused "[PAD<id>]" tokens (tok_hf.c), as llama.cpp's converter pads it; a GGUF's has a token
** per row: so there is one token per row here.
*/
static int write_tokens(saver *s, const qora_tokenizer *tk) {
  int n = tk->n_vocab;
  const char **strs = calloc((size_t)n, sizeof *strs);
  uint64_t *lens = calloc((size_t)n, sizeof *lens);
  int32_t *types = calloc((size_t)n, sizeof *types);
  int rc;

  if (n != s->m->info.n_vocab)
    rc = qora_fail(s->err, "the vocabulary has %d tokens for %d embedding rows", n,
                   s->m->info.n_vocab);
  else if (strs == NULL || lens == NULL || types == NULL)
    rc = qora_fail(s->err, "out of memory for the vocabulary");
  else {
    for (int i = 0; i < n; i++) {
      strs[i] = tk->text + tk->text_off[i];
      lens[i] = tok_text_len(tk, i);
      types[i] = tk->type[i];
    }
    rc = gguf_writer_set_str_arr(s->w, "tokenizer.ggml.tokens", strs, lens, (uint64_t)n,
                                 s->err) < 0 ||
         gguf_writer_set_arr(s->w, "tokenizer.ggml.token_type", GGUF_I32, types, (uint64_t)n,
                             s->err) < 0 ? -1 : 0;
  }
  free(strs);
  free(lens);
  free(types);
  return rc;
}


static int set_id(saver *s, const char *key, int32_t id) {
  return id < 0 ? 0 : gguf_writer_set_u32(s->w, key, (uint32_t)id, s->err);
}


/*
** The tokenizer.ggml.* keys write_tokenizer does not set (unknown_token_id, padding_token_id,
** add_space_prefix, ...), which qora does not use but llama.cpp may. Their ids still hold:
** the vocabulary of a GGUF source is written back in its order, unpadded.
*/
static int copy_tokenizer(saver *s) {
  static const char *const own[] = {
    "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
    "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.eom_token_id", "tokenizer.ggml.add_bos_token"
  };

  return copy_others(s, "tokenizer.ggml.", own, sizeof own / sizeof *own);
}


/* A folder's other named templates (tokenizer_config.json), as llama.cpp's converter writes. */
static int write_named_templates(saver *s) {
  const char *name, *text, **names;
  char key[320];
  size_t len;
  int n = 0, rc = 0;

  while (qora_tokenizer_named_template(s->m->tok, n, &name, &len))
    n++;
  if (n == 0)
    return 0;
  if ((names = malloc((size_t)n * sizeof *names)) == NULL)
    return qora_fail(s->err, "out of memory for the names of chat templates");
  for (int i = 0; i < n && rc == 0; i++) {
    text = qora_tokenizer_named_template(s->m->tok, i, &names[i], &len);
    if (strlen(names[i]) > 256)
      rc = qora_fail(s->err, "tokenizer_config.json: a chat template's name is longer than 256 "
                     "characters (%.32s...); shorten it to save the model", names[i]);
    else if (snprintf(key, sizeof key, "tokenizer.chat_template.%s", names[i]) > 0)
      rc = gguf_writer_set_strn(s->w, key, text, len, s->err);
  }
  if (rc == 0)
    rc = gguf_writer_set_str_arr(s->w, "tokenizer.chat_templates", names, NULL, (uint64_t)n,
                                 s->err);
  free(names);
  return rc < 0 ? -1 : 0;
}


/*
** llama.cpp's named chat templates (tokenizer.chat_template.<name>, such as tool_use) and the
** list of their names (tokenizer.chat_templates): qora renders its own templates, but
** llama.cpp offers these by name.
*/
static int copy_named_templates(saver *s) {
  const gguf_kv *names = s->m->gguf ? gguf_find(s->m->gguf, "tokenizer.chat_templates") : NULL;

  if (s->m->gguf == NULL)
    return write_named_templates(s);
  if (copy_others(s, "tokenizer.chat_template.", NULL, 0) < 0)
    return -1;
  return names ? gguf_writer_copy_kv(s->w, names, s->err) : 0;
}


static int write_tokenizer(saver *s) {
  const qora_tokenizer *tk = s->m->tok;
  const char *pre = pre_name(tk), *tmpl;
  size_t len = 0;

  if (pre == NULL)
    return qora_fail(s->err, "the tokenizer's pre-tokenizer has no name llama.cpp knows, so "
                     "a GGUF could not describe it; this model cannot be saved");
  if (gguf_writer_set_str(s->w, "tokenizer.ggml.model", "gpt2", s->err) < 0 ||
      gguf_writer_set_str(s->w, "tokenizer.ggml.pre", pre, s->err) < 0 ||
      write_tokens(s, tk) < 0 || write_merges(s, tk) < 0 ||
      set_id(s, "tokenizer.ggml.bos_token_id", tk->bos) < 0 ||
      set_id(s, "tokenizer.ggml.eos_token_id", tk->eos) < 0 ||
      set_id(s, "tokenizer.ggml.eot_token_id", tk->eot) < 0 ||
      set_id(s, "tokenizer.ggml.eom_token_id", tk->eom) < 0 ||
      gguf_writer_set_bool(s->w, "tokenizer.ggml.add_bos_token", tk->add_bos, s->err) < 0 ||
      copy_tokenizer(s) < 0)
    return -1;
  tmpl = qora_tokenizer_chat_template(tk, &len);
  if (tmpl && gguf_writer_set_strn(s->w, "tokenizer.chat_template", tmpl, len, s->err) < 0)
    return -1;
  return copy_named_templates(s);
}


/* ==================================================================== tensors */

/* One tensor to write: its name, type, shape [cols, rows] and bytes in memory. */
typedef struct out_tensor {
  char name[64];
  int type;
  uint64_t ne[2];
  int n_dims;
  const void *data;
  const qora_weight *w;     /* a matrix held only in the r16 layout (data NULL), or NULL */
  uint64_t nbytes;
} out_tensor;


static void add_matrix(out_tensor *t, int *n, const char *name, const qora_weight *w) {
  out_tensor *o = &t[(*n)++];

  snprintf(o->name, sizeof o->name, "%s", name);
  o->type = w->type;
  o->ne[0] = (uint64_t)w->cols;
  o->ne[1] = (uint64_t)w->rows;
  o->n_dims = 2;
  o->data = w->data;
  o->w = w->data ? NULL : w;
  o->nbytes = (uint64_t)w->rows * w->row_bytes;
}


static void add_norm(out_tensor *t, int *n, const char *name, const float *v, int len) {
  out_tensor *o = &t[(*n)++];

  snprintf(o->name, sizeof o->name, "%s", name);
  o->type = QORA_F32;
  o->ne[0] = (uint64_t)len;
  o->ne[1] = 1;
  o->n_dims = 1;
  o->data = v;
  o->nbytes = (uint64_t)len * sizeof *v;
}


/* Every tensor, in llama.cpp's order; returns the count. t holds 9 per layer + 3. */
static int list_tensors(const qora_model *m, out_tensor *t) {
  const qora_model_info *in = &m->info;
  char name[64];
  int n = 0;

  /* A tied table is the LM head's: a folder's is only in the head's repacked copy then. */
  add_matrix(t, &n, "token_embd.weight", in->tied_embeddings ? &m->output : &m->tok_embd);
  for (int il = 0; il < in->n_layer; il++) {
    const qora_layer *l = &m->layers[il];
#define NAME(s) (snprintf(name, sizeof name, "blk.%d." s, il), name)
    add_norm(t, &n, NAME("attn_norm.weight"), l->attn_norm, in->n_embd);
    add_matrix(t, &n, NAME("attn_q.weight"), &l->wq);
    add_matrix(t, &n, NAME("attn_k.weight"), &l->wk);
    add_matrix(t, &n, NAME("attn_v.weight"), &l->wv);
    add_matrix(t, &n, NAME("attn_output.weight"), &l->wo);
    add_norm(t, &n, NAME("ffn_norm.weight"), l->ffn_norm, in->n_embd);
    add_matrix(t, &n, NAME("ffn_gate.weight"), &l->w_gate);
    add_matrix(t, &n, NAME("ffn_up.weight"), &l->w_up);
    add_matrix(t, &n, NAME("ffn_down.weight"), &l->w_down);
#undef NAME
  }
  add_norm(t, &n, "output_norm.weight", m->output_norm, in->n_embd);
  if (!in->tied_embeddings)
    add_matrix(t, &n, "output.weight", &m->output);
  return n;
}


/* A matrix freed after repacking (repack.h), written row by row in its stored layout. */
static int write_r16(saver *s, const qora_weight *w) {
  uint8_t *row = malloc(w->row_bytes);
  int rc = 0;

  if (row == NULL)
    return qora_fail(s->err, "out of memory");
  for (int64_t r = 0; r < w->rows && rc == 0; r++) {
    qora_r16_row(w, r, row);
    rc = gguf_writer_write(s->w, row, w->row_bytes, s->err);
  }
  free(row);
  return rc;
}


static int write_tensors(saver *s, const char *path) {
  out_tensor *t = calloc((size_t)s->m->info.n_layer * 9 + 3, sizeof *t);
  int n, rc = 0;

  if (t == NULL)
    return qora_fail(s->err, "out of memory");
  n = list_tensors(s->m, t);
  for (int i = 0; i < n && rc == 0; i++)
    rc = gguf_writer_add_tensor(s->w, t[i].name, (uint32_t)t[i].type, (uint32_t)t[i].n_dims,
                                t[i].ne, t[i].nbytes, s->err);
  if (rc == 0)
    rc = gguf_writer_begin(s->w, path, s->err);
  for (int i = 0; i < n && rc == 0; i++)
    rc = t[i].w ? write_r16(s, t[i].w)
                : gguf_writer_write(s->w, t[i].data, (size_t)t[i].nbytes, s->err);
  if (rc == 0)
    rc = gguf_writer_finish(s->w, s->err);
  free(t);
  return rc;
}


/* ====================================================================== entry */

/*
** The extensions of the formats a saved file could be taken for. The checkpoint's own files
** that qora reads (shards, config.json, tokenizer files) all end in one.
*/
static const char *const OTHER_FORMATS[] = { ".safetensors", ".json", ".bin", ".pt", ".pth" };

/* 1 when a and b are the same folder. */
static int same_folder(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}


/*
** 1 when path is a file of folder other than a GGUF one: besides the files qora reads, a
** folder holds what other tools read (tokenizer.model, merges.txt, README.md), which a save
** must not destroy either.
*/
static int in_folder(const char *path, const char *folder) {
  const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
  size_t n = strlen(base);
  char *dir;
  int clash;

  if (folder == NULL || !qora_exists(path) || (n > 5 && !strcasecmp(base + n - 5, ".gguf")))
    return 0;
  dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
  clash = dir != NULL && same_folder(dir, folder);
  free(dir);
  return clash;
}


int qora_save_path_check(const char *path, const char *folder, qora_err *err) {
  size_t n = path ? strlen(path) : 0;

  if (path != NULL && n == 0)     /* as the writer says it, before a conversion */
    return qora_fail(err, "no file name given (an empty path); give one such as model.gguf");
  for (size_t i = 0; i < sizeof OTHER_FORMATS / sizeof OTHER_FORMATS[0]; i++) {
    size_t k = strlen(OTHER_FORMATS[i]);
    if (n >= k && strcasecmp(path + n - k, OTHER_FORMATS[i]) == 0)
      return qora_fail(err, "cannot save to %s: qora writes a GGUF file, and a name ending in "
                       "%.*s says another format; give a name ending in .gguf, such as "
                       "model.gguf", path, (int)k, path + n - k);
  }
  if (path != NULL && in_folder(path, folder))
    return qora_fail(err, "cannot save to %s: it is a file of the checkpoint folder this model "
                     "was loaded from, which saving would destroy; give a new name ending in "
                     ".gguf, such as model.gguf", path);
  if (path != NULL && gguf_writer_check_target(path, err) != 0)
    return -1;
  return 0;
}


int qora_model_save(const qora_model *m, const char *path, qora_err *err) {
  saver s = { m, NULL, err };
  int rc;

  if (m == NULL || path == NULL)
    return qora_fail(err, "no model or no path to save to");
  if (!m->info.has_weights)
    return qora_fail(err, "%s: a vocabulary without weights (the file has no tensors); there "
                     "is nothing to save", m->gguf ? m->gguf->path : "model");
  if (qora_save_path_check(path, m->folder, err) < 0)
    return -1;
  /* TODO(rope-save): linear and llama3 scaling (llama.cpp: rope.scaling.type linear, and a
  ** rope_freqs.weight tensor) are not written; such folders run, but are not saved. */
  if (m->rope.not_gguf != NULL)
    return qora_fail(err, "cannot save this model as GGUF: qora's GGUF reader could not read "
                     "back its %s, so the file would load with other RoPE settings; load the "
                     "checkpoint folder itself instead (qora converts it at each load)",
                     m->rope.not_gguf);
  s.w = gguf_writer_new(err);
  if (s.w == NULL)
    return -1;
  rc = write_general(&s) < 0 || write_hparams(&s) < 0 || write_tokenizer(&s) < 0 ||
       write_tensors(&s, path) < 0 ? -1 : 0;
  gguf_writer_free(s.w);
  return rc;
}
