// The worker refuses control messages out of range with kInvalidArgument naming the field:
// assignments whose stage, layers or limits do not fit the model, sequences opened with
// prompts outside max_seq_len, steps with token ids outside the vocabulary, positions past
// max_seq_len (or overflowing int32), more tokens than max_batch_tokens, more sequences than
// KV slots or a sequence twice, and steps naming a sequence that is not open; the same
// slices in an activation header. Checked on the pure functions (worker/control_checks.h)
// and on a one-stage Stage of the tiny pack, which stays usable after each refusal.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "common/backend/cpu/cpu_backend.h"
#include "common/storage/pack_writer.h"
#include "tests/support/reference_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/worker/stage_messages.h"
#include "worker/control_checks.h"
#include "worker/stage.h"

namespace strata::worker {
namespace {

using ::testing::HasSubstr;
namespace v1 = control::v1;

constexpr int32_t kMaxInt = std::numeric_limits<int32_t>::max();
constexpr int64_t kLayers = 6;  // the tiny fixture's
constexpr int64_t kVocab = 128256;

v1::Assignment OneStage() {
  v1::Assignment a;
  a.set_epoch(1);
  a.set_stage(0);
  a.set_num_stages(1);
  a.set_first_layer(0);
  a.set_num_layers(kLayers);
  a.set_gpu_layers(kLayers);
  a.set_staging_chunks(1);
  a.set_chunk_bytes(1 << 20);
  a.set_max_batch_tokens(16);
  a.set_max_seq_len(32);
  a.set_kv_slots(2);
  a.set_transport("ucx");
  return a;
}

void ExpectInvalid(const Status& st, const std::string& says) {
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr(says));
}

TEST(ControlChecks, AssignmentsOutsideTheModelAreRefused) {
  EXPECT_TRUE(CheckAssignment(OneStage(), kLayers).ok());
  const auto refused = [](void (*change)(v1::Assignment&), const std::string& says) {
    v1::Assignment a = OneStage();
    change(a);
    ExpectInvalid(CheckAssignment(a, kLayers), says);
  };
  refused([](v1::Assignment& a) { a.set_stage(1); }, "stage 1 of 1");
  refused([](v1::Assignment& a) { a.set_stage(-1); }, "stage -1 of 1");
  refused([](v1::Assignment& a) { a.set_num_stages(0); }, "stage 0 of 0");
  refused([](v1::Assignment& a) { a.set_first_layer(-1); }, "layers [-1, 5)");
  refused([](v1::Assignment& a) { a.set_first_layer(1); }, "layers [1, 7) of a model of 6");
  refused([](v1::Assignment& a) { a.set_num_layers(0); }, "layers [0, 0)");
  refused([](v1::Assignment& a) { a.set_first_layer(kMaxInt); }, "layers [2147483647, ");
  refused([](v1::Assignment& a) { a.set_max_batch_tokens(0); }, "max_batch_tokens 0");
  refused([](v1::Assignment& a) { a.set_max_seq_len(-5); }, "max_seq_len -5");
  refused([](v1::Assignment& a) { a.set_kv_slots(0); }, "kv_slots 0");
}

TEST(ControlChecks, OpenSequencesNeedAPromptInsideMaxSeqLen) {
  EXPECT_TRUE(CheckOpenSequence(testing::OpenGreedy(1, 32), OneStage()).ok());
  for (int32_t prompt : {0, -1, 33, kMaxInt}) {
    ExpectInvalid(CheckOpenSequence(testing::OpenGreedy(1, prompt), OneStage()),
                  "prompt of " + std::to_string(prompt) + " tokens, outside [1, 32]");
  }
}

TEST(ControlChecks, StepsOutOfRangeAreRefusedByField) {
  const v1::Assignment a = OneStage();
  EXPECT_TRUE(CheckStep(testing::OneSequenceStep(3, 1, 0, {128000, 9906}), a, kVocab).ok());
  ExpectInvalid(CheckStep(v1::Step(), a, kVocab), "no sequences");
  ExpectInvalid(CheckStep(testing::OneSequenceStep(3, 1, 0, {}), a, kVocab),
                "step 3: sequence 1 has no tokens");
  ExpectInvalid(CheckStep(testing::OneSequenceStep(3, 1, 0, {-1}), a, kVocab), "token id -1");
  ExpectInvalid(CheckStep(testing::OneSequenceStep(3, 1, 0, {128256}), a, kVocab),
                "token id 128256, outside the vocabulary [0, 128256)");
  ExpectInvalid(CheckStep(testing::OneSequenceStep(3, 1, -1, {5}), a, kVocab),
                "step 3: sequence 1 has 1 tokens at position -1");
  ExpectInvalid(CheckStep(testing::OneSequenceStep(3, 1, 32, {5}), a, kVocab),
                "at position 32, outside [0, 32)");
  ExpectInvalid(CheckStep(testing::OneSequenceStep(3, 1, kMaxInt, {5, 6}), a, kVocab),
                "at position 2147483647");
  ExpectInvalid(CheckStep(testing::OneSequenceStep(3, 1, 0, std::vector<int32_t>(17, 5)), a,
                          kVocab),
                "17 tokens in one batch, more than max_batch_tokens 16");
  v1::Step twice = testing::OneSequenceStep(3, 1, 0, {5});
  *twice.add_seqs() = twice.seqs(0);
  ExpectInvalid(CheckStep(twice, a, kVocab), "sequence 1 appears twice");
  v1::Step three = twice;
  three.mutable_seqs(1)->set_seq_id(2);
  *three.add_seqs() = three.seqs(0);
  three.mutable_seqs(2)->set_seq_id(3);
  ExpectInvalid(CheckStep(three, a, kVocab), "3 sequences in one batch, more than the 2 KV slots");
}

TEST(ControlChecks, ActivationSlicesOutOfRangeAreRefused) {
  const v1::Assignment a = OneStage();
  using Slices = std::vector<transport::SeqSlice>;
  EXPECT_TRUE(CheckSlices(Slices{{7, 4, 1}, {8, 0, 15}}, a).ok());
  ExpectInvalid(CheckSlices(Slices{{7, kMaxInt, 1}}, a), "sequence 7 has 1 tokens at position");
  ExpectInvalid(CheckSlices(Slices{{7, 31, 2}}, a), "outside [0, 32)");
  ExpectInvalid(CheckSlices(Slices{{7, 0, 0}}, a), "sequence 7 has 0 tokens");
  ExpectInvalid(CheckSlices(Slices{{7, 0, 9}, {8, 0, 8}}, a), "17 tokens in one batch");
  ExpectInvalid(CheckSlices(Slices{{7, 0, 1}, {7, 1, 1}}, a), "sequence 7 appears twice");
}

// A one-stage Stage of the tiny pack: refusals come back as kInvalidArgument and leave it
// serving.
class StageRefusalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir("control_checks");
    PackOptions o;
    o.model_dir = testing::TinyModelDir();
    o.out_dir = dir_->File("pack");
    ASSERT_TRUE(WritePack(o).ok());
  }
  static void TearDownTestSuite() { delete dir_; }

  StatusOr<std::unique_ptr<Stage>> Create(const v1::Assignment& a) {
    StageOptions so;
    so.pack_dir = dir_->File("pack");
    return Stage::Create(backend_, a, so);
  }

  static testing::TempDir* dir_;
  CpuBackend backend_;
};
testing::TempDir* StageRefusalTest::dir_ = nullptr;

TEST_F(StageRefusalTest, AssignmentsOutOfRangeAreRefused) {
  v1::Assignment a = OneStage();
  a.set_num_layers(7);
  ExpectInvalid(Create(a).status(), "layers [0, 7) of a model of 6");
  a = OneStage();
  a.set_pinned_layers(kMaxInt);
  ExpectInvalid(Create(a).status(), "assignment out of range");
  a = OneStage();
  a.set_gpu_layers(0);
  a.set_gpu_prefix_layers(kMaxInt);
  ExpectInvalid(Create(a).status(), "assignment out of range");
  a = OneStage();
  a.set_max_batch_tokens(kMaxInt);
  EXPECT_EQ(Create(a).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(StageRefusalTest, SequencesAndStepsOutOfRangeAreRefusedAndTheStageServesOn) {
  StatusOr<std::unique_ptr<Stage>> made = Create(OneStage());
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  Stage& stage = **made;
  ASSERT_TRUE(stage.Connect("").ok());
  ExpectInvalid(stage.OpenSequence(testing::OpenGreedy(1, 33)), "outside [1, 32]");
  ASSERT_TRUE(stage.OpenSequence(testing::OpenGreedy(1, 2)).ok());
  const auto step_fails = [&](const v1::Step& step, const std::string& says) {
    const StepOutput out = stage.RunStep(step);
    EXPECT_EQ(out.step_id, step.step_id());
    ExpectInvalid(out.status, says);
  };
  step_fails(testing::OneSequenceStep(1, 1, 0, {128000, kMaxInt}), "token id 2147483647");
  step_fails(testing::OneSequenceStep(2, 1, kMaxInt, {128000, 9906}), "at position 2147483647");
  step_fails(testing::OneSequenceStep(3, 1, 0, std::vector<int32_t>(17, 9906)),
             "more than max_batch_tokens 16");
  step_fails(testing::OneSequenceStep(4, 99, 0, {128000}),
             "step 4 on stage 0: sequence 99 is not open");
  // Nothing was computed: the sequence's prompt still runs from position 0.
  const StepOutput out = stage.RunStep(testing::OneSequenceStep(5, 1, 0, {128000, 9906}));
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.tokens.size(), 1u);
  EXPECT_EQ(out.tokens[0].seq_id, 1u);
}

}  // namespace
}  // namespace strata::worker
