// The scheduler driven by hand, one message at a time: sequences open on every stage and
// wait for every SequenceOpened, prompts go in chunks of at most max_batch_tokens, decode
// tokens of ready sequences share a step (each sequence once), up to num_stages steps fly,
// generations end at a stop id or max_tokens and are closed on every stage, KV slots bound
// the open sequences, and failures fail exactly the affected generations.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <vector>

#include "coordinator/scheduler.h"

namespace strata::coordinator {
namespace {

namespace pb = control::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int32_t kStop = 99;

// Records what the scheduler sends, by stage.
class RecordingSender : public StageSender {
 public:
  void SendToStage(int32_t stage, const pb::CoordinatorMessage& message) override {
    sent.push_back({stage, message});
  }
  // Messages of `kind` sent so far, and forgets them.
  std::vector<std::pair<int32_t, pb::CoordinatorMessage>> Take(
      pb::CoordinatorMessage::KindCase kind) {
    std::vector<std::pair<int32_t, pb::CoordinatorMessage>> out;
    std::vector<std::pair<int32_t, pb::CoordinatorMessage>> rest;
    for (auto& m : sent) (m.second.kind_case() == kind ? out : rest).push_back(std::move(m));
    sent = std::move(rest);
    return out;
  }
  std::vector<pb::Step> TakeSteps() {
    std::vector<pb::Step> steps;
    for (auto& [stage, m] : Take(pb::CoordinatorMessage::kStep)) {
      EXPECT_EQ(stage, 0);  // steps go to the first stage only
      steps.push_back(m.step());
    }
    return steps;
  }
  std::vector<std::pair<int32_t, pb::CoordinatorMessage>> sent;
};

std::shared_ptr<Generation> MakeGeneration(int32_t prompt_len, int32_t max_tokens) {
  auto g = std::make_shared<Generation>();
  for (int32_t i = 0; i < prompt_len; ++i) g->prompt.push_back(1000 + i);
  g->max_tokens = max_tokens;
  return g;
}

class SchedulerTest : public ::testing::Test {
 protected:
  void StartWith(int32_t max_batch_tokens, int32_t kv_slots, int32_t stages,
                 StepPolicy policy = StepPolicy::kOnePerStage, int32_t tree_tokens = 0) {
    scheduler_ = std::make_unique<Scheduler>(
        ServingLimits{.max_batch_tokens = max_batch_tokens, .kv_slots = kv_slots},
        std::vector<int32_t>{kStop}, nullptr, tree_tokens);
    stages_ = stages;
    scheduler_->Start(/*epoch=*/7, stages, &sender_, policy);
  }
  // Answers every OpenSequence sent so far from every stage; returns the opened ids.
  std::vector<uint64_t> OpenAll() {
    std::vector<uint64_t> ids;
    for (auto& [stage, m] : sender_.Take(pb::CoordinatorMessage::kOpen)) {
      EXPECT_EQ(m.open().epoch(), 7u);
      pb::SequenceOpened opened;
      opened.set_epoch(7);
      opened.set_seq_id(m.open().seq_id());
      if (stage == 0) ids.push_back(m.open().seq_id());
      pending_opens_.push_back(opened);
    }
    for (const auto& opened : pending_opens_) scheduler_->OnOpened(opened, "worker 'w'");
    pending_opens_.clear();
    return ids;
  }
  // The last stage's answer to `step`: `token` for every sequence whose prompt this step
  // completes or that decodes.
  void Answer(const pb::Step& step, const std::map<uint64_t, int32_t>& tokens) {
    pb::StepResult result;
    result.set_epoch(7);
    result.set_step_id(step.step_id());
    for (const auto& [seq, token] : tokens) {
      pb::SampledToken& t = *result.add_tokens();
      t.set_seq_id(seq);
      t.set_token_id(token);
    }
    scheduler_->OnResult(result);
  }

  RecordingSender sender_;
  std::unique_ptr<Scheduler> scheduler_;
  int32_t stages_ = 1;
  std::vector<pb::SequenceOpened> pending_opens_;
};

TEST_F(SchedulerTest, OpensOnEveryStageAndStepsOnlyAfterEveryStageOpened) {
  StartWith(16, 4, 3);
  auto g = MakeGeneration(5, 2);
  scheduler_->Submit(g);
  const auto opens = sender_.Take(pb::CoordinatorMessage::kOpen);
  ASSERT_EQ(opens.size(), 3u);
  for (int32_t stage = 0; stage < 3; ++stage) {
    EXPECT_EQ(opens[static_cast<size_t>(stage)].first, stage);
    EXPECT_EQ(opens[static_cast<size_t>(stage)].second.open().prompt_tokens(), 5);
  }
  pb::SequenceOpened opened;
  opened.set_epoch(7);
  opened.set_seq_id(opens[0].second.open().seq_id());
  scheduler_->OnOpened(opened, "worker 'a'");
  scheduler_->OnOpened(opened, "worker 'b'");
  EXPECT_TRUE(sender_.TakeSteps().empty());  // one stage has not answered
  scheduler_->OnOpened(opened, "worker 'c'");
  const auto steps = sender_.TakeSteps();
  ASSERT_EQ(steps.size(), 1u);
  ASSERT_EQ(steps[0].seqs_size(), 1);
  EXPECT_EQ(steps[0].seqs(0).start_pos(), 0);
  EXPECT_THAT(steps[0].seqs(0).tokens(), ElementsAre(1000, 1001, 1002, 1003, 1004));
}

TEST_F(SchedulerTest, PrefillIsChunkedAndChunksPipelineUpToNumStages) {
  StartWith(/*max_batch_tokens=*/4, 1, /*stages=*/2);
  auto g = MakeGeneration(10, 3);
  scheduler_->Submit(g);
  const uint64_t seq = OpenAll().at(0);
  auto steps = sender_.TakeSteps();
  ASSERT_EQ(steps.size(), 2u);  // two stages: two chunks in flight
  EXPECT_EQ(steps[0].seqs(0).start_pos(), 0);
  EXPECT_EQ(steps[0].seqs(0).tokens_size(), 4);
  EXPECT_EQ(steps[1].seqs(0).start_pos(), 4);
  EXPECT_EQ(steps[1].seqs(0).tokens_size(), 4);
  Answer(steps[0], {});
  auto more = sender_.TakeSteps();
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].seqs(0).start_pos(), 8);
  EXPECT_THAT(more[0].seqs(0).tokens(), ElementsAre(1008, 1009));
  Answer(steps[1], {});
  EXPECT_TRUE(sender_.TakeSteps().empty());  // the decode waits for the first token
  Answer(more[0], {{seq, 5}});
  auto decode = sender_.TakeSteps();
  ASSERT_EQ(decode.size(), 1u);
  EXPECT_EQ(decode[0].seqs(0).start_pos(), 10);
  EXPECT_THAT(decode[0].seqs(0).tokens(), ElementsAre(5));
  EXPECT_THAT(g->output, ElementsAre(5));
  EXPECT_FALSE(g->done);
}

TEST_F(SchedulerTest, DecodeTokensOfReadySequencesShareOneStep) {
  StartWith(64, 4, 1);
  std::vector<std::shared_ptr<Generation>> gens;
  for (int i = 0; i < 3; ++i) {
    gens.push_back(MakeGeneration(3 + i, 4));
    scheduler_->Submit(gens.back());
  }
  const auto ids = OpenAll();
  ASSERT_EQ(ids.size(), 3u);
  // The first sequence opened first and its prefill flies alone (one stage, one step).
  auto steps = sender_.TakeSteps();
  ASSERT_EQ(steps.size(), 1u);
  ASSERT_EQ(steps[0].seqs_size(), 1);
  Answer(steps[0], {{ids[0], 10}});
  // Its decode token and the other two prefills.
  steps = sender_.TakeSteps();
  ASSERT_EQ(steps.size(), 1u);
  ASSERT_EQ(steps[0].seqs_size(), 3);
  EXPECT_EQ(steps[0].seqs(0).tokens_size(), 1);
  Answer(steps[0], {{ids[0], 11}, {ids[1], 20}, {ids[2], 30}});
  // Now all three decode together, each once.
  steps = sender_.TakeSteps();
  ASSERT_EQ(steps.size(), 1u);
  ASSERT_EQ(steps[0].seqs_size(), 3);
  EXPECT_THAT(steps[0].seqs(0).tokens(), ElementsAre(11));
  EXPECT_EQ(steps[0].seqs(0).start_pos(), 4);
  for (int i = 1; i < 3; ++i) {
    EXPECT_EQ(steps[0].seqs(i).seq_id(), ids[static_cast<size_t>(i)]);
    EXPECT_EQ(steps[0].seqs(i).tokens_size(), 1);
    EXPECT_EQ(steps[0].seqs(i).start_pos(), 3 + i);
  }
}

// Two stages, B arriving while A's prefill flies: a step per stage in flight sends B at once
// and A and B then alternate steps for good (two passes per token round); one step at a time
// (stages that stream layers) makes B wait one step and then carries both in every pass.
TEST_F(SchedulerTest, OneStepAtATimeCarriesEveryReadySequenceInEachPass) {
  for (const StepPolicy policy : {StepPolicy::kOnePerStage, StepPolicy::kOneAtATime}) {
    SCOPED_TRACE(policy == StepPolicy::kOneAtATime ? "one at a time" : "one per stage");
    const bool one = policy == StepPolicy::kOneAtATime;
    StartWith(64, 4, /*stages=*/2, policy);
    auto a = MakeGeneration(3, 6), b = MakeGeneration(4, 6);
    scheduler_->Submit(a);
    ASSERT_EQ(OpenAll().size(), 1u);
    std::vector<pb::Step> flying = sender_.TakeSteps();  // A's prefill
    ASSERT_EQ(flying.size(), 1u);
    scheduler_->Submit(b);
    ASSERT_EQ(OpenAll().size(), 1u);
    std::vector<pb::Step> sent = sender_.TakeSteps();
    ASSERT_EQ(sent.size(), one ? 0u : 1u);  // B's prefill: at once, or after A's step
    flying.insert(flying.end(), sent.begin(), sent.end());
    int32_t steps = 0;
    size_t most = 0;  // the most sequences one step carried
    while (!flying.empty() && steps < 40) {
      const pb::Step step = flying.front();
      flying.erase(flying.begin());
      std::map<uint64_t, int32_t> tokens;
      for (const pb::SeqWork& w : step.seqs()) tokens[w.seq_id()] = 5;
      Answer(step, tokens);
      ++steps;
      most = std::max(most, static_cast<size_t>(step.seqs_size()));
      sent = sender_.TakeSteps();
      EXPECT_LE(flying.size() + sent.size(), one ? 1u : 2u);
      flying.insert(flying.end(), sent.begin(), sent.end());
    }
    EXPECT_TRUE(a->done && b->done);
    EXPECT_EQ(a->output.size(), 6u);
    EXPECT_EQ(b->output.size(), 6u);
    // A: prefill + 5 decodes; B likewise. Alternating, every step carries one of them (12
    // passes); one at a time, B's prefill joins A's first decode and the rest are shared: 7.
    EXPECT_EQ(steps, one ? 7 : 12);
    EXPECT_EQ(most, one ? 2u : 1u);
  }
}

TEST_F(SchedulerTest, DecodeComesBeforePrefillAndTheBudgetHolds) {
  StartWith(/*max_batch_tokens=*/6, 4, 1);
  auto a = MakeGeneration(2, 5);
  scheduler_->Submit(a);
  const uint64_t seq_a = OpenAll().at(0);
  auto steps = sender_.TakeSteps();
  auto b = MakeGeneration(20, 5);  // arrives while a's prefill is in flight
  scheduler_->Submit(b);
  OpenAll();
  Answer(steps.at(0), {{seq_a, 7}});
  steps = sender_.TakeSteps();
  ASSERT_EQ(steps.size(), 1u);
  ASSERT_EQ(steps[0].seqs_size(), 2);
  EXPECT_EQ(steps[0].seqs(0).seq_id(), seq_a);  // the decode token first
  EXPECT_EQ(steps[0].seqs(0).tokens_size(), 1);
  EXPECT_EQ(steps[0].seqs(1).tokens_size(), 5);  // the rest of the budget of 6
}

TEST_F(SchedulerTest, StopIdAndMaxTokensFinishAndCloseOnEveryStage) {
  StartWith(64, 4, 2);
  auto stops = MakeGeneration(3, 10);
  auto runs_out = MakeGeneration(3, 2);
  scheduler_->Submit(stops);
  scheduler_->Submit(runs_out);
  const auto ids = OpenAll();
  auto steps = sender_.TakeSteps();  // two stages: each prefill in its own step
  ASSERT_EQ(steps.size(), 2u);
  Answer(steps[0], {{ids[0], 11}});
  Answer(steps[1], {{ids[1], 21}});
  steps = sender_.TakeSteps();
  ASSERT_EQ(steps.size(), 2u);
  Answer(steps[0], {{ids[0], kStop}});
  Answer(steps[1], {{ids[1], 22}});
  EXPECT_TRUE(stops->done);
  EXPECT_EQ(stops->finish_reason, "stop");
  EXPECT_THAT(stops->output, ElementsAre(11, kStop));
  EXPECT_TRUE(runs_out->done);
  EXPECT_EQ(runs_out->finish_reason, "length");
  EXPECT_THAT(runs_out->output, ElementsAre(21, 22));
  const auto closes = sender_.Take(pb::CoordinatorMessage::kClose);
  ASSERT_EQ(closes.size(), 4u);  // two sequences on two stages
  EXPECT_EQ(scheduler_->open_sequences(), 0u);
  EXPECT_TRUE(sender_.TakeSteps().empty());
}

TEST_F(SchedulerTest, KvSlotsBoundOpenSequencesAndQueuedOnesOpenWhenOneCloses) {
  StartWith(64, /*kv_slots=*/2, 1);
  std::vector<std::shared_ptr<Generation>> gens;
  for (int i = 0; i < 3; ++i) {
    gens.push_back(MakeGeneration(2, 1));
    scheduler_->Submit(gens.back());
  }
  const auto ids = OpenAll();
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(scheduler_->open_sequences(), 2u);
  EXPECT_EQ(scheduler_->queued(), 1u);
  auto steps = sender_.TakeSteps();
  Answer(steps.at(0), {{ids[0], 1}});  // max_tokens 1: the first finishes
  EXPECT_TRUE(gens[0]->done);
  EXPECT_EQ(OpenAll().size(), 1u);  // the third opens in the freed slot
  EXPECT_EQ(scheduler_->queued(), 0u);
  EXPECT_EQ(scheduler_->open_sequences(), 2u);
}

TEST_F(SchedulerTest, StepFailedFailsOnlyTheSequencesInThatStep) {
  StartWith(/*max_batch_tokens=*/3, 4, 2);
  auto in_step = MakeGeneration(3, 4);
  scheduler_->Submit(in_step);
  OpenAll();
  auto steps = sender_.TakeSteps();
  ASSERT_EQ(steps.size(), 1u);
  auto later = MakeGeneration(3, 4);
  scheduler_->Submit(later);
  OpenAll();
  auto later_steps = sender_.TakeSteps();
  ASSERT_EQ(later_steps.size(), 1u);
  pb::StepFailed failed;
  failed.set_epoch(7);
  failed.set_step_id(steps[0].step_id());
  failed.set_error("CUDA out of memory");
  scheduler_->OnFailed(failed, "worker 'gpu1' (stage 1)");
  EXPECT_TRUE(in_step->done);
  EXPECT_THAT(in_step->error.message(), HasSubstr("worker 'gpu1' (stage 1)"));
  EXPECT_THAT(in_step->error.message(), HasSubstr("CUDA out of memory"));
  EXPECT_FALSE(later->done);
  EXPECT_EQ(sender_.Take(pb::CoordinatorMessage::kClose).size(), 2u);
}

TEST_F(SchedulerTest, AnOpenErrorFailsTheGenerationAndClosesItOnEveryStage) {
  StartWith(64, 4, 2);
  auto g = MakeGeneration(3, 4);
  scheduler_->Submit(g);
  const auto opens = sender_.Take(pb::CoordinatorMessage::kOpen);
  pb::SequenceOpened ok;
  ok.set_epoch(7);
  ok.set_seq_id(opens[0].second.open().seq_id());
  pb::SequenceOpened refused = ok;
  refused.set_error("no free KV slot");
  scheduler_->OnOpened(refused, "worker 'b'");
  EXPECT_TRUE(g->done);
  EXPECT_THAT(g->error.message(), HasSubstr("no free KV slot"));
  EXPECT_TRUE(sender_.Take(pb::CoordinatorMessage::kClose).empty());  // an open is pending
  scheduler_->OnOpened(ok, "worker 'a'");
  EXPECT_EQ(sender_.Take(pb::CoordinatorMessage::kClose).size(), 2u);
  EXPECT_TRUE(sender_.TakeSteps().empty());
}

TEST_F(SchedulerTest, AbandonClosesOnlyAfterItsStepIsAnswered) {
  StartWith(64, 4, 1);
  auto g = MakeGeneration(3, 4);
  scheduler_->Submit(g);
  const uint64_t seq = OpenAll().at(0);
  auto steps = sender_.TakeSteps();
  scheduler_->Abandon(g, Unavailable("timed out"));
  EXPECT_TRUE(g->done);
  EXPECT_TRUE(sender_.Take(pb::CoordinatorMessage::kClose).empty());
  Answer(steps.at(0), {{seq, 5}});
  EXPECT_EQ(sender_.Take(pb::CoordinatorMessage::kClose).size(), 1u);
  EXPECT_TRUE(g->output.empty());  // the late token is not appended
}

TEST_F(SchedulerTest, FailAllFailsQueuedAndRunningGenerations) {
  StartWith(64, 1, 1);
  auto running = MakeGeneration(3, 4);
  auto queued = MakeGeneration(3, 4);
  scheduler_->Submit(running);
  scheduler_->Submit(queued);
  OpenAll();
  scheduler_->FailAll(Unavailable("worker 'x' lost"));
  EXPECT_TRUE(running->done && queued->done);
  EXPECT_EQ(running->error.code(), StatusCode::kUnavailable);
  EXPECT_EQ(queued->error.code(), StatusCode::kUnavailable);
  EXPECT_FALSE(scheduler_->serving());
}

TEST_F(SchedulerTest, AResultWithoutTheExpectedTokenFailsThatSequence) {
  StartWith(64, 4, 1);
  auto g = MakeGeneration(3, 4);
  scheduler_->Submit(g);
  OpenAll();
  Answer(sender_.TakeSteps().at(0), {});
  EXPECT_TRUE(g->done);
  EXPECT_THAT(g->error.message(), HasSubstr("without a token"));
}

// Speculating: the last stage gets the context; a result's several tokens and outcome set
// up the next step (the tree under the last token, the accepted nodes kept); a step with a
// tree carries no prefill chunk; malformed outcomes fail the sequence.
TEST_F(SchedulerTest, SpeculatingSequencesVerifyTheProposedTreeAndKeepTheAcceptedNodes) {
  StartWith(64, 4, 2, StepPolicy::kOneAtATime, /*tree_tokens=*/4);
  auto g = MakeGeneration(3, 10);
  scheduler_->Submit(g);
  const auto opens = sender_.Take(pb::CoordinatorMessage::kOpen);
  ASSERT_EQ(opens.size(), 2u);
  EXPECT_EQ(opens[0].second.open().draft_context_size(), 0);
  EXPECT_THAT(opens[1].second.open().draft_context(), ElementsAre(1000, 1001, 1002));
  EXPECT_EQ(opens[1].second.open().max_new_tokens(), 10);
  for (const auto& [stage, m] : opens) {
    pb::SequenceOpened opened;
    opened.set_epoch(7);
    opened.set_seq_id(m.open().seq_id());
    scheduler_->OnOpened(opened, "w");
  }
  const uint64_t id = opens[0].second.open().seq_id();
  // The prefill's token and the first tree: root 5 -> {6 -> {8}, 7}.
  pb::StepResult result;
  result.set_epoch(7);
  result.set_step_id(sender_.TakeSteps().at(0).step_id());
  result.add_tokens()->set_seq_id(id);
  result.mutable_tokens(0)->set_token_id(5);
  pb::SpeculativeOutcome& o = *result.add_speculative();
  o.set_seq_id(id);
  for (const auto& [token, parent] : {std::pair{6, -1}, {7, -1}, {8, 0}}) {
    o.add_next_tokens(token);
    o.add_next_parents(parent);
  }
  scheduler_->OnResult(result);
  // A second request arrives: its prefill must wait for a step without a tree.
  auto other = MakeGeneration(4, 2);
  scheduler_->Submit(other);
  OpenAll();
  std::vector<pb::Step> steps = sender_.TakeSteps();
  ASSERT_EQ(steps.size(), 1u);
  ASSERT_EQ(steps[0].seqs_size(), 1);
  const pb::SeqWork& tree = steps[0].seqs(0);
  EXPECT_EQ(tree.start_pos(), 3);
  EXPECT_THAT(tree.tokens(), ElementsAre(5, 6, 7, 8));
  EXPECT_THAT(tree.tree_parents(), ElementsAre(-1, 0, 0, 1));
  EXPECT_EQ(tree.kept_nodes_size(), 0);
  // The walk accepted nodes 0 and 2 (tokens 6, 8), sampled 9 and proposed another tree: the
  // step after a tree goes to the waiting prompt, the sequence's tree to the one after.
  result.Clear();
  result.set_epoch(7);
  result.set_step_id(steps[0].step_id());
  for (const int32_t token : {6, 8, 9}) {
    pb::SampledToken& t = *result.add_tokens();
    t.set_seq_id(id);
    t.set_token_id(token);
  }
  pb::SpeculativeOutcome& again = *result.add_speculative();
  again.set_seq_id(id);
  again.add_accepted_nodes(0);
  again.add_accepted_nodes(2);
  again.add_next_tokens(12);
  again.add_next_parents(-1);
  scheduler_->OnResult(result);
  EXPECT_THAT(g->output, ElementsAre(5, 6, 8, 9));
  steps = sender_.TakeSteps();
  ASSERT_EQ(steps.size(), 1u);
  ASSERT_EQ(steps[0].seqs_size(), 1);
  EXPECT_EQ(steps[0].seqs(0).tokens_size(), 4);  // the other's prompt, alone
  const uint64_t other_id = steps[0].seqs(0).seq_id();
  result.Clear();
  result.set_epoch(7);
  result.set_step_id(steps[0].step_id());
  result.add_tokens()->set_seq_id(other_id);
  result.mutable_tokens(0)->set_token_id(30);
  scheduler_->OnResult(result);
  steps = sender_.TakeSteps();
  ASSERT_EQ(steps.size(), 1u);
  ASSERT_GE(steps[0].seqs_size(), 1);
  EXPECT_EQ(steps[0].seqs(0).seq_id(), id);
  EXPECT_EQ(steps[0].seqs(0).start_pos(), 6);
  EXPECT_THAT(steps[0].seqs(0).tokens(), ElementsAre(9, 12));
  EXPECT_THAT(steps[0].seqs(0).kept_nodes(), ElementsAre(0, 2));
  // Tokens beyond the first without the accepted nodes they came from fail the sequence.
  result.Clear();
  result.set_epoch(7);
  result.set_step_id(steps[0].step_id());
  for (const int32_t token : {10, 11}) {
    pb::SampledToken& t = *result.add_tokens();
    t.set_seq_id(id);
    t.set_token_id(token);
  }
  scheduler_->OnResult(result);
  EXPECT_TRUE(g->done);
  EXPECT_THAT(g->error.message(), HasSubstr("malformed speculative outcome"));
}

}  // namespace
}  // namespace strata::coordinator
