// Worker stages in one process: a 2-stage and a 3-stage pipeline produce exactly the greedy
// ids of the single-process model over a prompt and decode steps, as does a stage whose
// assignment keeps GPU prefixes (and bad prefixes are refused clearly), a prompt split into
// chunks samples only once it is complete, a sequence asking for log-probabilities gets the
// log-softmax of the single-process logits with the same ids (and one not asking gets none),
// and bad steps fail with errors naming the step, the stage and the sequence. Over UCX on
// loopback (TCP) with CPU backends everywhere; and, in builds with NCCL, over NCCL between two
// GPUs (skipped with fewer).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <future>

#include "common/backend/backend_factory.h"
#include "common/backend/cpu/cpu_backend.h"
#include "common/engine/generator.h"
#include "common/engine/pack_model.h"
#include "common/storage/pack.h"
#include "common/storage/pack_format.h"
#include "common/storage/pack_writer.h"
#include "tests/unit/worker/stage_messages.h"
#include "tests/support/layer_homes.h"
#include "tests/support/reference_fixture.h"
#include "tests/support/temp_dir.h"
#include "worker/stage.h"

namespace strata::worker {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

constexpr int32_t kMaxBatch = 64;
constexpr int32_t kDecodeSteps = 6;

struct Transport {
  const char* name;
  const char* transport;
  std::vector<std::string> backends;  // stage s runs on backends[s]; [0] also the reference
};
void PrintTo(const Transport& t, std::ostream* os) { *os << t.name; }

// The last stage's speculative decoding (an Assignment's draft fields); none by default.
struct Speculation {
  std::string draft;  // a pack directory; empty: none
  int32_t tree_tokens = 0;
  bool adaptive = false;
  int32_t branch = 1;
};

class StageTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    for (const std::string& spec : GetParam().backends) {
      StatusOr<std::unique_ptr<Backend>> b = CreateBackend(spec);
      if (!b.ok()) GTEST_SKIP() << spec << ": " << b.status().ToString();
      backends_.push_back(std::move(b).value());
    }
  }

  static void SetUpTestSuite() {
    setenv("UCX_TLS", "tcp", 1);
    dir_ = new TempDir("stages");
    PackOptions o;
    o.model_dir = testing::TinyModelDir();
    o.out_dir = dir_->File("pack");
    ASSERT_TRUE(WritePack(o).ok());
    // A draft that is often wrong: the same model rounded to int4 (the fixture is chaotic).
    o.out_dir = dir_->File("int4-pack");
    o.dtype = PackDType::kInt4;
    o.group_size = 32;
    ASSERT_TRUE(WritePack(o).ok());
  }
  static void TearDownTestSuite() { delete dir_; }

  control::v1::Assignment Assign(int32_t stage, int32_t stages, int32_t first, int32_t n) {
    control::v1::Assignment a;
    a.set_epoch(1);
    a.set_stage(stage);
    a.set_num_stages(stages);
    a.set_first_layer(first);
    a.set_num_layers(n);
    a.set_gpu_layers(n);
    a.set_staging_chunks(1);
    a.set_chunk_bytes(1 << 20);
    a.set_max_batch_tokens(kMaxBatch);
    a.set_max_seq_len(128);
    a.set_kv_slots(2);
    a.set_transport(GetParam().transport);
    return a;
  }

  // Stages over [0, 6) split at `cuts`, connected all at once as the coordinator does.
  std::vector<std::unique_ptr<Stage>> Pipeline(const std::vector<int32_t>& cuts,
                                               const Speculation& speculation = {}) {
    std::vector<int32_t> bounds = {0};
    bounds.insert(bounds.end(), cuts.begin(), cuts.end());
    bounds.push_back(6);
    const int32_t n = static_cast<int32_t>(bounds.size()) - 1;
    StageOptions so;
    so.pack_dir = dir_->File("pack");
    so.link.bind_host = "127.0.0.1";
    so.link.token = "test-cluster-token";
    std::vector<std::unique_ptr<Stage>> stages;
    for (int32_t s = 0; s < n; ++s) {
      control::v1::Assignment a = Assign(s, n, bounds[s], bounds[s + 1] - bounds[s]);
      if (s == n - 1 && !speculation.draft.empty()) {
        a.set_draft_model(speculation.draft);
        a.set_speculative_tree_tokens(speculation.tree_tokens);
        a.set_speculative_adaptive(speculation.adaptive);
        a.set_draft_branch(speculation.branch);
      }
      StatusOr<std::unique_ptr<Stage>> st = Stage::Create(*backends_.at(s), a, so);
      EXPECT_TRUE(st.ok()) << st.status().ToString();
      if (!st.ok()) return {};
      stages.push_back(std::move(st).value());
    }
    std::vector<std::future<Status>> connected;
    for (int32_t s = 0; s < n; ++s) {
      const std::string next = s + 1 < n ? stages[s + 1]->data_address() : "";
      connected.push_back(std::async(std::launch::async, [&stages, s, next] {
        return stages[s]->Connect(next);
      }));
    }
    for (std::future<Status>& c : connected) {
      const Status st = c.get();
      EXPECT_TRUE(st.ok()) << st.ToString();
    }
    return stages;
  }

  static control::v1::OpenSequence Open(uint64_t id, int32_t prompt) {
    return testing::OpenGreedy(id, prompt);
  }

  // Pushes one step through every stage; returns the last stage's output.
  static StepOutput Run(std::vector<std::unique_ptr<Stage>>& stages, const control::v1::Step& step) {
    StepOutput out = stages[0]->RunStep(step);
    for (size_t s = 1; s < stages.size() && out.status.ok(); ++s) {
      StatusOr<std::optional<StepOutput>> got = stages[s]->RunReceived(std::chrono::seconds(10));
      if (!got.ok()) {
        StepOutput failed;
        failed.step_id = step.step_id();
        failed.status = got.status();
        return failed;
      }
      EXPECT_TRUE(got->has_value());
      out = **got;
    }
    return out;
  }

  static control::v1::Step Step(uint64_t step_id, uint64_t seq, int32_t start,
                                const std::vector<int32_t>& tokens) {
    return testing::OneSequenceStep(step_id, seq, start, tokens);
  }

  // The single-process greedy ids for `prompt`, on the first stage's backend.
  std::vector<int32_t> Reference(const std::vector<int32_t>& prompt) {
    PackModelOptions o = testing::AllOnGpu(0, 6);
    o.engine.max_batch_tokens = kMaxBatch;
    o.engine.max_seq_len = 128;
    std::unique_ptr<PackModel> m =
        std::move(PackModel::Open(*backends_.at(0), dir_->File("pack"), o)).value();
    GenerateOptions g;
    g.max_tokens = kDecodeSteps + 1;
    return std::move(Generate(m->model(), prompt, g)).value().output_ids;
  }

  // The single-process logits (vocab) after `prompt` and after each of `ids` but the last:
  // those from which ids were sampled, on the first stage's backend.
  std::vector<std::vector<float>> ReferenceLogits(const std::vector<int32_t>& prompt,
                                                  const std::vector<int32_t>& ids) {
    PackModelOptions o = testing::AllOnGpu(0, 6);
    o.engine.max_batch_tokens = kMaxBatch;
    o.engine.max_seq_len = 128;
    std::unique_ptr<PackModel> m =
        std::move(PackModel::Open(*backends_.at(0), dir_->File("pack"), o)).value();
    LlamaModel& model = m->model();
    const int32_t slot = model.kv_cache().Acquire().value();
    std::vector<std::vector<float>> out(1);
    BatchLayout batch;
    batch.Add(slot, 0, prompt.data(), static_cast<int32_t>(prompt.size()));
    EXPECT_TRUE(model.Forward(batch, LogitsMode::kLastToken, &out.back()).ok());
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      batch.Clear();
      batch.Add(slot, static_cast<int32_t>(prompt.size() + i), &ids[i], 1);
      EXPECT_TRUE(model.Forward(batch, LogitsMode::kLastToken, &out.emplace_back()).ok());
    }
    return out;
  }

  static control::v1::OpenSequence OpenWithLogprobs(uint64_t id, int32_t prompt, int32_t top) {
    control::v1::OpenSequence o = Open(id, prompt);
    o.mutable_sampling()->set_logprobs(true);
    o.mutable_sampling()->set_top_logprobs(top);
    return o;
  }

  static TempDir* dir_;
  std::vector<std::unique_ptr<Backend>> backends_;
};

TempDir* StageTest::dir_ = nullptr;

INSTANTIATE_TEST_SUITE_P(Ucx, StageTest,
                         ::testing::Values(Transport{"ucx_cpu", "ucx", {"cpu", "cpu", "cpu"}}),
                         [](const auto& p) { return std::string(p.param.name); });
#if STRATA_HAVE_NCCL
INSTANTIATE_TEST_SUITE_P(
    Nccl, StageTest,
    // Stages 0 and 2 share a GPU: each link's two ends are on different ones, as NCCL needs.
    ::testing::Values(Transport{"nccl_gpus", "nccl", {"cuda:0", "cuda:1", "cuda:0"}}),
    [](const auto& p) { return std::string(p.param.name); });
#endif

TEST_P(StageTest, PipelinesOfTwoAndThreeStagesGiveTheSingleProcessGreedyIds) {
  const std::vector<int32_t>& prompt = testing::ReferenceCases()[1].input_ids;
  const std::vector<int32_t> want = Reference(prompt);
  for (const std::vector<int32_t>& cuts : {std::vector<int32_t>{3}, std::vector<int32_t>{1, 4}}) {
    std::vector<std::unique_ptr<Stage>> stages = Pipeline(cuts);
    ASSERT_FALSE(stages.empty());
    for (auto& s : stages) ASSERT_TRUE(s->OpenSequence(Open(7, static_cast<int32_t>(prompt.size()))).ok());
    std::vector<int32_t> got;
    StepOutput out = Run(stages, Step(1, 7, 0, prompt));
    ASSERT_TRUE(out.status.ok()) << out.status.ToString();
    ASSERT_EQ(out.tokens.size(), 1u);
    got.push_back(out.tokens[0].token);
    for (int32_t i = 0; i < kDecodeSteps; ++i) {
      out = Run(stages, Step(2 + i, 7, static_cast<int32_t>(prompt.size()) + i, {got.back()}));
      ASSERT_TRUE(out.status.ok()) << out.status.ToString();
      ASSERT_EQ(out.tokens.size(), 1u);
      got.push_back(out.tokens[0].token);
    }
    EXPECT_EQ(got, want) << cuts.size() + 1 << " stages";
    for (auto& s : stages) s->CloseSequence(7);
  }
}

TEST_P(StageTest, AnAssignmentsGpuPrefixesAreExecuted) {
  const std::vector<int32_t>& prompt = testing::ReferenceCases()[1].input_ids;
  const std::vector<int32_t> want = Reference(prompt);
  const std::vector<uint64_t> cuts =
      ExtentSplitPoints(Pack::Open(dir_->File("pack"))->layer_extent(0));
  ASSERT_GE(cuts.size(), 3u);
  // One stage of all 6 layers: 1 on the GPU, 2 pinned, 3 read from the SSD with 2 pages of
  // them pinned; the first 4 streamed layers keep the bytes before the third cut on the GPU.
  control::v1::Assignment a = Assign(0, 1, 0, 6);
  a.set_gpu_layers(1);
  a.set_pinned_layers(2);
  a.set_spread_pinned_bytes(2 * 4096);
  a.set_gpu_prefix_bytes(cuts[2]);
  a.set_gpu_prefix_layers(4);
  a.set_gpu_slots(1);
  a.set_staging_chunks(2);
  a.set_chunk_bytes(8192);
  StageOptions so;
  so.pack_dir = dir_->File("pack");
  so.link.bind_host = "127.0.0.1";
  so.link.token = "test-cluster-token";
  StatusOr<std::unique_ptr<Stage>> made = Stage::Create(*backends_.at(0), a, so);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(std::move(made).value());
  ASSERT_TRUE(stages[0]->Connect("").ok());
  ASSERT_TRUE(stages[0]->OpenSequence(Open(4, static_cast<int32_t>(prompt.size()))).ok());
  StepOutput out = Run(stages, Step(1, 4, 0, prompt));
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.tokens.size(), 1u);
  std::vector<int32_t> got = {out.tokens[0].token};
  for (int32_t i = 0; i < kDecodeSteps; ++i) {
    out = Run(stages, Step(2 + i, 4, static_cast<int32_t>(prompt.size()) + i, {got.back()}));
    ASSERT_TRUE(out.status.ok()) << out.status.ToString();
    ASSERT_EQ(out.tokens.size(), 1u);
    got.push_back(out.tokens[0].token);
  }
  EXPECT_EQ(got, want);

  // More prefixed layers than streamed ones, a negative count, a prefix past the layer or
  // between the bytes of a tensor.
  const auto refused = [&](const control::v1::Assignment& bad, const std::string& why) {
    StatusOr<std::unique_ptr<Stage>> st = Stage::Create(*backends_.at(0), bad, so);
    EXPECT_EQ(st.status().code(), StatusCode::kInvalidArgument) << why;
    EXPECT_THAT(st.status().message(), HasSubstr(why));
  };
  control::v1::Assignment bad = a;
  bad.set_gpu_prefix_layers(6);
  refused(bad, "assignment out of range");
  bad.set_gpu_prefix_layers(-1);
  refused(bad, "assignment out of range");
  bad = a;
  bad.set_gpu_prefix_bytes(uint64_t{1} << 40);
  refused(bad, "not inside its");
  bad = a;
  bad.set_gpu_prefix_bytes(cuts[2] + 4096 == cuts[3] ? cuts[2] + 2048 : cuts[2] + 4096);
  refused(bad, "does not end between two tensors");
}

TEST_P(StageTest, AChunkedPromptSamplesOnlyWhenComplete) {
  const std::vector<int32_t>& prompt = testing::ReferenceCases()[1].input_ids;
  ASSERT_GE(prompt.size(), 4u);
  const std::vector<int32_t> want = Reference(prompt);
  std::vector<std::unique_ptr<Stage>> stages = Pipeline({2});
  ASSERT_FALSE(stages.empty());
  for (auto& s : stages) ASSERT_TRUE(s->OpenSequence(Open(3, static_cast<int32_t>(prompt.size()))).ok());
  const size_t half = prompt.size() / 2;
  StepOutput first = Run(stages, Step(1, 3, 0, {prompt.begin(), prompt.begin() + half}));
  ASSERT_TRUE(first.status.ok()) << first.status.ToString();
  EXPECT_TRUE(first.tokens.empty());
  StepOutput second = Run(stages, Step(2, 3, static_cast<int32_t>(half), {prompt.begin() + half, prompt.end()}));
  ASSERT_TRUE(second.status.ok()) << second.status.ToString();
  ASSERT_EQ(second.tokens.size(), 1u);
  EXPECT_EQ(second.tokens[0].token, want[0]);
}

// log p = l - log sum exp(l), in long double: the reference against which the stage's are held.
std::vector<double> LogSoftmax(const std::vector<float>& logits) {
  const long double top = *std::max_element(logits.begin(), logits.end());
  long double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<long double>(l) - top);
  std::vector<double> out;
  for (float l : logits) out.push_back(static_cast<double>(l - top - std::log(sum)));
  return out;
}

TEST_P(StageTest, LogprobsAreTheReferenceLogSoftmaxAndChangeNoGreedyId) {
  constexpr int32_t kTop = 5;
  const std::vector<int32_t>& prompt = testing::ReferenceCases()[1].input_ids;
  const int32_t n_prompt = static_cast<int32_t>(prompt.size());
  const std::vector<int32_t> want = Reference(prompt);
  const std::vector<std::vector<float>> logits = ReferenceLogits(prompt, want);
  ASSERT_EQ(logits.size(), want.size());
  std::vector<std::unique_ptr<Stage>> stages = Pipeline({3});
  ASSERT_FALSE(stages.empty());

  // Sequence 7 with logprobs and 5 alternatives, then 8 without (the argmax on the backend):
  // each alone, over the prompt and decode steps.
  for (const bool logprobs : {true, false}) {
    const uint64_t seq = logprobs ? 7 : 8;
    for (auto& s : stages) {
      const control::v1::OpenSequence open =
          logprobs ? OpenWithLogprobs(seq, n_prompt, kTop) : Open(seq, n_prompt);
      ASSERT_TRUE(s->OpenSequence(open).ok());
    }
    std::vector<int32_t> got;
    for (int32_t i = 0; i <= kDecodeSteps; ++i) {
      const uint64_t step_id = seq * 100 + static_cast<uint64_t>(i);
      const StepOutput out =
          i == 0 ? Run(stages, Step(step_id, seq, 0, prompt))
                 : Run(stages, Step(step_id, seq, n_prompt + i - 1, {got.back()}));
      ASSERT_TRUE(out.status.ok()) << out.status.ToString();
      ASSERT_EQ(out.tokens.size(), 1u);
      const SampledToken& t = out.tokens[0];
      got.push_back(t.token);
      if (!logprobs) {
        EXPECT_EQ(t.logprobs.logprob, 0.0f) << "step " << i;
        EXPECT_TRUE(t.logprobs.top.empty()) << "step " << i;
        continue;
      }
      const std::vector<double> ref = LogSoftmax(logits[static_cast<size_t>(i)]);
      EXPECT_NEAR(t.logprobs.logprob, ref[static_cast<size_t>(t.token)], 1e-3) << "step " << i;
      EXPECT_LT(t.logprobs.logprob, 0.0f);
      ASSERT_EQ(t.logprobs.top.size(), static_cast<size_t>(kTop)) << "step " << i;
      EXPECT_EQ(t.logprobs.top[0].id, t.token) << "step " << i;  // greedy: the most likely
      EXPECT_EQ(t.logprobs.top[0].logprob, t.logprobs.logprob);
      for (size_t r = 0; r < t.logprobs.top.size(); ++r) {
        const TokenLogprob& alt = t.logprobs.top[r];
        EXPECT_NEAR(alt.logprob, ref[static_cast<size_t>(alt.id)], 1e-3)
            << "step " << i << " rank " << r;
        if (r > 0) {
          EXPECT_LE(alt.logprob, t.logprobs.top[r - 1].logprob);
        }
      }
      // Nothing outside the list is more likely than its last entry.
      size_t above = 0;
      for (double l : ref) above += l > t.logprobs.top.back().logprob + 1e-3 ? 1 : 0;
      EXPECT_LT(above, static_cast<size_t>(kTop)) << "step " << i;
    }
    EXPECT_EQ(got, want) << (logprobs ? "with" : "without") << " logprobs";
    for (auto& s : stages) s->CloseSequence(seq);
  }

  // Both in one step (the logits come to the host for 7): 8 still reports nothing.
  for (auto& s : stages) {
    ASSERT_TRUE(s->OpenSequence(OpenWithLogprobs(7, n_prompt, kTop)).ok());
    ASSERT_TRUE(s->OpenSequence(Open(8, n_prompt)).ok());
  }
  control::v1::Step both = Step(2000, 7, 0, prompt);
  *both.add_seqs() = Step(2000, 8, 0, prompt).seqs(0);
  const StepOutput out = Run(stages, both);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.tokens.size(), 2u);
  EXPECT_EQ(out.tokens[0].seq_id, 7u);
  EXPECT_EQ(out.tokens[0].logprobs.top.size(), static_cast<size_t>(kTop));
  EXPECT_NEAR(out.tokens[0].logprobs.logprob,
              LogSoftmax(logits[0])[static_cast<size_t>(out.tokens[0].token)], 1e-3);
  EXPECT_EQ(out.tokens[1].seq_id, 8u);
  EXPECT_EQ(out.tokens[1].logprobs.logprob, 0.0f);
  EXPECT_TRUE(out.tokens[1].logprobs.top.empty());
  for (auto& s : stages) {
    s->CloseSequence(7);
    s->CloseSequence(8);
  }
}

TEST_P(StageTest, BadLogprobsFieldsAreRefusedByName) {
  std::vector<std::unique_ptr<Stage>> stages = Pipeline({3});
  ASSERT_FALSE(stages.empty());
  Stage& last = *stages.back();
  for (int32_t top : {-1, 21}) {
    const Status st = last.OpenSequence(OpenWithLogprobs(1, 4, top));
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << top;
    EXPECT_THAT(st.message(),
                HasSubstr("top_logprobs must be in [0, 20], got " + std::to_string(top)));
  }
  control::v1::OpenSequence no_logprobs = Open(1, 4);
  no_logprobs.mutable_sampling()->set_top_logprobs(3);
  EXPECT_THAT(last.OpenSequence(no_logprobs).message(), HasSubstr("only valid with logprobs"));
  // Refusals kept no KV slot: both of the stage's slots open, 20 alternatives included.
  EXPECT_TRUE(last.OpenSequence(OpenWithLogprobs(1, 4, 20)).ok());
  EXPECT_TRUE(last.OpenSequence(OpenWithLogprobs(2, 4, 0)).ok());
}

TEST_P(StageTest, BadStepsFailWithClearErrors) {
  std::vector<std::unique_ptr<Stage>> stages = Pipeline({3});
  ASSERT_FALSE(stages.empty());
  StepOutput unknown = stages[0]->RunStep(Step(9, 42, 0, {1, 2}));
  EXPECT_THAT(unknown.status.message(), HasSubstr("step 9 on stage 0: sequence 42 is not open"));
  ASSERT_TRUE(stages[0]->OpenSequence(Open(5, 2)).ok());
  EXPECT_THAT(stages[0]->OpenSequence(Open(5, 2)).message(), HasSubstr("already open"));
  ASSERT_TRUE(stages[0]->OpenSequence(Open(6, 2)).ok());
  EXPECT_EQ(stages[0]->OpenSequence(Open(8, 2)).code(), StatusCode::kResourceExhausted);
  StepOutput empty = stages[0]->RunStep(Step(10, 5, 0, {}));
  EXPECT_THAT(empty.status.message(), HasSubstr("no tokens"));
  // Tree values that would not survive 16 bits, or a tree of the wrong shape, are refused.
  control::v1::Step tree = Step(12, 5, 0, {128000, 791});
  tree.mutable_seqs(0)->add_tree_parents(-1);
  tree.mutable_seqs(0)->add_tree_parents(65536);
  EXPECT_THAT(stages[0]->RunStep(tree).status.message(), HasSubstr("outside [-1, 512]"));
  tree.mutable_seqs(0)->set_tree_parents(1, 1);
  EXPECT_THAT(stages[0]->RunStep(tree).status.message(), HasSubstr("tree token 1 has parent 1"));
  tree.mutable_seqs(0)->add_tree_parents(0);
  EXPECT_THAT(stages[0]->RunStep(tree).status.message(), HasSubstr("3 tree parents for 2"));
  // Sequence 5 is open on stage 0 only: stage 1 refuses the activations by name.
  StepOutput out = Run(stages, Step(11, 5, 0, {128000, 791}));
  EXPECT_THAT(out.status.message(), HasSubstr("step 11 on stage 1: sequence 5 is not open"));
}


// Speculative decoding through 1, 2 and 3 stages, driven as the coordinator drives it: each
// step verifies the tree the last stage proposed after the previous one, keeping the nodes
// it accepted. Greedy ids are the single-process ones with a draft that is the model itself
// (a chain of 4 accepted whole: 5 tokens a pass) and with an often wrong one (its int4
// rounding), and a tree the last stage did not propose is refused.
class SpeculativeStageTest : public StageTest {
 protected:
  struct Generated {
    std::vector<int32_t> ids;
    int32_t passes = 0;    // verify passes
    int32_t accepted = 0;  // nodes accepted over them
  };

  // Opens sequence 7 for `prompt` on every stage (the last with its draft context), runs it to
  // kDecodeSteps + 1 tokens.
  static Generated Speculate(std::vector<std::unique_ptr<Stage>>& stages,
                             const std::vector<int32_t>& prompt) {
    const int32_t want = kDecodeSteps + 1;
    Generated g;
    for (size_t s = 0; s < stages.size(); ++s) {
      control::v1::OpenSequence open = Open(7, static_cast<int32_t>(prompt.size()));
      if (s + 1 == stages.size()) {
        for (const int32_t id : prompt) open.add_draft_context(id);
        open.set_max_new_tokens(want);
      }
      const Status st = stages[s]->OpenSequence(open);
      EXPECT_TRUE(st.ok()) << st.ToString();
    }
    StepOutput out = Run(stages, Step(1, 7, 0, prompt));
    EXPECT_TRUE(out.status.ok()) << out.status.ToString();
    int32_t root_row = static_cast<int32_t>(prompt.size());
    for (uint64_t step = 2; out.status.ok() && static_cast<int32_t>(g.ids.size()) < want; ++step) {
      for (const SampledToken& t : out.tokens) g.ids.push_back(t.token);
      if (static_cast<int32_t>(g.ids.size()) >= want) break;
      EXPECT_EQ(out.speculative.size(), 1u);
      if (out.speculative.empty()) break;
      const control::v1::SpeculativeOutcome o = out.speculative[0];  // a copy: `out` is replaced
      // The next step: the last token as the root, then the proposed nodes.
      control::v1::Step next = Step(step, 7, root_row, {g.ids.back()});
      control::v1::SeqWork& w = *next.mutable_seqs(0);
      if (o.next_tokens_size() > 0) w.add_tree_parents(-1);
      for (int i = 0; i < o.next_tokens_size(); ++i) {
        w.add_tokens(o.next_tokens(i));
        w.add_tree_parents(o.next_parents(i) + 1);
      }
      for (const int32_t node : o.accepted_nodes()) w.add_kept_nodes(node);
      out = Run(stages, next);
      EXPECT_TRUE(out.status.ok()) << out.status.ToString();
      if (o.next_tokens_size() > 0) {
        ++g.passes;
        if (!out.speculative.empty()) g.accepted += out.speculative[0].accepted_nodes_size();
      }
      root_row += 1 + (out.speculative.empty() ? 0 : out.speculative[0].accepted_nodes_size());
    }
    g.ids.resize(std::min<size_t>(g.ids.size(), static_cast<size_t>(want)));
    return g;
  }
};

INSTANTIATE_TEST_SUITE_P(Ucx, SpeculativeStageTest,
                         ::testing::Values(Transport{"ucx_cpu", "ucx", {"cpu", "cpu", "cpu"}}),
                         [](const auto& p) { return std::string(p.param.name); });

TEST_P(SpeculativeStageTest, OneTwoAndThreeStagesGiveTheSingleProcessGreedyIds) {
  const std::vector<int32_t>& prompt = testing::ReferenceCases()[1].input_ids;
  const std::vector<int32_t> want = Reference(prompt);
  for (const std::vector<int32_t>& cuts :
       {std::vector<int32_t>{}, std::vector<int32_t>{3}, std::vector<int32_t>{1, 4}}) {
    // The model as its own draft, a chain of 4: every node accepted.
    std::vector<std::unique_ptr<Stage>> stages =
        Pipeline(cuts, {.draft = dir_->File("pack"), .tree_tokens = 4, .branch = 1});
    ASSERT_FALSE(stages.empty());
    const Generated self = Speculate(stages, prompt);
    EXPECT_EQ(self.ids, want) << cuts.size() + 1 << " stages";
    EXPECT_EQ(self.accepted, 4 * self.passes) << cuts.size() + 1 << " stages";
    // An often wrong draft, a bushy tree: fewer accepted, the same ids.
    stages = Pipeline(cuts, {.draft = dir_->File("int4-pack"), .tree_tokens = 12, .branch = 3});
    ASSERT_FALSE(stages.empty());
    const Generated rough = Speculate(stages, prompt);
    EXPECT_EQ(rough.ids, want) << cuts.size() + 1 << " stages";
    EXPECT_LT(rough.accepted, 12 * rough.passes);
  }
}

TEST_P(SpeculativeStageTest, ATreeTheLastStageDidNotProposeIsRefused) {
  const std::vector<int32_t>& prompt = testing::ReferenceCases()[1].input_ids;
  std::vector<std::unique_ptr<Stage>> stages =
      Pipeline({3}, {.draft = dir_->File("pack"), .tree_tokens = 4, .branch = 1});
  ASSERT_FALSE(stages.empty());
  control::v1::OpenSequence open = Open(7, static_cast<int32_t>(prompt.size()));
  ASSERT_TRUE(stages[0]->OpenSequence(open).ok());
  for (const int32_t id : prompt) open.add_draft_context(id);
  open.set_max_new_tokens(8);
  ASSERT_TRUE(stages[1]->OpenSequence(open).ok());
  StepOutput out = Run(stages, Step(1, 7, 0, prompt));
  ASSERT_TRUE(out.status.ok());
  ASSERT_EQ(out.speculative.size(), 1u);
  control::v1::Step next = Step(2, 7, static_cast<int32_t>(prompt.size()), {out.tokens[0].token, 5, 6});
  for (const int32_t parent : {-1, 0, 0}) next.mutable_seqs(0)->add_tree_parents(parent);
  out = Run(stages, next);
  EXPECT_THAT(out.status.message(), ::testing::HasSubstr("did not propose"));
  // A stage without a draft refuses a sequence that asks to speculate.
  std::vector<std::unique_ptr<Stage>> plain = Pipeline({});
  ASSERT_FALSE(plain.empty());
  EXPECT_THAT(plain[0]->OpenSequence(open).message(), ::testing::HasSubstr("no draft model"));
}

}  // namespace
}  // namespace strata::worker
