/*
** hf_util.h: what the Hugging Face checkpoint tests share: reading the fixtures' prompt ids and
** transformers' logits, running a prompt, comparing logits, and copying a fixture folder into
** a scratch folder where a test may damage it.
*/
#ifndef QORA_HF_UTIL_H
#define QORA_HF_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture_io.h"
#include "qora.h"
#include "tap.h"

#define FIX "spec/fixtures/hf/"
#define MAX_IDS 1024

static const char *const prompts[] = { "story", "chat", "code" };

static int spit(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  int ok = f && fwrite(data, 1, n, f) == n;

  if (f)
    ok &= fclose(f) == 0;
  return ok ? 0 : -1;
}

/* The ids of a fixture prompt (one per line); returns how many, 0 on failure. */
static int read_ids(const char *prompt, int32_t *ids) {
  char path[256];
  int n;

  snprintf(path, sizeof path, FIX "prompts/%s.ids", prompt);
  n = read_id_file(path, ids, MAX_IDS);
  return n > 0 ? n : 0;
}

/* transformers' logits for a checkpoint and prompt: [n][n_vocab] floats, or NULL. */
static float *read_logits(const char *ckpt, const char *prompt, size_t want) {
  char path[256];
  size_t len = 0;
  char *buf;

  snprintf(path, sizeof path, FIX "logits/%s_%s.f32", ckpt, prompt);
  buf = slurp(path, &len);
  if (buf != NULL && len != want * sizeof(float)) {
    free(buf);
    return NULL;
  }
  return (float *)buf;
}

/* Every position's logits of ids, from a new session; NULL (with err) on failure. */
static float *run_prompt(qora_model *m, const int32_t *ids, int n, int kv_f32, qora_err *err) {
  qora_session_opts so = { .n_ctx = n, .kv_f32 = kv_f32 };
  qora_session *s = qora_session_new(m, &so, err);
  float *out = NULL;

  if (s == NULL)
    return NULL;
  out = malloc((size_t)n * qora_model_get_info(m)->n_vocab * sizeof *out);
  if (out && qora_session_eval(s, ids, n, out, err) < 0) {
    free(out);
    out = NULL;
  }
  qora_session_free(s);
  return out;
}

/* ------------------------------------------------------------ scratch folders */

static char scratch_dir[64];

/* A fresh scratch folder holding copies of the files of fixture folder ckpt. */
static const char *copy_fixture(const char *ckpt) {
  static const char *const files[] = {
    "config.json", "generation_config.json", "model.safetensors",
    "model.safetensors.index.json", "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors", "tokenizer.json", "tokenizer_config.json",
  };
  char src[256], dst[256];

  snprintf(scratch_dir, sizeof scratch_dir, "/tmp/qora-hf-XXXXXX");
  if (mkdtemp(scratch_dir) == NULL)
    return NULL;
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    size_t len;
    char *buf;
    snprintf(src, sizeof src, FIX "%s/%s", ckpt, files[i]);
    snprintf(dst, sizeof dst, "%s/%s", scratch_dir, files[i]);
    if ((buf = slurp(src, &len)) == NULL)
      continue;
    if (spit(dst, buf, len) < 0) {
      free(buf);
      return NULL;
    }
    free(buf);
  }
  return scratch_dir;
}

static void remove_scratch(void) {
  char cmd[128];

  if (scratch_dir[0] == '\0')
    return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", scratch_dir);
  scratch_dir[0] = '\0';
}

/* Replaces the first occurrence of from by to in the scratch folder's file name. */
static int edit_file(const char *name, const char *from, const char *to) {
  char path[256], *buf, *hit, *out;
  size_t len;
  int rc = -1;

  snprintf(path, sizeof path, "%s/%s", scratch_dir, name);
  if ((buf = slurp(path, &len)) == NULL)
    return -1;
  hit = memmem(buf, len, from, strlen(from));
  out = malloc(len + strlen(to) + 1);
  if (hit && out) {
    size_t pre = (size_t)(hit - buf), post = len - pre - strlen(from);
    memcpy(out, buf, pre);
    memcpy(out + pre, to, strlen(to));
    memcpy(out + pre + strlen(to), hit + strlen(from), post);
    rc = spit(path, out, pre + strlen(to) + post);
  }
  free(out);
  free(buf);
  return rc;
}

/*
** A scratch copy of fixture ckpt with file name edited (from replaced by to); 0 after a failed
** "sets up what" test, with nothing left behind, when it cannot be made.
*/
static int edited_fixture(const char *ckpt, const char *name, const char *from, const char *to,
                          const char *what) {
  if (copy_fixture(ckpt) != NULL && edit_file(name, from, to) == 0)
    return 1;
  TAP_OK(0, "sets up %s", what);
  remove_scratch();
  return 0;
}

#endif
