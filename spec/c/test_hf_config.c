/*
** test_hf_config.c: config.json parsing for SmolLM3 and Llama checkpoints, the refusals, and
** the RoPE frequencies against the values transformers computes (literals below).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_config.h"
#include "tap.h"

#define FIX "spec/fixtures/hf/"

/* ------------------------------------------------------------------ references */
/* printed by spec/fixtures/hf/rope_reference.py, transformers 5.25.0 */
static const char *yarn_tiny_json =
  "{\"vocab_size\": 462, \"intermediate_size\": 128, \"num_hidden_layers\": 4, "
  "\"hidden_size\": 64, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
  "\"bos_token_id\": null, \"eos_token_id\": null, \"pad_token_id\": null, "
  "\"max_position_embeddings\": 256, \"rope_parameters\": {\"rope_type\": \"yarn\", "
  "\"rope_theta\": 50000.0, \"factor\": 4.0, "
  "\"original_max_position_embeddings\": 64}, "
  "\"architectures\": [\"SmolLM3ForCausalLM\"], \"model_type\": \"smollm3\"}";
static const float yarn_tiny_freqs[8] = {
  1.0f, 0.161625087f, 0.0167185087f, 0.00432340847f, 0.00111803401f, 0.000289123738f,
  7.47674421e-05f, 1.93348696e-05f};
static const double yarn_tiny_factor = 1.138629436111989;
static const char *yarn_3b_json =
  "{\"vocab_size\": 462, \"intermediate_size\": 128, \"num_hidden_layers\": 4, "
  "\"hidden_size\": 2048, \"num_attention_heads\": 16, \"num_key_value_heads\": 4, "
  "\"bos_token_id\": null, \"eos_token_id\": null, \"pad_token_id\": null, "
  "\"max_position_embeddings\": 131072, \"rope_theta\": 5000000.0, "
  "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 2.0, "
  "\"original_max_position_embeddings\": 65536}, "
  "\"architectures\": [\"SmolLM3ForCausalLM\"], \"model_type\": \"smollm3\"}";
static const float yarn_3b_freqs[64] = {
  1.0f, 0.785830021f, 0.617528737f, 0.485272616f, 0.381341755f, 0.299669802f,
  0.235489503f, 0.185054719f, 0.14542155f, 0.11427661f, 0.089801982f, 0.0705690905f,
  0.0554553084f, 0.0435784459f, 0.0342452489f, 0.026910942f, 0.0211474262f,
  0.0166182797f, 0.0130591439f, 0.0102622667f, 0.00806439668f, 0.00633724453f,
  0.00497999694f, 0.00391343096f, 0.00307529117f, 0.00233610091f, 0.00177247531f,
  0.00134311919f, 0.00101637212f, 0.000767976569f, 0.000579359068f, 0.000436307775f,
  0.000327956659f, 0.000246003707f, 0.000184111501f, 0.000137446317f, 0.000102324731f,
  7.5942633e-05f, 5.61675188e-05f, 4.13794914e-05f, 3.25172441e-05f, 2.55530267e-05f,
  2.00803333e-05f, 1.57797294e-05f, 1.24001836e-05f, 9.74443628e-06f, 7.65747063e-06f,
  6.01746933e-06f, 4.72870806e-06f, 3.71596025e-06f, 2.92011327e-06f, 2.29471243e-06f,
  1.80325389e-06f, 1.41705095e-06f, 1.1135611e-06f, 8.75069702e-07f, 6.87656041e-07f,
  5.40380711e-07f, 4.24647396e-07f, 3.33700626e-07f, 2.62231964e-07f, 2.06069743e-07f,
  1.61935773e-07f, 1.27253983e-07f};
static const double yarn_3b_factor = 1.0693147180559945;
static const char *yarn_knobs_json =
  "{\"vocab_size\": 462, \"intermediate_size\": 128, \"num_hidden_layers\": 4, "
  "\"hidden_size\": 128, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
  "\"bos_token_id\": null, \"eos_token_id\": null, \"pad_token_id\": null, "
  "\"max_position_embeddings\": 32768, "
  "\"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 10000.0, "
  "\"factor\": 8.0, \"original_max_position_embeddings\": 4096, \"beta_fast\": 16, "
  "\"beta_slow\": 2, \"truncate\": false, \"mscale\": 0.707, "
  "\"mscale_all_dim\": 1.0}, \"architectures\": [\"SmolLM3ForCausalLM\"], "
  "\"model_type\": \"smollm3\"}";
static const float yarn_knobs_freqs[16] = {
  1.0f, 0.562341332f, 0.316227764f, 0.177827939f, 0.100000001f, 0.0562341288f,
  0.0316227786f, 0.0153716765f, 0.00622188905f, 0.00213670032f, 0.000435575581f,
  0.000222284929f, 0.000125000006f, 7.02926627e-05f, 3.95284733e-05f, 2.22284925e-05f};
static const double yarn_knobs_factor = 0.9495608824621653;
static const char *llama3_json =
  "{\"vocab_size\": 462, \"intermediate_size\": 128, \"num_hidden_layers\": 4, "
  "\"hidden_size\": 2048, \"num_attention_heads\": 32, \"num_key_value_heads\": 8, "
  "\"bos_token_id\": null, \"eos_token_id\": null, \"pad_token_id\": null, "
  "\"max_position_embeddings\": 131072, \"rope_theta\": 500000.0, "
  "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 32.0, "
  "\"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
  "\"original_max_position_embeddings\": 8192}, "
  "\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\"}";
static const float llama3_freqs[32] = {
  1.0f, 0.663601279f, 0.440366626f, 0.292227834f, 0.193922758f, 0.128687382f,
  0.0853971019f, 0.0566696189f, 0.0376060307f, 0.0249554086f, 0.0165604409f,
  0.0109895291f, 0.00729266508f, 0.00483942125f, 0.00321144611f, 0.00129054801f,
  0.000429556705f, 9.70828623e-05f, 1.94616387e-05f, 1.29147675e-05f, 8.57025589e-06f,
  5.68723226e-06f, 3.77405445e-06f, 2.50446715e-06f, 1.66196742e-06f, 1.10288363e-06f,
  7.31874934e-07f, 4.85673127e-07f, 3.22293289e-07f, 2.1387423e-07f, 1.41927202e-07f,
  9.41830649e-08f};
static const double llama3_factor = 1.0;


/* -------------------------------------------------------------------- helpers */

static hf_config cfg;
static qora_err err;

static int parse(const char *json) {
  return hf_config_parse(json, strlen(json), &cfg, &err);
}

static int rope_pattern(const char *want) {
  for (int i = 0; i < cfg.n_layer; i++)
    if (want[i] != '0' + cfg.uses_rope[i])
      return 0;
  return want[cfg.n_layer] == '\0';
}

/* A SmolLM3 config with one more field (or several), spliced in before the closing brace. */
static char *smollm3_with(const char *extra) {
  static char buf[2048];

  snprintf(buf, sizeof buf, "{\"architectures\": [\"SmolLM3ForCausalLM\"], "
           "\"model_type\": \"smollm3\", \"hidden_size\": 64, \"intermediate_size\": 128, "
           "\"num_hidden_layers\": 6, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
           "\"vocab_size\": 462%s%s}", extra[0] ? ", " : "", extra);
  return buf;
}


/* ------------------------------------------------------------------- fixtures */

static void test_fixtures(void) {
  int ok = hf_config_load(FIX "tiny-yarn", &cfg, &err) == 0;

  if (!TAP_OK(ok, "reads tiny-yarn/config.json (transformers 5 layout)"))
    TAP_DIAG("%s", err.msg);
  TAP_OK(ok && strcmp(cfg.arch, "smollm3") == 0 && cfg.n_embd == 64 && cfg.n_ff == 128 &&
         cfg.n_layer == 8 && cfg.n_head == 4 && cfg.n_head_kv == 2 && cfg.head_dim == 16 &&
         cfg.n_vocab == 462 && cfg.n_ctx_train == 256 && cfg.norm_eps == 1e-6f &&
         cfg.tied_embeddings == 1 && cfg.bos_id == 456 && cfg.eos_id == 461,
         "tiny-yarn: sizes, eps, tied embeddings, bos and eos");
  TAP_OK(ok && rope_pattern("11101110"), "tiny-yarn: every fourth layer without RoPE");
  TAP_OK(ok && cfg.rope.type == HF_ROPE_YARN && cfg.rope.theta == 50000 &&
         cfg.rope.factor == 4 && cfg.rope.original_ctx == 64 && cfg.rope.beta_fast == 32 &&
         cfg.rope.beta_slow == 1 && cfg.rope.truncate == 1 &&
         fabs(cfg.rope.attention_factor - yarn_tiny_factor) < 1e-12,
         "tiny-yarn: YaRN factor 4 over 64 positions, theta 50000, defaults as transformers");
  hf_config_free(&cfg);

  ok = hf_config_load(FIX "tiny-nope", &cfg, &err) == 0;
  if (!TAP_OK(ok, "reads tiny-nope/config.json (transformers 4 layout)"))
    TAP_DIAG("%s", err.msg);
  TAP_OK(ok && cfg.head_dim == 32 && cfg.n_layer == 6 && cfg.tied_embeddings == 0 &&
         cfg.norm_eps == 1e-5f && cfg.n_ctx_train == 512,
         "tiny-nope: head_dim 32 as given, untied, eps 1e-5");
  TAP_OK(ok && rope_pattern("011011"), "tiny-nope: the no_rope_layers list wins over the "
         "interval");
  TAP_OK(ok && cfg.rope.type == HF_ROPE_DEFAULT && cfg.rope.theta == 10000 &&
         cfg.rope.attention_factor == 1, "tiny-nope: plain RoPE, theta 10000");
  hf_config_free(&cfg);

  TAP_OK(hf_config_load(FIX "no-such-folder", &cfg, &err) == -1 &&
         strstr(err.msg, "cannot open " FIX "no-such-folder/config.json"),
         "names a config.json it cannot open: %s", err.msg);
}


/* --------------------------------------------------------------- other configs */

/* SmolLM2-135M-Instruct's config.json, as published (transformers 4 layout). */
static const char *smollm2_json =
  "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, "
  "\"attention_dropout\": 0.0, \"bos_token_id\": 1, \"eos_token_id\": 2, "
  "\"head_dim\": 64, \"hidden_act\": \"silu\", \"hidden_size\": 576, "
  "\"initializer_range\": 0.041666666666666664, \"intermediate_size\": 1536, "
  "\"is_llama_config\": true, \"max_position_embeddings\": 8192, \"mlp_bias\": false, "
  "\"model_type\": \"llama\", \"num_attention_heads\": 9, \"num_hidden_layers\": 30, "
  "\"num_key_value_heads\": 3, \"pad_token_id\": 2, \"pretraining_tp\": 1, "
  "\"rms_norm_eps\": 1e-05, \"rope_interleaved\": false, \"rope_scaling\": null, "
  "\"rope_theta\": 100000, \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\", "
  "\"transformers_version\": \"4.42.3\", \"use_cache\": true, \"vocab_size\": 49152}";

static void test_other_configs(void) {
  TAP_OK(parse(smollm2_json) == 0 && strcmp(cfg.arch, "llama") == 0 && cfg.n_layer == 30 &&
         cfg.head_dim == 64 && cfg.n_head == 9 && cfg.n_head_kv == 3 &&
         cfg.rope.theta == 100000 && cfg.tied_embeddings == 1 && cfg.norm_eps == 1e-5f &&
         rope_pattern("111111111111111111111111111111"),
         "reads SmolLM2-135M's Llama config: RoPE on all 30 layers");
  hf_config_free(&cfg);

  TAP_OK(parse("{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 8, "
               "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 10}") == 0 &&
         cfg.n_head_kv == 4 && cfg.head_dim == 16 && cfg.rope.theta == 10000 &&
         cfg.tied_embeddings == 0 && cfg.n_ctx_train == 2048 && cfg.norm_eps == 1e-6f &&
         cfg.bos_id == -1, "takes transformers' Llama defaults for absent fields");
  hf_config_free(&cfg);

  TAP_OK(parse(smollm3_with("")) == 0 && rope_pattern("111011") && cfg.rope.theta == 2e6 &&
         cfg.tied_embeddings == 1 && cfg.n_ctx_train == 32768,
         "takes transformers' SmolLM3 defaults: interval 4, theta 2e6, tied");
  hf_config_free(&cfg);

  TAP_OK(parse(smollm3_with("\"no_rope_layer_interval\": 3, \"eos_token_id\": [7, 9]")) == 0 &&
         rope_pattern("110110") && cfg.eos_id == 7,
         "applies no_rope_layer_interval 3 and takes the first of a list of eos ids");
  hf_config_free(&cfg);

  TAP_OK(parse(smollm3_with("\"no_rope_layers\": [true, false, 1, 1, 0, 1]")) == 0 &&
         rope_pattern("101101"), "reads no_rope_layers given as booleans or numbers");
  hf_config_free(&cfg);

  TAP_OK(parse(smollm3_with("\"rope_theta\": 7.0, \"rope_parameters\": {\"rope_type\": "
                            "\"default\", \"rope_theta\": 9.0}")) == 0 && cfg.rope.theta == 9,
         "prefers rope_parameters' theta over the top-level one");
  hf_config_free(&cfg);

  TAP_OK(parse(smollm3_with("\"max_position_embeddings\": 1000, \"rope_scaling\": {\"type\": "
                            "\"yarn\", \"factor\": null, \"original_max_position_embeddings\": "
                            "250, \"beta_fast\": 0, \"attention_factor\": 0.5}")) == 0 &&
         cfg.rope.type == HF_ROPE_YARN && cfg.rope.factor == 4 && cfg.rope.beta_fast == 32 &&
         cfg.rope.attention_factor == 0.5,
         "a null factor is max / original; beta 0 means 32; attention_factor as given");
  hf_config_free(&cfg);

  /* transformers 5.25 reads the rope_scaling alone; the same settings twice are no conflict */
  TAP_OK(parse(smollm3_with("\"rope_theta\": 50000, \"rope_scaling\": {\"type\": \"yarn\", "
                            "\"factor\": 4, \"original_max_position_embeddings\": 64}, "
                            "\"rope_parameters\": {\"rope_type\": \"yarn\", \"factor\": 4.0, "
                            "\"rope_theta\": 50000.0, \"original_max_position_embeddings\": "
                            "64}")) == 0 &&
         cfg.rope.type == HF_ROPE_YARN && cfg.rope.theta == 50000 && cfg.rope.factor == 4 &&
         cfg.rope.original_ctx == 64,
         "reads rope_scaling and rope_parameters that agree: %s", err.msg);
  hf_config_free(&cfg);

  /* was read as plain RoPE of theta 2e6: transformers 5.25 takes rope_parameters then */
  TAP_OK(parse(smollm3_with("\"rope_scaling\": {}, \"rope_parameters\": {\"rope_type\": "
                            "\"linear\", \"factor\": 2, \"rope_theta\": 500000}")) == 0 &&
         cfg.rope.type == HF_ROPE_LINEAR && cfg.rope.factor == 2 && cfg.rope.theta == 500000,
         "reads rope_parameters beside an empty rope_scaling, as transformers does: %s",
         err.msg);
  hf_config_free(&cfg);

  /*
  ** transformers 5.25 reads a top-level original_max_position_embeddings for yarn and llama3
  ** (standardize_rope_params copies it over the dict's); 4 read the dict's. One number in both
  ** places loads; two different ones are refused (test_refusals).
  */
  TAP_OK(parse(smollm3_with("\"original_max_position_embeddings\": 100, \"rope_scaling\": "
                            "{\"type\": \"yarn\", \"factor\": 2}")) == 0 &&
         cfg.rope.original_ctx == 100,
         "reads a top-level original_max_position_embeddings for YaRN, as transformers 5");
  hf_config_free(&cfg);

  TAP_OK(parse(smollm3_with("\"original_max_position_embeddings\": 50, \"rope_scaling\": "
                            "{\"type\": \"yarn\", \"factor\": 2, "
                            "\"original_max_position_embeddings\": 50}")) == 0 &&
         cfg.rope.original_ctx == 50,
         "reads original_max_position_embeddings given alike at the top level and in the "
         "scaling");
  hf_config_free(&cfg);

  /* was refused as missing: transformers 5.25 reads the top-level one for llama3 too */
  TAP_OK(parse(smollm3_with("\"original_max_position_embeddings\": 8192, \"rope_parameters\": "
                            "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": "
                            "1, \"high_freq_factor\": 4}")) == 0 &&
         cfg.rope.type == HF_ROPE_LLAMA3 && cfg.rope.original_ctx == 8192,
         "reads a top-level original_max_position_embeddings for llama3, as transformers 5: %s",
         err.msg);
  hf_config_free(&cfg);

  TAP_OK(parse(smollm3_with("\"original_max_position_embeddings\": 100, \"rope_scaling\": "
                            "{\"type\": \"linear\", \"factor\": 2, "
                            "\"original_max_position_embeddings\": 50}")) == 0 &&
         cfg.rope.type == HF_ROPE_LINEAR,
         "reads linear scaling with two original_max_position_embeddings, which it does not "
         "use (nor does transformers): %s", err.msg);
  hf_config_free(&cfg);

  TAP_OK(parse(smollm3_with("\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}")) == 0 &&
         cfg.rope.type == HF_ROPE_LINEAR && cfg.rope.factor == 2, "reads linear scaling");
  hf_config_free(&cfg);
}


/* ------------------------------------------------------------------- refusals */

static void test_refusals(void) {
  static const struct {
    const char *what, *extra, *want;
  } cases[] = {
    {"no_rope_layers of the wrong length", "\"no_rope_layers\": [1, 1, 1, 0]",
     "one 0 or 1 per layer (6), it has 4"},
    {"a no_rope_layers entry other than 0 or 1", "\"no_rope_layers\": [1, 1, 2, 0, 1, 1]",
     "no_rope_layers[2] must be 0 or 1"},
    {"no_rope_layer_interval 0", "\"no_rope_layer_interval\": 0", "no_rope_layer_interval"},
    {"attention biases", "\"attention_bias\": true", "\"attention_bias\" is true"},
    {"MLP biases", "\"mlp_bias\": true", "\"mlp_bias\" is true"},
    {"a sliding window", "\"use_sliding_window\": true, \"sliding_window\": 4096",
     "sliding window"},
    {"sliding layer types", "\"layer_types\": [\"sliding_attention\"]", "sliding_attention"},
    {"another activation", "\"hidden_act\": \"gelu\"", "hidden_act \"gelu\""},
    {"partial RoPE", "\"partial_rotary_factor\": 0.5", "partial_rotary_factor 0.5"},
    {"dynamic RoPE", "\"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2}",
     "RoPE type \"dynamic\" is not supported"},
    {"longrope", "\"rope_parameters\": {\"rope_type\": \"longrope\"}", "\"longrope\""},
    {"llama3 scaling without high_freq_factor",
     "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1}",
     "needs low_freq_factor and high_freq_factor"},
    /* was accepted, taking max_position_embeddings for it: transformers 4 raised a KeyError,
    ** 5 takes max_position_embeddings and warns that it must be less */
    {"llama3 scaling without original_max_position_embeddings",
     "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1, "
     "\"high_freq_factor\": 4}",
     "config.json: llama3 RoPE scaling needs its original_max_position_embeddings, the context "
     "before scaling"},
    {"linear scaling without a factor", "\"rope_scaling\": {\"type\": \"linear\"}",
     "needs a \"factor\""},
    {"YaRN scaling without a factor", "\"rope_scaling\": {\"rope_type\": \"yarn\"}",
     "needs its \"factor\""},
    {"layer_types that is not a list", "\"layer_types\": \"64\"", "should be a list"},
    /* were read as 1 and 7: a fraction was truncated to another token's id */
    {"a fractional bos id", "\"bos_token_id\": 1.5",
     "config.json: bos_token_id is 1.5; a token id must be a whole number"},
    {"a fractional eos id in a list", "\"eos_token_id\": [7.25, 9]",
     "config.json: eos_token_id is 7.25; a token id must be a whole number"},
    {"a negative bos id", "\"bos_token_id\": -3",
     "config.json: bos_token_id is -3; a token id must be in [0, 2147483647]"},
    {"an eos id past int32", "\"eos_token_id\": 3e9",
     "config.json: eos_token_id is 3e+09; a token id must be in [0, 2147483647]"},
    {"a negative eps", "\"rms_norm_eps\": -1", "rms_norm_eps"},
    /* found by fuzz_hf_config: accepted, it reached the model as 0 */
    {"an eps that is 0 as a float", "\"rms_norm_eps\": 1e-50", "rms_norm_eps 1e-50"},
    {"a theta that is not a number", "\"rope_theta\": \"big\"", "\"rope_theta\" must be a number"},
    /* a base of 1 or less turns every pair as fast as the first or faster */
    {"a theta of 1", "\"rope_theta\": 1",
     "config.json: rope_theta 1 must be above 1, also as a 32-bit float (SmolLM3 uses "
     "5000000, Llama 3 500000)"},
    {"a theta of 0.5 in rope_parameters", "\"rope_parameters\": {\"rope_theta\": 0.5}",
     "rope_theta 0.5 must be above 1"},
    {"a negative theta", "\"rope_theta\": -5e6", "rope_theta -5e+06 must be above 1"},
    /* were accepted: 1 + 1e-9 is 1 as a float, 1e39 is infinite */
    {"a theta that is 1 as a float", "\"rope_theta\": 1.000000001",
     "rope_theta 1 must be above 1, also as a 32-bit float"},
    {"a theta beyond a float", "\"rope_theta\": 1e39",
     "rope_theta 1e+39 must be above 1, also as a 32-bit float"},
    /* was accepted: transformers takes the logarithm of each beta */
    {"a negative YaRN beta_fast",
     "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 2, \"beta_fast\": -32}",
     "config.json: rope_scaling.beta_fast -32 and beta_slow 1 must be positive"},
    {"a negative YaRN beta_slow",
     "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 2, \"beta_slow\": -1}",
     "beta_fast 32 and beta_slow -1 must be positive"},
    /* these named their keys rope_scaling.* under rope_parameters too */
    {"a negative YaRN beta_fast in rope_parameters",
     "\"rope_parameters\": {\"rope_type\": \"yarn\", \"factor\": 2, \"beta_fast\": -32}",
     "config.json: rope_parameters.beta_fast -32 and beta_slow 1 must be positive"},
    {"a string llama3 low_freq_factor in rope_parameters",
     "\"rope_parameters\": {\"rope_type\": \"llama3\", \"factor\": 8, "
     "\"low_freq_factor\": \"1\", \"high_freq_factor\": 4, "
     "\"original_max_position_embeddings\": 8192}", "rope_parameters.low_freq_factor"},
    /* named rope_scaling, or no dictionary, under rope_parameters */
    {"linear scaling without a factor in rope_parameters",
     "\"rope_parameters\": {\"rope_type\": \"linear\"}",
     "config.json: rope_parameters of this type needs a \"factor\""},
    {"YaRN scaling without a factor in rope_parameters",
     "\"rope_parameters\": {\"rope_type\": \"yarn\"}",
     "config.json: YaRN rope_parameters needs its \"factor\""},
    {"a YaRN truncate that is not a boolean",
     "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 2, \"truncate\": 0}",
     "config.json: \"rope_scaling.truncate\" must be true or false"},
    /* were accepted, and saved as GGUF without YaRN (the saver writes a factor above 1 only),
    ** loaded back as plain RoPE: transformers' check wants a float >= 1 */
    {"a YaRN factor of 0.5", "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 0.5}",
     "config.json: rope_scaling.factor is 0.5; YaRN needs a finite factor of at least 1"},
    {"a YaRN factor of 0.999 in rope_parameters",
     "\"rope_parameters\": {\"rope_type\": \"yarn\", \"factor\": 0.999}",
     "config.json: rope_parameters.factor is 0.999; YaRN needs a finite factor of at least 1"},
    {"a null YaRN factor that comes out below 1",
     "\"max_position_embeddings\": 100, \"rope_scaling\": {\"type\": \"yarn\", \"factor\": "
     "null, \"original_max_position_embeddings\": 400}",
     "config.json: rope_scaling.factor is null, which makes it max_position_embeddings / "
     "original_max_position_embeddings = 0.25; YaRN needs a factor of at least 1"},
    {"a YaRN factor beyond a float", "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 1e39}",
     "config.json: rope_scaling.factor is 1e+39; YaRN needs a finite factor"},
    /* were accepted: transformers' checks of linear and llama3 want a float >= 1 as YaRN's */
    {"a linear factor of 0.5", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 0.5}",
     "config.json: rope_scaling.factor is 0.5; linear RoPE scaling needs a finite factor of "
     "at least 1 (positions are divided by it; transformers requires a float >= 1 too). Give "
     "the factor the model was trained with, or leave out rope_scaling for plain RoPE"},
    {"a linear factor of 0", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 0}",
     "rope_scaling.factor is 0; linear RoPE scaling needs a finite factor of at least 1"},
    {"a linear factor beyond a float in rope_parameters",
     "\"rope_parameters\": {\"rope_type\": \"linear\", \"factor\": 1e39}",
     "rope_parameters.factor is 1e+39; linear RoPE scaling needs a finite factor"},
    {"a llama3 factor of 0.25",
     "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 0.25, "
     "\"low_freq_factor\": 1, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 16}",
     "config.json: rope_scaling.factor is 0.25; llama3 RoPE scaling needs a finite factor of "
     "at least 1 (the slow frequencies are divided by it; transformers requires a float >= 1 "
     "too). Give the factor the model was trained with, or leave out rope_scaling"},
    {"a negative llama3 factor",
     "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": -8, "
     "\"low_freq_factor\": 1, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 16}",
     "rope_scaling.factor is -8; llama3 RoPE scaling needs a finite factor of at least 1"},
    {"a llama3 factor beyond a float",
     "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 1e300, "
     "\"low_freq_factor\": 1, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 16}",
     "rope_scaling.factor is 1e+300; llama3 RoPE scaling needs a finite factor"},
    {"an odd head_dim", "\"head_dim\": 15", "head_dim 15 is odd"},
    {"a fractional size", "\"max_position_embeddings\": 12.5",
     "\"max_position_embeddings\" must be an integer"},
    {"a key given twice (transformers would take the last, cJSON the first)",
     "\"num_key_value_heads\": 4", "\"num_key_value_heads\" appears twice"},
    /* were read with the top-level number: transformers 4 read the other */
    {"two different YaRN original_max_position_embeddings",
     "\"original_max_position_embeddings\": 100, \"rope_scaling\": {\"type\": \"yarn\", "
     "\"factor\": 2, \"original_max_position_embeddings\": 50}",
     "config.json: original_max_position_embeddings is 100 at the top level and 50 in "
     "rope_scaling; transformers 5 reads the top-level one for YaRN RoPE, transformers 4 the "
     "other. Keep one of the two, the context the model was trained with before scaling"},
    {"two different llama3 original_max_position_embeddings",
     "\"original_max_position_embeddings\": 4096, \"rope_parameters\": {\"rope_type\": "
     "\"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4, "
     "\"original_max_position_embeddings\": 8192}",
     "original_max_position_embeddings is 4096 at the top level and 8192 in rope_parameters; "
     "transformers 5 reads the top-level one for llama3 RoPE"},
    /* were read as rope_scaling says, the other dictionary ignored without a word */
    {"rope_scaling and rope_parameters with different thetas",
     "\"rope_theta\": 10000, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}, "
     "\"rope_parameters\": {\"rope_type\": \"linear\", \"factor\": 2, \"rope_theta\": 500000}",
     "config.json: rope_scaling and rope_parameters are both given and disagree: rope_theta is "
     "10000 by rope_scaling and 500000 by rope_parameters (each read with the top-level keys "
     "and defaults); transformers reads only rope_scaling when both are given: keep the one "
     "the model was trained with and delete the other"},
    {"rope_scaling and rope_parameters with different YaRN factors",
     "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 2}, "
     "\"rope_parameters\": {\"rope_type\": \"yarn\", \"factor\": 4}",
     "disagree: factor is 2 by rope_scaling and 4 by rope_parameters"},
    {"rope_scaling and rope_parameters of different types",
     "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 2}, "
     "\"rope_parameters\": {\"rope_type\": \"default\"}",
     "disagree: rope_type is yarn by rope_scaling and default by rope_parameters"},
    {"an unreadable rope_parameters beside rope_scaling",
     "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}, "
     "\"rope_parameters\": {\"rope_type\": \"longrope\"}",
     "RoPE type \"longrope\" is not supported (qora applies default, linear, yarn and llama3); "
     "transformers reads only rope_scaling when both are given"},
    {"a key given twice inside rope_scaling",
     "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 2, \"factor\": 4}",
     "\"factor\" appears twice"},
  };
  char json[2048];

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(json, sizeof json, "%s", smollm3_with(cases[i].extra));
    TAP_OK(parse(json) == -1 && strstr(err.msg, cases[i].want), "refuses %s: %s",
           cases[i].what, err.msg);
  }
  snprintf(json, sizeof json, "%s", smollm3_with(""));
  memcpy(strstr(json, "64"), "66", 2);
  TAP_OK(parse(json) == -1 && strstr(err.msg, "hidden_size 66 is not a multiple of "
         "num_attention_heads 4, and no head_dim"), "refuses heads that do not divide hidden "
         "without head_dim: %s", err.msg);
  TAP_OK(parse("{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 8, "
               "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 10, "
               "\"num_key_value_heads\": 3}") == -1 &&
         strstr(err.msg, "num_attention_heads 4 is not a multiple of num_key_value_heads 3"),
         "refuses heads that do not divide into key/value heads: %s", err.msg);
  TAP_OK(parse("{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": 64}") == -1 &&
         strstr(err.msg, "architecture Qwen2ForCausalLM is not supported"),
         "refuses an unknown architecture by name: %s", err.msg);
  TAP_OK(parse("{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"smollm3\"}") ==
         -1 && strstr(err.msg, "contradicts model_type"),
         "refuses an architecture that contradicts model_type: %s", err.msg);
  TAP_OK(parse("{\"model_type\": \"gemma\"}") == -1 && strstr(err.msg, "model_type \"gemma\""),
         "refuses an unknown model_type by name: %s", err.msg);
  TAP_OK(parse("{\"architectures\": [\"SmolLM3ForCausalLM\"], \"hidden_size\": 64}") == -1 &&
         strstr(err.msg, "no \"intermediate_size\""), "names a missing field: %s", err.msg);
  TAP_OK(parse("{\"hidden_size\": 64}") == -1 && strstr(err.msg, "neither \"architectures\""),
         "refuses a config without architecture: %s", err.msg);
  TAP_OK(parse("[1, 2]") == -1 && strstr(err.msg, "is JSON but not a JSON object"),
         "refuses a config that is not an object: %s", err.msg);
  TAP_OK(parse("{\"hidden_size\": 64, \"num_") == -1 && strstr(err.msg, "cut short"),
         "says a config that ends inside its JSON looks cut short: %s", err.msg);
  TAP_OK(parse("{\"hidden_size\": @}") == -1 &&
         strstr(err.msg, "not valid JSON (parsing stops at byte 16 of 18)"),
         "names the byte where a config stops being JSON: %s", err.msg);
}


/* ---------------------------------------------------------------- frequencies */

#define MANY_KEYS 100000

/* A SmolLM3 config with MANY_KEYS more keys, the last one "k0" again if dup. */
static char *many_keys_json(int dup) {
  char *json = malloc(MANY_KEYS * 16 + 2048), *p = json;

  p += sprintf(p, "%s", smollm3_with(""));
  p--;                                  /* over the closing brace */
  for (int i = 0; i < MANY_KEYS; i++)
    p += sprintf(p, ", \"k%d\": 0", dup && i == MANY_KEYS - 1 ? 0 : i);
  strcpy(p, "}");
  return json;
}


/*
** Keys given twice are found by sorting: comparing every pair took minutes on a config.json of
** a million keys (found reading the code behind fuzz_hf_config).
*/
static void test_many_keys(void) {
  char *json = many_keys_json(0);
  int rc = parse(json);

  TAP_OK(rc == 0, "parses a config of %d keys: %s", MANY_KEYS, rc ? err.msg : "");
  hf_config_free(&cfg);
  free(json);
  json = many_keys_json(1);
  TAP_OK(parse(json) == -1 && strstr(err.msg, "\"k0\" appears twice"), "refuses a key given "
         "twice among %d: %s", MANY_KEYS, err.msg);
  free(json);
}


/* Parses json, computes the frequencies and compares them with transformers' within rel. */
static void check_freqs(const char *what, const char *json, const float *want, int n,
                        double factor) {
  float got[256];
  double worst = 0;
  int at = 0;
  float f = 0;

  if (!TAP_OK(parse(json) == 0, "%s: parses its config", what)) {
    TAP_DIAG("%s", err.msg);
    return;
  }
  if (cfg.head_dim / 2 == n) {
    f = hf_rope_freqs(&cfg.rope, cfg.head_dim, got);
    for (int i = 0; i < n; i++) {
      double rel = fabs(got[i] - want[i]) / want[i];

      if (rel > worst) {
        worst = rel;
        at = i;
      }
    }
  }
  TAP_OK(cfg.head_dim / 2 == n && worst < 1e-6,
         "%s: the %d frequencies match transformers (worst relative difference %.2g at %d: "
         "want %.9g, got %.9g)", what, n, worst, at, want[at], got[at]);
  TAP_OK(fabs(f - factor) < 1e-6, "%s: cos and sin factor %.9f (transformers %.9f)", what, f,
         factor);
  hf_config_free(&cfg);
}

static void test_freqs(void) {
  check_freqs("tiny-yarn's YaRN", yarn_tiny_json, yarn_tiny_freqs, 8, yarn_tiny_factor);
  check_freqs("SmolLM3-3B's YaRN recipe", yarn_3b_json, yarn_3b_freqs, 64, yarn_3b_factor);
  check_freqs("YaRN with betas, mscale and no truncation", yarn_knobs_json, yarn_knobs_freqs,
              16, yarn_knobs_factor);
  check_freqs("Llama 3.2's llama3 scaling", llama3_json, llama3_freqs, 32, llama3_factor);
}

int main(void) {
  test_fixtures();
  test_other_configs();
  test_refusals();
  test_many_keys();
  test_freqs();
  return tap_done();
}
