// CheckAssignment, CheckOpenSequence, CheckStep and CheckSlices (see control_checks.h).
#include "worker/control_checks.h"

#include <algorithm>
#include <string>
#include <vector>

namespace strata::worker {

using std::to_string;

Status CheckAssignment(const control::v1::Assignment& a, int64_t model_layers) {
  if (a.num_stages() < 1 || a.stage() < 0 || a.stage() >= a.num_stages()) {
    return InvalidArgument("assignment out of range: stage " + to_string(a.stage()) + " of " +
                           to_string(a.num_stages()));
  }
  const int64_t end = int64_t{a.first_layer()} + a.num_layers();
  if (a.first_layer() < 0 || a.num_layers() < 1 || end > model_layers) {
    return InvalidArgument("assignment out of range: layers [" + to_string(a.first_layer()) +
                           ", " + to_string(end) + ") of a model of " + to_string(model_layers));
  }
  if (a.max_batch_tokens() < 1 || a.max_seq_len() < 1 || a.kv_slots() < 1) {
    return InvalidArgument("assignment out of range: max_batch_tokens " +
                           to_string(a.max_batch_tokens()) + ", max_seq_len " +
                           to_string(a.max_seq_len()) + ", kv_slots " + to_string(a.kv_slots()) +
                           " (each at least 1)");
  }
  return OkStatus();
}

Status CheckOpenSequence(const control::v1::OpenSequence& open, const control::v1::Assignment& a) {
  if (open.prompt_tokens() < 1 || open.prompt_tokens() > a.max_seq_len()) {
    return InvalidArgument("sequence " + to_string(open.seq_id()) + " has a prompt of " +
                           to_string(open.prompt_tokens()) + " tokens, outside [1, " +
                           to_string(a.max_seq_len()) + "] (max_seq_len)");
  }
  return OkStatus();
}

Status CheckStep(const control::v1::Step& step, const control::v1::Assignment& a,
                 int64_t vocab_size) {
  const std::string where = "step " + to_string(step.step_id()) + ": ";
  if (step.seqs().empty()) return InvalidArgument(where + "no sequences");
  std::vector<transport::SeqSlice> slices;
  slices.reserve(static_cast<size_t>(step.seqs_size()));
  for (const control::v1::SeqWork& w : step.seqs()) {
    if (w.tokens().empty()) {
      return InvalidArgument(where + "sequence " + to_string(w.seq_id()) + " has no tokens");
    }
    for (int32_t id : w.tokens()) {
      if (id < 0 || id >= vocab_size) {
        return InvalidArgument(where + "sequence " + to_string(w.seq_id()) + " has token id " +
                               to_string(id) + ", outside the vocabulary [0, " +
                               to_string(vocab_size) + ")");
      }
    }
    // Tree values travel as 16-bit integers: each must fit before it is narrowed (the data
    // plane's ValidateSliceTrees checks the tree's shape after).
    if (w.tree_parents_size() != 0 && w.tree_parents_size() != w.tokens_size()) {
      return InvalidArgument(where + "sequence " + to_string(w.seq_id()) + " has " +
                             to_string(w.tree_parents_size()) + " tree parents for " +
                             to_string(w.tokens_size()) + " tokens");
    }
    const auto out_of_range = [](int32_t v) { return v < -1 || v > kMaxTreeRows; };
    if (std::any_of(w.tree_parents().begin(), w.tree_parents().end(), out_of_range) ||
        std::any_of(w.kept_nodes().begin(), w.kept_nodes().end(), out_of_range) ||
        w.kept_nodes_size() > kMaxTreeRows) {
      return InvalidArgument(where + "sequence " + to_string(w.seq_id()) +
                             " has tree parents or kept nodes outside [-1, " +
                             to_string(kMaxTreeRows) + "]");
    }
    slices.push_back({w.seq_id(), w.start_pos(), w.tokens_size()});
  }
  return CheckSlices(slices, a).WithContext("step " + to_string(step.step_id()));
}

Status CheckSlices(std::span<const transport::SeqSlice> slices, const control::v1::Assignment& a) {
  if (slices.size() > static_cast<size_t>(std::max(a.kv_slots(), 0))) {
    return InvalidArgument(to_string(slices.size()) + " sequences in one batch, more than the " +
                           to_string(a.kv_slots()) + " KV slots");
  }
  int64_t tokens = 0;
  std::vector<uint64_t> ids;
  ids.reserve(slices.size());
  for (const transport::SeqSlice& s : slices) {
    const int64_t end = int64_t{s.start_pos} + s.n_tokens;
    if (s.n_tokens < 1 || s.start_pos < 0 || end > a.max_seq_len()) {
      return InvalidArgument("sequence " + to_string(s.seq_id) + " has " +
                             to_string(s.n_tokens) + " tokens at position " +
                             to_string(s.start_pos) + ", outside [0, " +
                             to_string(a.max_seq_len()) + ") (max_seq_len)");
    }
    tokens += s.n_tokens;
    ids.push_back(s.seq_id);
  }
  if (tokens > a.max_batch_tokens()) {
    return InvalidArgument(to_string(tokens) + " tokens in one batch, more than max_batch_tokens " +
                           to_string(a.max_batch_tokens()));
  }
  std::sort(ids.begin(), ids.end());
  if (const auto twice = std::adjacent_find(ids.begin(), ids.end()); twice != ids.end()) {
    return InvalidArgument("sequence " + to_string(*twice) + " appears twice in one batch");
  }
  return OkStatus();
}

}  // namespace strata::worker
