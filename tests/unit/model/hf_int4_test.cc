// Hugging Face AWQ/GPTQ checkpoints: quantization_config parsing and its refusals, the
// published bit layouts pinned word by word, every fixture projection converted to kU4 and
// dequantised against the fp32 reference of what the test writer packed (AWQ; GPTQ sym and
// asym, act-order on and off, v1 and v2 zeros, group -1), act-order permutations bound once
// per input and not at all for the identity, a group-128 synthetic projection,
// and the conversion's refusals (bad g_idx, shapes, dtypes, mislabelled zeros, truncation).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "common/model/config_quantization.h"
#include "common/model/hf_int4_layout.h"
#include "common/model/hf_int4_weights.h"
#include "common/model/int4_weights.h"
#include "tests/support/hf_int4_writer.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;
using Method = HfQuantization::Method;

ModelConfig FixtureConfig() { return *LoadModelConfig(TinyModelDir() + "/config.json"); }

StatusOr<HfQuantization> Parse(const nlohmann::json& quant) {
  nlohmann::json config = nlohmann::json::parse(ReadFile(TinyModelDir() + "/config.json"));
  config["quantization_config"] = quant;
  return ParseHfQuantization(config.dump(), "config.json", FixtureConfig());
}

void ExpectRefused(const nlohmann::json& quant, StatusCode code, const std::string& needle) {
  StatusOr<HfQuantization> q = Parse(quant);
  ASSERT_FALSE(q.ok()) << quant.dump();
  EXPECT_EQ(q.status().code(), code) << q.status().message();
  EXPECT_THAT(q.status().message(), HasSubstr(needle));
}

TEST(HfQuantConfig, ReadsAwqAndGptqVariants) {
  EXPECT_FALSE(ParseHfQuantization(ReadFile(TinyModelDir() + "/config.json"), "c", FixtureConfig())
                   ->quantized());
  StatusOr<HfQuantization> awq = Parse(QuantizationConfig({Method::kAwq, 32}));
  ASSERT_TRUE(awq.ok()) << awq.status().message();
  EXPECT_EQ(awq->method, Method::kAwq);
  EXPECT_EQ(awq->group_size, 32);
  EXPECT_EQ(awq->zero_offset, 0);
  HfInt4Spec v1{Method::kGptq, kHfGroupPerRow, /*sym=*/true, /*gptq_v1=*/true, /*act_order=*/true};
  StatusOr<HfQuantization> gptq = Parse(QuantizationConfig(v1));
  ASSERT_TRUE(gptq.ok()) << gptq.status().message();
  EXPECT_EQ(gptq->group_size, kHfGroupPerRow);
  EXPECT_EQ(gptq->GroupSizeFor(192), 192);
  EXPECT_TRUE(gptq->desc_act && gptq->sym);
  EXPECT_EQ(gptq->zero_offset, 1);
  v1.gptq_v1 = false;
  EXPECT_EQ(Parse(QuantizationConfig(v1))->zero_offset, 0);
  // GPTQModel's "format" spelling, and AWQ's version in capitals as AutoAWQ accepts it.
  EXPECT_EQ(Parse({{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 64}, {"format", "gptq_v2"}})
                ->zero_offset,
            0);
  EXPECT_TRUE(Parse({{"quant_method", "awq"}, {"bits", 4}, {"group_size", 64}, {"version", "GEMM"}}).ok());
  EXPECT_TRUE(Parse({{"quant_method", "awq"}, {"bits", 4}, {"group_size", 64},
                     {"modules_to_not_convert", {"lm_head"}}}).ok());
}

TEST(HfQuantConfig, RefusesWhatItDoesNotLoadNamingWhatIsSupported) {
  const nlohmann::json gptq = {{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 32}};
  const nlohmann::json awq = {{"quant_method", "awq"}, {"bits", 4}, {"group_size", 32}};
  auto with = [](nlohmann::json j, const std::string& key, const nlohmann::json& value) {
    j[key] = value;
    return j;
  };
  const std::string supported = "Strata loads 4-bit AWQ checkpoints";
  ExpectRefused(with(gptq, "bits", 8), StatusCode::kUnimplemented, "bits 8");
  ExpectRefused(with(gptq, "bits", 8), StatusCode::kUnimplemented, supported);
  ExpectRefused(with(awq, "version", "exllama"), StatusCode::kUnimplemented, "AWQ version \"exllama\"");
  ExpectRefused(with(awq, "version", "gemv"), StatusCode::kUnimplemented, "gemv");
  ExpectRefused(with(awq, "version", "marlin"), StatusCode::kUnimplemented, "marlin");
  ExpectRefused(with(awq, "zero_point", false), StatusCode::kUnimplemented, "zero_point false");
  ExpectRefused(with(awq, "backend", "llm-awq"), StatusCode::kUnimplemented, "llm-awq");
  ExpectRefused(with(gptq, "quant_method", "bitsandbytes"), StatusCode::kUnimplemented,
                "quant_method \"bitsandbytes\" is not supported; " + supported);
  ExpectRefused(with(gptq, "checkpoint_format", "marlin"), StatusCode::kUnimplemented,
                "checkpoint_format \"marlin\"");
  ExpectRefused(with(gptq, "is_marlin_format", true), StatusCode::kUnimplemented, "Marlin");
  ExpectRefused(with(gptq, "pack_dtype", "int16"), StatusCode::kUnimplemented, "pack_dtype");
  ExpectRefused(with(gptq, "lm_head", true), StatusCode::kUnimplemented, "quantised LM head");
  ExpectRefused(with(gptq, "dynamic", {{"-:.*down_proj", nlohmann::json::object()}}),
                StatusCode::kUnimplemented, "dynamic");
  ExpectRefused(with(awq, "modules_to_not_convert", {"down_proj"}), StatusCode::kUnimplemented,
                "leaves model.layers.0.mlp.down_proj unquantised");
  ExpectRefused(with(gptq, "modules_in_block_to_quantize", {{"self_attn.q_proj"}}),
                StatusCode::kUnimplemented, "self_attn.k_proj");
  ExpectRefused(with(gptq, "group_size", 48), StatusCode::kInvalidArgument, "divisor");
  ExpectRefused(with(gptq, "group_size", 0), StatusCode::kInvalidArgument, "-1 or a positive even");
  ExpectRefused(with(gptq, "desc_act", "yes"), StatusCode::kInvalidArgument, "desc_act must be true or false");
  ExpectRefused(with(with(gptq, "checkpoint_format", "gptq"), "format", "gptq_v2"),
                StatusCode::kInvalidArgument, "the same as checkpoint_format");
  ExpectRefused(nlohmann::json::object({{"bits", 4}}), StatusCode::kInvalidArgument, "quant_method is missing");
}

// The writer packs as the published code does: AWQ interleaves outputs 0, 2, 4, 6, 1, 3, 5, 7
// into nibbles 0..7; GPTQ packs them in order.
TEST(HfInt4Layout, WriterPacksThePublishedNibbleOrders) {
  const uint8_t values[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ(PackWord(values, /*awq_order=*/true), 0x75316420u);
  EXPECT_EQ(PackWord(values, /*awq_order=*/false), 0x76543210u);
}

// A safetensors file of `tensors` in `dir`, opened.
SafetensorsFile OpenTensors(const std::string& path, const std::vector<SyntheticTensor>& tensors) {
  WriteFile(path, SyntheticSafetensors(tensors));
  StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
  EXPECT_TRUE(f.ok()) << f.status().message();
  return std::move(*f);
}

HfInt4Source SourceIn(const SafetensorsFile& f, const QuantizedProjection& p) {
  HfInt4Source src;
  src.module = p.module;
  src.qweight = f.Find(p.module + ".qweight");
  src.qzeros = f.Find(p.module + ".qzeros");
  src.scales = f.Find(p.module + ".scales");
  src.g_idx = f.Find(p.module + ".g_idx");
  src.out_features = p.out;
  src.in_features = p.in;
  return src;
}

HfQuantization QuantOf(const HfInt4Spec& spec) { return *Parse(QuantizationConfig(spec)); }

// `spec` parsed against a model whose every projection has `in` input features.
HfQuantization QuantFor(const HfInt4Spec& spec, int64_t in) {
  ModelConfig c = FixtureConfig();
  c.hidden_size = c.intermediate_size = in;
  c.head_dim = in / c.num_heads;
  nlohmann::json config = {{"quantization_config", QuantizationConfig(spec)}};
  StatusOr<HfQuantization> q = ParseHfQuantization(config.dump(), "config.json", c);
  EXPECT_TRUE(q.ok()) << q.status().message();
  return *q;
}

// Every weight of `view` against p's fp32 reference: bf16 scales move a weight by at most
// 2^-8 of itself (hf_int4_layout.h), fp32 products by 2^-24 more.
void ExpectMatchesReference(const WeightView& view, const QuantizedProjection& p) {
  ASSERT_EQ(view.rows, p.out);
  ASSERT_EQ(view.cols, p.in);
  std::vector<float> got(static_cast<size_t>(p.out * p.in));
  DequantizeU4Rows(view, 0, p.out, got.data());
  int64_t bad = 0;
  for (int64_t o = 0; o < p.out; ++o) {
    for (int64_t i = 0; i < p.in; ++i) {
      const float ref = p.Reference(o, i), tol = std::ldexp(std::fabs(ref), -8) * (1 + 1e-5f);
      if (std::fabs(got[static_cast<size_t>(o * p.in + i)] - ref) > tol && bad++ < 3) {
        ADD_FAILURE() << p.module << " [" << o << ", " << i << "]: " << got[static_cast<size_t>(o * p.in + i)]
                      << " vs reference " << ref;
      }
    }
  }
  EXPECT_EQ(bad, 0) << p.module;
}

TEST(HfInt4Layout, Group128SyntheticProjectionsMatchTheReference) {
  TempDir tmp;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  const int64_t out = 24, in = 512;
  std::vector<float> w(static_cast<size_t>(out * in));
  for (float& x : w) x = normal(rng);
  for (const HfInt4Spec& spec : {HfInt4Spec{Method::kAwq, 128},
                                 HfInt4Spec{Method::kGptq, 128, false, true, /*act_order=*/true},
                                 HfInt4Spec{Method::kGptq, 128, true, false, false}}) {
    const QuantizedProjection p =
        QuantizeProjection("m.proj", w.data(), out, in, spec, MakeGIdx(in, 128, spec.act_order, rng));
    const SafetensorsFile f = OpenTensors(tmp.File("p.safetensors"), PackProjection(p, spec));
    StatusOr<U4Tensor> t = ConvertHfInt4(SourceIn(f, p), QuantFor(spec, in));
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(t->group_size, 128);
    EXPECT_EQ(t->col_perm.empty(), !spec.act_order);
    ExpectMatchesReference(t->View(), p);
  }
}

// Some scales of the fixture do round in bf16 (so the tolerance above is exercised), and the
// per-variant checkpoints load with each projection equal to the reference within it.
class HfInt4FixtureTest : public ::testing::TestWithParam<HfInt4Spec> {};

TEST_P(HfInt4FixtureTest, EveryProjectionMatchesTheFp32Reference) {
  TempDir tmp;
  const HfInt4Spec spec = GetParam();
  const std::vector<QuantizedProjection> written = WriteHfInt4Checkpoint(tmp.path(), spec);
  StatusOr<Checkpoint> ckpt = Checkpoint::Open(tmp.path());
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().message();
  EXPECT_EQ(ckpt->quantization().method, spec.method);
  StatusOr<CheckpointWeights> w = LoadCheckpointWeights(*ckpt);
  ASSERT_TRUE(w.ok()) << w.status().message();
  ASSERT_EQ(w->converted.size(), written.size());
  bool some_scale_rounded = false;
  for (size_t n = 0; n < written.size(); ++n) {
    const QuantizedProjection& p = written[n];
    const WeightView view = w->weights.layers[n / kHfProjections.size()].*
                            kHfProjections[n % kHfProjections.size()].member;
    EXPECT_EQ(view.dtype, DType::kU4);
    EXPECT_EQ(view.group_size, p.group_size);
    EXPECT_EQ(view.col_perm != nullptr, spec.act_order) << p.module;
    ExpectMatchesReference(view, p);
    for (uint16_t s : p.scales) some_scale_rounded |= F16ToFloat(s) != BF16ToFloat(FloatToBF16(F16ToFloat(s)));
  }
  EXPECT_TRUE(some_scale_rounded);
  EXPECT_EQ(w->weights.embed.dtype, spec.other_dtype == "F16" ? DType::kF16 : DType::kBF16);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, HfInt4FixtureTest,
    ::testing::Values(HfInt4Spec{Method::kAwq, 32, false, false, false, false, "F16"},
                      HfInt4Spec{Method::kGptq, 32, /*sym=*/true, /*gptq_v1=*/true},
                      HfInt4Spec{Method::kGptq, 32, /*sym=*/false, /*gptq_v1=*/true},
                      HfInt4Spec{Method::kGptq, 32, /*sym=*/false, /*gptq_v1=*/false},
                      HfInt4Spec{Method::kGptq, 32, false, true, /*act_order=*/true},
                      HfInt4Spec{Method::kGptq, 32, true, false, /*act_order=*/true},
                      HfInt4Spec{Method::kGptq, 32, false, true, /*act_order=*/true, true,
                                 "BF16", 1, /*order_per_input=*/false},
                      HfInt4Spec{Method::kGptq, kHfGroupPerRow, false, false, false,
                                 /*write_g_idx=*/false}),
    SpecTestName);

// Act-order checkpoints give the projections of one input one column order: they are bound to
// one array (the CUDA backend runs q, k, v as one GEMV, and gate, up, only then), an identity
// order to none (no gather); per-projection orders keep their own arrays.
TEST(HfInt4Checkpoint, ActOrderPermutationsAreBoundOncePerInputAndNoneForTheIdentity) {
  for (const bool per_input : {true, false}) {
    SCOPED_TRACE(per_input ? "one order per input" : "one order per projection");
    TempDir tmp;
    HfInt4Spec spec{Method::kGptq, 32, false, true, /*act_order=*/true};
    spec.order_per_input = per_input;
    spec.identity_module = "self_attn.o_proj";
    const std::vector<QuantizedProjection> written = WriteHfInt4Checkpoint(tmp.path(), spec);
    StatusOr<Checkpoint> ckpt = Checkpoint::Open(tmp.path());
    ASSERT_TRUE(ckpt.ok()) << ckpt.status().message();
    StatusOr<CheckpointWeights> w = LoadCheckpointWeights(*ckpt);
    ASSERT_TRUE(w.ok()) << w.status().message();
    for (const LlamaLayerWeights& l : w->weights.layers) {
      for (const WeightView* v : {&l.wq, &l.wk, &l.wv, &l.w_gate, &l.w_up, &l.w_down}) {
        EXPECT_NE(v->col_perm, nullptr);
      }
      EXPECT_EQ(l.wo.col_perm, nullptr);
      EXPECT_EQ(l.wk.col_perm == l.wq.col_perm && l.wv.col_perm == l.wq.col_perm, per_input);
      EXPECT_EQ(l.w_up.col_perm == l.w_gate.col_perm, per_input);
      EXPECT_NE(l.w_gate.col_perm, l.wq.col_perm);
      EXPECT_NE(l.w_down.col_perm, l.w_gate.col_perm);
    }
    for (size_t n = 0; n < written.size(); ++n) {
      ExpectMatchesReference(w->weights.layers[n / kHfProjections.size()].*
                                 kHfProjections[n % kHfProjections.size()].member,
                             written[n]);
    }
  }
}

// A small GPTQ projection written to a file, for the refusals below.
struct OneProjection {
  TempDir tmp;
  HfInt4Spec spec{Method::kGptq, 32, false, true, true};
  QuantizedProjection p;
  std::vector<SyntheticTensor> tensors;

  OneProjection() {
    std::mt19937 rng(3);
    std::vector<float> w(16 * 64);
    for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(static_cast<float>(i));
    p = QuantizeProjection("model.layers.0.mlp.up_proj", w.data(), 16, 64, spec,
                           MakeGIdx(64, 32, true, rng));
    tensors = PackProjection(p, spec);
  }
  SyntheticTensor& Tensor(const std::string& suffix) {
    for (SyntheticTensor& t : tensors)
      if (t.name.ends_with(suffix)) return t;
    throw std::runtime_error("no " + suffix);
  }
  Status Convert(const HfQuantization& q) {
    const SafetensorsFile f = OpenTensors(tmp.File("p.safetensors"), tensors);
    return ConvertHfInt4(SourceIn(f, p), q).status();
  }
  Status Convert() { return Convert(QuantOf(spec)); }
};

void ExpectError(const Status& s, StatusCode code, const std::string& needle) {
  EXPECT_EQ(s.code(), code) << s.message();
  EXPECT_THAT(s.message(), HasSubstr(needle));
}

TEST(HfInt4Refusals, GIdxWithUnevenGroupsOrOutOfRange) {
  OneProjection one;
  ASSERT_TRUE(one.Convert().ok());
  std::string& g = one.Tensor(".g_idx").data;
  const int32_t one_value = 1;
  for (int i = 0; i < 64; ++i) {  // input column i: group 1 if it was 0 → 64 columns in group 1
    std::memcpy(g.data() + 4 * i, &one_value, 4);
  }
  ExpectError(one.Convert(), StatusCode::kDataLoss,
              "puts 0 input columns in group 0; Strata needs exactly group_size (32)");
  const int32_t outside = 2;
  std::memcpy(g.data(), &outside, 4);
  ExpectError(one.Convert(), StatusCode::kDataLoss, "puts input column 0 in group 2, outside the 2 groups");
}

TEST(HfInt4Refusals, ShapesDtypesAndMissingTensors) {
  {
    OneProjection one;
    one.Tensor(".qweight").shape = {16, 8};  // AWQ's orientation in a GPTQ checkpoint
    ExpectError(one.Convert(), StatusCode::kDataLoss,
                "'model.layers.0.mlp.up_proj.qweight' in " + one.tmp.File("p.safetensors") +
                    " is I32 [16, 8], but GPTQ stores it as I32 [8, 16]");
  }
  {
    OneProjection one;
    SyntheticTensor& s = one.Tensor(".scales");
    s.dtype = "BF16";
    ExpectError(one.Convert(), StatusCode::kDataLoss, "scales' in");
    ExpectError(one.Convert(), StatusCode::kDataLoss, "is BF16 [2, 16], but GPTQ stores it as F16");
  }
  {
    OneProjection one;
    one.tensors.pop_back();  // g_idx
    ExpectError(one.Convert(), StatusCode::kFailedPrecondition, "g_idx' is missing, but");
  }
  {
    OneProjection one;
    one.tensors.erase(one.tensors.begin() + 1);  // qzeros
    ExpectError(one.Convert(), StatusCode::kDataLoss, "'model.layers.0.mlp.up_proj.qzeros' is missing");
  }
}

TEST(HfInt4Refusals, SymmetricZerosThatAreNotEightNameTheFormat) {
  OneProjection one;
  one.spec.sym = true;
  one.p = QuantizeProjection(one.p.module, std::vector<float>(16 * 64, 0.5f).data(), 16, 64,
                             one.spec, one.p.g_idx);
  one.tensors = PackProjection(one.p, one.spec);  // v1: stored 7
  ASSERT_TRUE(one.Convert().ok());
  HfInt4Spec v2 = one.spec;
  v2.gptq_v1 = false;  // the same bytes read as gptq_v2: zero points 7
  ExpectError(one.Convert(QuantOf(v2)), StatusCode::kDataLoss,
              "says sym, but group 0 of output 0 has zero point 7, not 8; its checkpoint_format "
              "is likely wrong");
}

TEST(HfInt4Refusals, NonFiniteScale) {
  OneProjection one;
  const uint16_t inf = 0x7c00;
  std::memcpy(one.Tensor(".scales").data.data() + 2 * 5, &inf, 2);
  ExpectError(one.Convert(), StatusCode::kDataLoss, "non-finite scale at group 0, output 5");
}

TEST(HfInt4Checkpoint, TruncatedFileAndI32SizesAreCaught) {
  TempDir tmp;
  WriteHfInt4Checkpoint(tmp.path(), {Method::kAwq, 32});
  const std::string file = tmp.File("model.safetensors");
  std::filesystem::resize_file(file, std::filesystem::file_size(file) - 100);
  StatusOr<Checkpoint> c = Checkpoint::Open(tmp.path());
  ASSERT_FALSE(c.ok());
  ExpectError(c.status(), StatusCode::kDataLoss, "past the end of the data");

  // An I32 tensor whose byte range disagrees with its shape.
  SyntheticTensor t{"x.qweight", "I32", {2, 3}, std::string(20, '\0')};
  WriteFile(tmp.File("bad.safetensors"), SyntheticSafetensors({t}));
  StatusOr<SafetensorsFile> f = SafetensorsFile::Open(tmp.File("bad.safetensors"));
  ASSERT_FALSE(f.ok());
  ExpectError(f.status(), StatusCode::kDataLoss, "spanning 20 bytes, but dtype I32 x shape [2, 3] needs 24");
}

TEST(HfInt4Checkpoint, PlainBindingRefusesQuantisedCheckpointsAndI32Weights) {
  TempDir tmp;
  WriteHfInt4Checkpoint(tmp.path(), {Method::kAwq, 32});
  StatusOr<Checkpoint> c = Checkpoint::Open(tmp.path());
  ASSERT_TRUE(c.ok()) << c.status().message();
  ExpectError(BindLlamaWeights(*c).status(), StatusCode::kFailedPrecondition,
              "is AWQ 4-bit, group 32; its projections are converted by LoadCheckpointWeights");
  // An I32 tensor where a float weight belongs.
  std::vector<SyntheticTensor> tensors = TinyLlamaTensors(/*with_lm_head=*/true);
  tensors[0].dtype = "I32";  // the embedding: same bytes per element as its F32
  TempDir plain;
  WriteTinyLlama(plain.path(), TinyLlamaConfig(), tensors);
  c = Checkpoint::Open(plain.path());
  ASSERT_TRUE(c.ok()) << c.status().message();
  ExpectError(BindLlamaWeights(*c).status(), StatusCode::kDataLoss,
              "'model.embed_tokens.weight' in " + plain.File("model.safetensors") +
                  " is I32, not a float tensor");
}

TEST(HfInt4Checkpoint, RefusedConfigStopsTheOpen) {
  TempDir tmp;
  WriteHfInt4Checkpoint(tmp.path(), {Method::kGptq, 32});
  EditJsonFile(tmp.File("config.json"), [](nlohmann::json& j) { j["quantization_config"]["bits"] = 8; });
  StatusOr<Checkpoint> c = Checkpoint::Open(tmp.path());
  ASSERT_FALSE(c.ok());
  ExpectError(c.status(), StatusCode::kUnimplemented, "quantization_config bits 8 is not supported");
}

}  // namespace
}  // namespace strata::testing
