// Test access to the committed reference data: the tiny Llama 3.1 checkpoint and the
// Hugging Face transformers outputs in tests/fixtures/tiny-llama31/expected.json.
// Thread-safety: read-only after loading.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata::testing {

struct ReferenceCase {
  std::string prompt;                          // empty for the chat case
  std::string chat_json;                       // the chat messages as JSON, "" for plain prompts
  std::string rendered;                        // the chat rendered by the template
  std::vector<int32_t> input_ids;
  std::vector<std::vector<int32_t>> top8_ids;  // (positions, 8)
  std::vector<std::vector<float>> top8_logits;
  std::vector<float> logits_last;              // (vocab) at the last prompt position
  std::vector<int32_t> greedy_ids;
  std::vector<float> greedy_top1_margins;
  std::vector<float> hidden_norms;  // after embedding, after each layer, after the final norm
};

std::string FixturesDir();                 // tests/fixtures
std::string TinyModelDir();                // tests/fixtures/tiny-llama31
const std::vector<ReferenceCase>& ReferenceCases();  // loaded once; aborts if unreadable

// Greedy ids are comparable up to the first step whose top-1 margin is below 0.02.
size_t ComparableGreedySteps(const ReferenceCase& c);

// max |a - b| / max |b|: the error of a logits vector relative to its scale.
double MaxRelativeError(const std::vector<float>& actual, const std::vector<float>& expected);

}  // namespace strata::testing
