// Control messages the worker tests hand to stages: an OpenSequence of epoch 1 with default
// sampling (greedy) and a one-sequence Step. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "common/proto/strata_control.pb.h"

namespace strata::testing {

inline control::v1::OpenSequence OpenGreedy(uint64_t id, int32_t prompt_tokens) {
  control::v1::OpenSequence o;
  o.set_epoch(1);
  o.set_seq_id(id);
  o.set_prompt_tokens(prompt_tokens);
  o.mutable_sampling()->set_top_p(1.0f);
  return o;
}

// Step `step_id` of epoch 1: sequence `seq`'s `tokens` from position `start`.
inline control::v1::Step OneSequenceStep(uint64_t step_id, uint64_t seq, int32_t start,
                                         const std::vector<int32_t>& tokens) {
  control::v1::Step s;
  s.set_epoch(1);
  s.set_step_id(step_id);
  control::v1::SeqWork* w = s.add_seqs();
  w->set_seq_id(seq);
  w->set_start_pos(start);
  for (int32_t t : tokens) w->add_tokens(t);
  return s;
}

}  // namespace strata::testing
