// Loads tests/fixtures/tiny-llama31/expected.json and its logits files (see the header).
#include "tests/support/reference_fixture.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace strata::testing {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "reference fixture: %s\n", what.c_str());
  std::abort();
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<float> ReadFloats(const std::string& path) {
  const std::string bytes = Slurp(path);
  if (bytes.size() % sizeof(float) != 0) Die(path + " is not a float32 array");
  std::vector<float> v(bytes.size() / sizeof(float));
  std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(v.data()));
  return v;
}

std::vector<ReferenceCase> Load() {
  const nlohmann::json j = nlohmann::json::parse(Slurp(TinyModelDir() + "/expected.json"));
  std::vector<ReferenceCase> cases;
  for (const auto& c : j.at("cases")) {
    ReferenceCase r;
    if (c.at("prompt").is_string()) r.prompt = c.at("prompt").get<std::string>();
    if (!c.at("chat").is_null()) r.chat_json = c.at("chat").dump();
    if (c.at("rendered").is_string()) r.rendered = c.at("rendered").get<std::string>();
    r.input_ids = c.at("input_ids").get<std::vector<int32_t>>();
    r.top8_ids = c.at("top8_ids").get<std::vector<std::vector<int32_t>>>();
    r.top8_logits = c.at("top8_logits").get<std::vector<std::vector<float>>>();
    r.logits_last = ReadFloats(TinyModelDir() + "/" + c.at("logits_last_file").get<std::string>());
    r.greedy_ids = c.at("greedy_ids").get<std::vector<int32_t>>();
    r.greedy_top1_margins = c.at("greedy_top1_margins").get<std::vector<float>>();
    r.hidden_norms = c.at("hidden_last_pos_norm_per_layer").get<std::vector<float>>();
    cases.push_back(std::move(r));
  }
  return cases;
}

}  // namespace

std::string FixturesDir() { return STRATA_TEST_FIXTURES; }
std::string TinyModelDir() { return FixturesDir() + "/tiny-llama31"; }

const std::vector<ReferenceCase>& ReferenceCases() {
  static const std::vector<ReferenceCase> cases = Load();
  return cases;
}

size_t ComparableGreedySteps(const ReferenceCase& c) {
  for (size_t i = 0; i < c.greedy_top1_margins.size(); ++i) {
    if (c.greedy_top1_margins[i] < 0.02f) return i;
  }
  return c.greedy_ids.size();
}

double MaxRelativeError(const std::vector<float>& actual, const std::vector<float>& expected) {
  if (actual.size() != expected.size() || expected.empty()) return INFINITY;
  double max_diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < expected.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(actual[i]) - expected[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(expected[i])));
  }
  return max_diff / scale;
}

}  // namespace strata::testing
