/*
** test_tok_hf.c: tokenizers read from Hugging Face tokenizer.json files.
**
** Llama 3's and SmolLM2's tokenizer.json are written here (tok_json_gen.h) from the reference
** vocabularies; their digests must equal those of the files PyPI's tokenizers read when the
** fixture script made the expected ids (spec/fixtures/tokenizer/). Both tokenizers, read from
** tokenizer.json and from GGUF, must give those ids for every fixture string. Small files with
** added tokens listed every which way must give tokenizers' ids (added_tokens.jsonl).
** With "--write DIR", writes the two folders and prints their digests (for the script).
*/
#include <cjson/cJSON.h>
#include <sys/stat.h>

#include "gguf.h"
#include "tok_json_gen.h"
#include "tok_util.h"
#include "tokenizer.h"

#define FIX "spec/fixtures/tokenizer/"
#define OUT "build/fixtures"
#define SMOLLM2_GGUF "models/SmolLM2-135M-Instruct.Q4_1.gguf"
#define CASE_SEP "\n__ggml_vocab_test__\n"

static int write_folders(const char *dir) {
  char a[1024], b[1024];

  mkdir(dir, 0755);
  snprintf(a, sizeof a, "%s/llama3", dir);
  snprintf(b, sizeof b, "%s/smollm2", dir);
  if (gen_llama3(vec_path("tokenizer/llama3-tokenizer.model"),
                 vec_path("tokenizer/llama3-vocab.gguf"), a) < 0 ||
      gen_smollm2(SMOLLM2_GGUF, b) < 0)
    return -1;
  return 0;
}


/* The digest the fixture script recorded for name, or 0. */
static uint64_t recorded_digest(const char *name) {
  size_t n;
  char *s = slurp(FIX "json.fnv", &n), *at = s ? strstr(s, name) : NULL;
  uint64_t d = at ? strtoull(at + strlen(name), NULL, 16) : 0;

  free(s);
  return d;
}


static qora_tokenizer *load_json(const char *name) {
  char dir[256], path[300];
  qora_err err = {{0}};
  qora_tokenizer *tk;
  uint64_t want = recorded_digest(name), got;

  snprintf(dir, sizeof dir, OUT "/%s", name);
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  got = gen_file_digest(path);
  TAP_OK(want != 0 && got == want, "writes the %s tokenizer.json the fixtures were made from "
         "(digest %016llx, recorded %016llx)", name, (unsigned long long)got,
         (unsigned long long)want);
  tk = qora_tokenizer_from_hf(dir, &err);
  if (!TAP_OK(tk != NULL, "reads the %s tokenizer.json", name))
    TAP_DIAG("%s", err.msg);
  return tk;
}


static qora_tokenizer *load_gguf(const char *path, gguf_file **f) {
  qora_err err = {{0}};
  qora_tokenizer *tk;

  *f = gguf_open(path, &err);
  tk = *f ? qora_tokenizer_from_gguf(*f, &err) : NULL;
  if (!TAP_OK(tk != NULL, "reads the vocabulary of %s", path))
    TAP_DIAG("%s", err.msg);
  return tk;
}


static void test_llama3_cases(const qora_tokenizer *tk) {
  size_t n_inp, n_out, n_cases = 0, passed = 0;
  char *inp = slurp(vec_path("tokenizer/llama-bpe.inp"), &n_inp);
  char *out = slurp(vec_path("tokenizer/llama-bpe.out"), &n_out);
  char *c = inp, *line = out, *sep;
  qora_tokens want = { 0 }, got = { 0 };
  qora_err err;

  while (inp && out && (sep = strstr(c, CASE_SEP)) != NULL) {
    char *eol = strchr(line, '\n');
    size_t len = (size_t)(sep - c);

    parse_ids(line, eol ? (size_t)(eol - line) : strlen(line), &want);
    got.n = 0;
    passed += qora_tokenize(tk, c, len, 0, &got, &err) == 0 && same_ids(&want, &got);
    n_cases++;
    c = sep + strlen(CASE_SEP);
    line = eol ? eol + 1 : line + strlen(line);
  }
  TAP_OK(n_cases == 46 && passed == 46, "gives llama.cpp's ids for all 46 Llama 3 cases from "
         "tokenizer.json (%zu of %zu)", passed, n_cases);
  qora_tokens_free(&want);
  qora_tokens_free(&got);
  free(inp);
  free(out);
}


/* Every fixture string, tokenized with specials parsed (as tokenizers' encode does). */
static void test_strings(const char *name, const char *how, const qora_tokenizer *tk) {
  char path[256];
  size_t n_s, n_i, count = 0, passed = 0;
  char *strings = slurp(FIX "strings.jsonl", &n_s), *s = strings, *eol;
  char *ids, *line;
  qora_tokens want = { 0 }, got = { 0 };
  qora_err err;

  snprintf(path, sizeof path, FIX "%s.ids", name);
  ids = line = slurp(path, &n_i);
  while (strings && ids && (eol = strchr(s, '\n')) != NULL) {
    char *ieol = strchr(line, '\n');
    cJSON *j = cJSON_ParseWithLength(s, (size_t)(eol - s));
    const char *text = cJSON_IsString(j) ? j->valuestring : "";
    int ok;

    parse_ids(line, ieol ? (size_t)(ieol - line) : strlen(line), &want);
    got.n = 0;
    ok = cJSON_IsString(j) &&
         qora_tokenize(tk, text, strlen(text), QORA_TOK_SPECIAL, &got, &err) == 0 &&
         (passed == count ? same_ids(&want, &got) : want.n == got.n &&
          memcmp(want.ids, got.ids, want.n * sizeof *want.ids) == 0);
    if (!ok && passed == count)
      TAP_DIAG("first failure: string %zu: %.*s", count, (int)(eol - s), s);
    passed += ok;
    count++;
    cJSON_Delete(j);
    s = eol + 1;
    line = ieol ? ieol + 1 : line + strlen(line);
  }
  TAP_OK(count >= 5000 && passed == count, "gives tokenizers' ids for every fixture string "
         "with %s from %s (%zu of %zu)", name, how, passed, count);
  qora_tokens_free(&want);
  qora_tokens_free(&got);
  free(strings);
  free(ids);
}


static void test_specials(const qora_tokenizer *llama3, const qora_tokenizer *smollm2,
                          const gguf_file *smollm2_gguf) {
  qora_tokens got = { 0 };
  qora_err err;
  size_t n, n_gguf;
  const char *tpl = qora_tokenizer_chat_template(smollm2, &n);
  gguf_str want;

  qora_tokenize(llama3, "Hi", 2, QORA_TOK_BOS, &got, &err);
  TAP_OK(qora_token_bos(llama3) == 128000 && qora_token_eos(llama3) == 128009 && got.n == 2 &&
         got.ids[0] == 128000, "Llama 3: BOS and EOS from tokenizer_config.json, BOS put "
         "first as its TemplateProcessing does");
  got.n = 0;
  qora_tokenize(smollm2, "Hi", 2, QORA_TOK_BOS, &got, &err);
  TAP_OK(qora_token_bos(smollm2) == 1 && qora_token_eos(smollm2) == 2 && got.n == 1 &&
         qora_token_is_eog(smollm2, 2) && qora_token_is_eog(smollm2, 0) &&
         !qora_token_is_eog(smollm2, 1), "SmolLM2: BOS <|im_start|>, EOS <|im_end|>, no BOS "
         "added, generation ends at <|im_end|> and <|endoftext|>");
  n_gguf = gguf_get_str(smollm2_gguf, "tokenizer.chat_template", &want, &err) == 1 ?
           want.len : 0;
  TAP_OK(tpl && n_gguf > 0 && n == n_gguf && memcmp(tpl, want.ptr, n) == 0,
         "SmolLM2: exposes the chat template of tokenizer_config.json (%zu bytes)", n);
  qora_tokens_free(&got);
}


/* ------------------------------------------------------------ refusals */

static const char base_json[] =
  "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null,"
  " \"added_tokens\": [{\"id\": 3, \"content\": \"<s>\", \"single_word\": false,"
  " \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}],"
  " \"normalizer\": null,"
  " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false,"
  " \"trim_offsets\": true, \"use_regex\": true},"
  " \"post_processor\": null, \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true,"
  " \"trim_offsets\": true, \"use_regex\": true},"
  " \"model\": {\"type\": \"BPE\", \"dropout\": null, \"vocab\": {\"a\": 0, \"b\": 1,"
  " \"ab\": 2}, \"merges\": [\"a b\"]}}";

/* Writes base_json with the value at path (a.b or a.0.b) replaced by json; NULL: as is. */
static void write_variant(const char *dir, const char *path, const char *json,
                          const char *config) {
  cJSON *root = cJSON_Parse(base_json), *obj = root;
  char key[64], *dot, *text;
  FILE *f;

  snprintf(key, sizeof key, "%s", path ? path : "");
  while (path && (dot = strchr(key, '.')) != NULL) {
    *dot = '\0';
    obj = cJSON_IsArray(obj) ? cJSON_GetArrayItem(obj, atoi(key)) :
          cJSON_GetObjectItemCaseSensitive(obj, key);
    memmove(key, dot + 1, strlen(dot + 1) + 1);
  }
  if (path && !cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_Parse(json)))
    cJSON_AddItemToObject(obj, key, cJSON_Parse(json));
  text = cJSON_Print(root);
  mkdir(dir, 0755);
  f = gen_open(dir, "tokenizer.json");
  fputs(text, f);
  fclose(f);
  f = gen_open(dir, "tokenizer_config.json");
  fputs(config ? config : "{}", f);
  fclose(f);
  free(text);
  cJSON_Delete(root);
}


static void test_small_json(void) {
  const char *dir = OUT "/small";
  qora_err err = {{0}};
  qora_tokenizer *tk;
  qora_tokens got = { 0 };

  write_variant(dir, NULL, NULL, NULL);
  tk = qora_tokenizer_from_hf(dir, &err);
  if (!TAP_OK(tk != NULL, "reads a small tokenizer.json"))
    TAP_DIAG("%s", err.msg);
  TAP_OK(tk && qora_tokenize(tk, "ab<s>", 5, QORA_TOK_SPECIAL, &got, &err) == 0 &&
         got.n == 2 && got.ids[0] == 2 && got.ids[1] == 3, "merges a b and matches <s>");
  /* tokenizers 0.23 on this file: "acb" -> [2], "c" -> []: bytes without a token are left
  ** out before merging. */
  got.n = 0;
  TAP_OK(tk && qora_tokenize(tk, "acb", 3, 0, &got, &err) == 0 && got.n == 1 &&
         got.ids[0] == 2 && qora_tokenize(tk, "c", 1, 0, &got, &err) == 0 && got.n == 1,
         "leaves out bytes the vocabulary has no token for, then merges, as tokenizers does");
  qora_tokens_free(&got);
  qora_tokenizer_free(tk);
}


/*
** A folder's vocabulary padded to its embedding's rows, as llama.cpp's converter (and so the
** GGUF model_save.c writes) pads it: unused "[PAD<id>]" tokens that stand for no bytes.
*/
static void test_padded(void) {
  const char *dir = OUT "/small";
  qora_err err = {{0}};
  qora_tokenizer *tk, *same;
  const char *text, *bytes;
  size_t n_text = 0, n_bytes = 1;

  write_variant(dir, NULL, NULL, NULL);
  tk = qora_tokenizer_from_hf_padded(dir, 7, &err);
  if (!TAP_OK(tk != NULL, "pads a small tokenizer.json to 7 ids"))
    TAP_DIAG("%s", err.msg);
  text = tk ? qora_token_text(tk, 6, &n_text) : NULL;
  bytes = tk ? qora_token_bytes(tk, 4, &n_bytes) : NULL;
  TAP_OK(qora_vocab_size(tk) == 7 && text && n_text == 6 && memcmp(text, "[PAD6]", 6) == 0 &&
         qora_token_type(tk, 4) == QORA_TOKEN_UNUSED && bytes && n_bytes == 0 &&
         qora_token_find(tk, "[PAD5]", 6) == 5 && qora_token_type(tk, 3) ==
         QORA_TOKEN_CONTROL, "ids 4 to 6 are unused [PAD<id>] tokens without bytes, after <s>");
  same = qora_tokenizer_from_hf_padded(dir, 2, &err);
  TAP_OK(qora_vocab_size(same) == 4, "a size below the tokenizer's pads nothing (%d tokens)",
         qora_vocab_size(same));
  qora_tokenizer_free(same);
  qora_tokenizer_free(tk);
}


static void test_refusals(void) {
  static const struct { const char *path, *json, *config, *says; } cases[] = {
    { "normalizer", "{\"type\": \"NFC\"}", NULL, "normalizer NFC" },
    { "pre_tokenizer", "{\"type\": \"Metaspace\"}", NULL, "Metaspace" },
    { "pre_tokenizer", "null", NULL, "no pre_tokenizer" },
    { "pre_tokenizer", "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
      "\"pattern\": {\"Regex\": \"\\\\s+\"}, \"behavior\": \"Isolated\", \"invert\": false}, "
      "{\"type\": \"ByteLevel\", \"use_regex\": false}]}", NULL, "Split pattern '\\s+'" },
    { "pre_tokenizer", "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
      "\"pattern\": {\"String\": \" \"}, \"behavior\": \"Isolated\"}, {\"type\": "
      "\"ByteLevel\"}]}", NULL, "without a Regex" },
    { "pre_tokenizer", "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\"}, "
      "{\"type\": \"Digits\"}]}", NULL, "before other steps" },
    { "pre_tokenizer.add_prefix_space", "true", NULL, "add_prefix_space" },
    { "decoder", "{\"type\": \"Metaspace\"}", NULL, "decoder Metaspace" },
    { "model.type", "\"WordPiece\"", NULL, "model WordPiece" },
    { "model.dropout", "0.1", NULL, "dropout" },
    { "model.byte_fallback", "true", NULL, "byte_fallback" },
    { "added_tokens.0.lstrip", "true", NULL, "sets lstrip" },
    /* tokenizers 0.23.3: "invalid type: map, expected a sequence" */
    { "added_tokens", "{}", NULL, "added_tokens should be a list" },
    { "model.merges", "[\"a b c\"]", NULL, "merge 0 is not" },
    { "model.merges", "[[\"a\", \"c\"]]", NULL, "not in the vocabulary" },
    { "model.vocab", "{\"a\": 0, \"b\": 1, \"ab\": 5}", NULL, "gap" },
    /* found by fuzz_tokenizer_json: converting such an id to int32_t was undefined */
    { "model.vocab", "{\"a\": 0, \"b\": 1, \"ab\": 3e9}", NULL,
      "model.vocab: the token 'ab' has the id 3e+09, which is not from 0 to 2" },
    { "model.vocab", "{\"a\": 0, \"b\": 1, \"ab\": -1}", NULL,
      "model.vocab: the token 'ab' has the id -1, which is not from 0 to 2" },
    { "post_processor", "{\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": "
      "{\"id\": \"A\"}}, {\"SpecialToken\": {\"id\": \"<s>\"}}]}", NULL, "TemplateProcessing" },
    { "post_processor", "{\"type\": \"RobertaProcessing\"}", NULL, "RobertaProcessing" },
    { "truncation", "{\"max_length\": 5}", NULL, "truncation" },
    { NULL, NULL, "{\"bos_token\": \"<nope>\"}", "BOS token '<nope>'" },
    { NULL, NULL, "{\"bos_token\": ", "tokenizer_config.json ends inside its JSON" },
    { NULL, NULL, "[\"bos_token\"]", "tokenizer_config.json is JSON but not a JSON object" },
  };
  char dir[256];

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    qora_err err = {{0}};
    qora_tokenizer *tk;

    snprintf(dir, sizeof dir, OUT "/refuse%zu", i);
    write_variant(dir, cases[i].path, cases[i].json, cases[i].config);
    tk = qora_tokenizer_from_hf(dir, &err);
    TAP_OK(tk == NULL && strstr(err.msg, cases[i].says), "refuses %s %s: %s",
           cases[i].path ? cases[i].path : "config", cases[i].json ? cases[i].json :
           cases[i].config, err.msg);
    qora_tokenizer_free(tk);
  }
}


/*
** Added tokens holding more text together than TOK_SPECIAL_TEXT_MAX (4 MiB): two of 2 MiB + 1
** bytes each. The message names tokenizer.json first, as the other messages of the file do.
*/
static void test_too_much_special_text(void) {
  enum { HALF = (2 << 20) + 1 };
  static const char want[] = "tokenizer.json: 2 special and user-defined tokens hold 4194306 "
                             "bytes of text, more than qora reads";
  char *json = malloc(2 * HALF + 512), *p = json;
  qora_err err = {{0}};
  qora_tokenizer *tk;

  p += sprintf(p, "[");
  for (int k = 0; k < 2; k++) {
    p += sprintf(p, "%s{\"id\": %d, \"special\": true, \"single_word\": false, \"lstrip\": "
                 "false, \"rstrip\": false, \"normalized\": false, \"content\": \"",
                 k ? ", " : "", 3 + k);
    memset(p, 'x' + k, HALF);
    p += HALF;
    p += sprintf(p, "\"}");
  }
  strcpy(p, "]");
  write_variant(OUT "/big-specials", "added_tokens", json, NULL);
  tk = qora_tokenizer_from_hf(OUT "/big-specials", &err);
  /* began "the vocabulary's", without the "tokenizer.json: " of the other messages */
  TAP_OK(tk == NULL && strncmp(err.msg, want, strlen(want)) == 0,
         "refuses added tokens of 4 MiB + 2 bytes of text in all, naming tokenizer.json: %s",
         tk ? "(loaded)" : err.msg);
  qora_tokenizer_free(tk);
  free(json);
}


/* ------------------------------------------------------- added tokens */

/* Cases tokenizers reads but qora refuses: tokenizers' own answers disagree there (its decoder
** calls the text special as the last listing says, its skip_special_tokens as any does). */
static const char *qora_refuses(const char *name) {
  return strcmp(name, "one text twice, special and not") == 0 ||
         strcmp(name, "a vocabulary text twice, special and not") == 0 ?
         "listed twice, special and not" : NULL;
}


/* tokenizers' id texts, special ids and encodings of the probes (one fixture line) against tk. */
static int same_as_tokenizers(const qora_tokenizer *tk, const cJSON *c, qora_err *err) {
  const cJSON *t, *p;
  int32_t id = 0;
  qora_tokens got = { 0 };
  int ok = qora_vocab_size(tk) == cJSON_GetObjectItem(c, "n_vocab")->valueint;

  cJSON_ArrayForEach(t, cJSON_GetObjectItem(c, "tokens")) {
    const char *text = qora_token_text(tk, id, NULL);
    int special = 0;

    cJSON_ArrayForEach(p, cJSON_GetObjectItem(c, "special"))
      special |= p->valueint == id;
    ok &= text && cJSON_IsString(t) && strcmp(text, t->valuestring) == 0 &&
          (qora_token_type(tk, id) == QORA_TOKEN_CONTROL) == special;
    id++;
  }
  cJSON_ArrayForEach(p, cJSON_GetObjectItem(c, "probes")) {
    const cJSON *want = p->child->next, *w;
    size_t i = 0;

    got.n = 0;
    ok &= qora_tokenize(tk, p->child->valuestring, strlen(p->child->valuestring),
                        QORA_TOK_SPECIAL, &got, err) == 0 &&
          got.n == (size_t)cJSON_GetArraySize(want);
    cJSON_ArrayForEach(w, want)
      ok &= i < got.n && got.ids[i++] == w->valueint;
  }
  qora_tokens_free(&got);
  return ok;
}


/* One fixture line: its tokenizer.json written out, read, and checked. */
static void test_added_case(const cJSON *c, int i) {
  const char *name = cJSON_GetObjectItem(c, "name")->valuestring, *refusal = qora_refuses(name);
  const cJSON *error = cJSON_GetObjectItem(c, "error");
  char dir[256], *text = cJSON_Print(cJSON_GetObjectItem(c, "tokenizer"));
  qora_err err = {{0}};
  qora_tokenizer *tk;
  FILE *f;

  snprintf(dir, sizeof dir, OUT "/added%d", i);
  mkdir(dir, 0755);
  f = gen_open(dir, "tokenizer.json");
  fputs(text, f);
  fclose(f);
  free(text);
  tk = qora_tokenizer_from_hf(dir, &err);
  if (error || refusal)
    TAP_OK(tk == NULL && strstr(err.msg, refusal ? refusal : "added token"), "added tokens, "
           "%s: refused (tokenizers: %s): %s", name, error ? error->valuestring : "reads it",
           tk ? "(read)" : err.msg);
  else if (!TAP_OK(tk && same_as_tokenizers(tk, c, &err), "added tokens, %s: tokenizers' ids, "
                   "texts and special tokens", name))
    TAP_DIAG("%s", tk ? "differs" : err.msg);
  qora_tokenizer_free(tk);
}


/* Every case of spec/fixtures/tokenizer/added_tokens.jsonl (make_added_tokens.py). */
static void test_added_tokens(void) {
  size_t n;
  char *all = slurp(FIX "added_tokens.jsonl", &n), *line = all, *eol;
  int count = 0;

  while (all && (eol = strchr(line, '\n')) != NULL) {
    cJSON *c = cJSON_ParseWithLength(line, (size_t)(eol - line));

    if (c)
      test_added_case(c, count);
    count += c != NULL;
    cJSON_Delete(c);
    line = eol + 1;
  }
  TAP_OK(count == 33, "reads the 33 added-token cases of the fixture (%d)", count);
  free(all);
}


/*
** base_json as written text with one piece of it replaced (cJSON, which write_variant prints
** with, writes 3.0 as 3), and tokenizer_config.json empty.
*/
static void write_edited(const char *dir, const char *from, const char *to) {
  const char *at = strstr(base_json, from);
  FILE *f;

  mkdir(dir, 0755);
  f = gen_open(dir, "tokenizer.json");
  fprintf(f, "%.*s%s%s", (int)(at - base_json), base_json, to, at + strlen(from));
  fclose(f);
  f = gen_open(dir, "tokenizer_config.json");
  fputs("{}", f);
  fclose(f);
}


/* A TemplateProcessing that puts <s> first, its special_tokens giving it ids. */
#define BOS_FIRST(IDS) "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [" \
  "{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", " \
  "\"type_id\": 0}}], \"pair\": [], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", " \
  "\"ids\": " IDS ", \"tokens\": [\"<s>\"]}}}"

/*
** Ids as tokenizers reads them (serde's u32): 3.0 and 3e0 are refused, not read as 3, in
** model.vocab, added_tokens and the post-processor's special_tokens; and the id that
** TemplateProcessing lists is the one it adds, so it must be the vocabulary's for that text.
*/
static void test_id_literals(void) {
  static const struct { const char *from, *to, *says; } cases[] = {
    { "\"ab\": 2}", "\"ab\": 2.0}", "tokenizer.json: model.vocab: the token 'ab' has the id 2.0, "
      "which is not written as an integer (tokenizers refuses it); write it as a whole number" },
    { "\"ab\": 2}", "\"ab\": 2e0}", "model.vocab: the token 'ab' has the id 2e0, which is not "
      "written as an integer" },
    { "\"b\": 1,", "\"b\": 1E+0,", "model.vocab: the token 'b' has the id 1E+0, which is not" },
    { "\"id\": 3,", "\"id\": 3.0,", "tokenizer.json: added_tokens: the added token '<s>' has the "
      "id 3.0, which is not written as an integer" },
    { "\"post_processor\": null", BOS_FIRST("[3.0]"), "tokenizer.json: post_processor."
      "special_tokens.<s>.ids holds 3.0, which is not written as an integer" },
    { "\"post_processor\": null", BOS_FIRST("[-1]"), "post_processor.special_tokens.<s>.ids "
      "holds -1, which is not a token id (0 to 3)" },
    { "\"post_processor\": null", BOS_FIRST("[4]"), "holds 4, which is not a token id (0 to 3)" },
    { "\"post_processor\": null", BOS_FIRST("[\"3\"]"), "ids holds a value that is not a "
      "number; write the id as a whole number" },
    { "\"ab\": 2}", "\"ab\": \"2\"}", "tokenizer.json: model.vocab: the token 'ab' has an id "
      "that is not a number; write it as a whole number" },
    { "\"post_processor\": null", BOS_FIRST("[2]"), "tokenizer.json: post_processor."
      "special_tokens.<s>.ids says 2, but the vocabulary gives that token the id 3: tokenizers "
      "would put 2 first, where the text means 3; make them agree" },
    { "\"post_processor\": null", BOS_FIRST("[3, 3]"), "special_tokens.<s>.ids lists 2 ids; "
      "qora puts one token first" },
    { "\"post_processor\": null", "\"post_processor\": {\"type\": \"TemplateProcessing\", "
      "\"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": "
      "{\"id\": \"A\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {}}",
      "puts the special token '<s>' first, but its special_tokens gives no ids for it" },
  };
  char dir[256];
  qora_err err = {{0}};
  qora_tokenizer *tk;
  qora_tokens got = { 0 };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(dir, sizeof dir, OUT "/ids%zu", i);
    write_edited(dir, cases[i].from, cases[i].to);
    err.msg[0] = '\0';
    tk = qora_tokenizer_from_hf(dir, &err);
    TAP_OK(tk == NULL && strstr(err.msg, cases[i].says), "refuses %s: %s", cases[i].to,
           tk ? "(read)" : err.msg);
    qora_tokenizer_free(tk);
  }

  /* the ids it lists, agreeing, are taken; a fraction elsewhere (dropout 0.0) is no id */
  write_edited(OUT "/ids-ok", "\"post_processor\": null", BOS_FIRST("[3]"));
  tk = qora_tokenizer_from_hf(OUT "/ids-ok", &err);
  TAP_OK(tk && qora_token_bos(tk) == 3 && qora_tokenize(tk, "ab", 2, QORA_TOK_BOS, &got,
         &err) == 0 && got.n == 2 && got.ids[0] == 3 && got.ids[1] == 2,
         "puts the id special_tokens lists first: %s", tk ? "" : err.msg);
  qora_tokenizer_free(tk);
  write_edited(OUT "/ids-dropout", "\"dropout\": null", "\"dropout\": 0.0");
  tk = qora_tokenizer_from_hf(OUT "/ids-dropout", &err);
  got.n = 0;
  TAP_OK(tk && qora_tokenize(tk, "ab", 2, 0, &got, &err) == 0 && got.n == 1 &&
         got.ids[0] == 2, "reads a file whose only fraction is no id (dropout 0.0): %s",
         tk ? "" : err.msg);
  qora_tokenizer_free(tk);
  qora_tokens_free(&got);
}


static void test_missing(void) {
  qora_err err = {{0}};
  qora_tokenizer *tk = qora_tokenizer_from_hf(OUT "/no-such-folder", &err);

  TAP_OK(tk == NULL && strstr(err.msg, "cannot open") && strstr(err.msg, "tokenizer.json"),
         "names the missing tokenizer.json: %s", err.msg);
}


int main(int argc, char **argv) {
  qora_tokenizer *l_json, *s_json, *l_gguf, *s_gguf;
  gguf_file *lf, *sf;

  if (argc == 3 && strcmp(argv[1], "--write") == 0)
    return write_folders(argv[2]) < 0;
  if (!TAP_OK(write_folders(OUT) == 0, "writes the Llama 3 and SmolLM2 tokenizer.json files "
              "(needs %s: make model)", SMOLLM2_GGUF))
    return tap_done();
  l_json = load_json("llama3");
  s_json = load_json("smollm2");
  l_gguf = load_gguf(vec_path("tokenizer/llama3-vocab.gguf"), &lf);
  s_gguf = load_gguf(SMOLLM2_GGUF, &sf);
  if (l_json && s_json && l_gguf && s_gguf) {
    test_llama3_cases(l_json);
    test_strings("llama3", "tokenizer.json", l_json);
    test_strings("llama3", "GGUF", l_gguf);
    test_strings("smollm2", "tokenizer.json", s_json);
    test_strings("smollm2", "GGUF", s_gguf);
    test_specials(l_json, s_json, sf);
  }
  test_small_json();
  test_padded();
  test_refusals();
  test_added_tokens();
  test_too_much_special_text();
  test_id_literals();
  test_missing();
  qora_tokenizer_free(l_json);
  qora_tokenizer_free(s_json);
  qora_tokenizer_free(l_gguf);
  qora_tokenizer_free(s_gguf);
  gguf_close(lf);
  gguf_close(sf);
  return tap_done();
}
