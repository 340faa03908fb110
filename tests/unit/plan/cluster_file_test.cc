// Cluster files: a full file parses into the spec, defaults fill optional fields, and
// every kind of mistake is an error naming the file, the line and the field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/plan/cluster_file.h"
#include "common/plan/json_lines.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

constexpr const char* kCluster = R"({
  "model": {
    "layers": 80,
    "layer_bytes": 844000000,
    "first_end_bytes": "2G",
    "last_end_bytes": 2101362688,
    "activation_bytes_per_token": 32768,
    "kv_bytes_per_token_per_layer": 8192
  },
  "workload": {"prefill_chunk_tokens": 512, "decode_batch": 4, "kv_tokens": 8192},
  "link": {"gbps": 1.25, "latency_ms": 0.05},
  "workers": [
    {"name": "big", "gpu_mem": "22G", "pinned_mem": "96G", "ssd_gbps": 7, "h2d_gbps": 50,
     "prefill_ms": 120, "prefill_tokens": 1024, "decode_ms": 1.8},
    {"gpu_mem": 15032385536, "pinned_mem": "48G", "ssd_gbps": 4.45, "h2d_gbps": 41.53,
     "prefill_ms": 172.92, "decode_ms": 2.45}
  ]
}
)";

// kCluster with `from` replaced by `to` (which must occur once).
std::string Edited(const std::string& from, const std::string& to) {
  std::string text = kCluster;
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

std::string ErrorOf(const std::string& text) {
  StatusOr<ClusterSpec> c = ParseClusterJson(text, "c.json");
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  return c.status().message();
}

TEST(ClusterFile, ParsesEveryField) {
  StatusOr<ClusterSpec> c = ParseClusterJson(kCluster, "c.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->model.layers, 80);
  EXPECT_EQ(c->model.layer_bytes, 844000000u);
  EXPECT_EQ(c->model.first_end_bytes, size_t{2} << 30);
  EXPECT_EQ(c->model.last_end_bytes, 2101362688u);
  EXPECT_EQ(c->model.activation_bytes_per_token, 32768u);
  EXPECT_EQ(c->model.kv_bytes_per_token_per_layer, 8192u);
  EXPECT_EQ(c->workload.prefill_chunk_tokens, 512);
  EXPECT_EQ(c->workload.decode_batch, 4);
  EXPECT_EQ(c->workload.kv_tokens, 8192);
  ASSERT_TRUE(c->link.has_value());
  EXPECT_DOUBLE_EQ(c->link->gbps, 1.25);
  EXPECT_DOUBLE_EQ(c->link->latency_ms, 0.05);
  ASSERT_EQ(c->workers.size(), 2u);
  EXPECT_EQ(c->workers[0].name, "big");
  EXPECT_EQ(c->workers[0].gpu_mem, size_t{22} << 30);
  EXPECT_EQ(c->workers[0].pinned_mem, size_t{96} << 30);
  EXPECT_DOUBLE_EQ(c->workers[0].ssd_gbps, 7);
  EXPECT_DOUBLE_EQ(c->workers[0].h2d_gbps, 50);
  EXPECT_DOUBLE_EQ(c->workers[0].prefill_ms, 120);
  EXPECT_EQ(c->workers[0].prefill_tokens, 1024);
  EXPECT_DOUBLE_EQ(c->workers[0].decode_ms, 1.8);
  EXPECT_EQ(c->workers[1].name, "worker-1");
  EXPECT_EQ(c->workers[1].gpu_mem, 15032385536u);
  EXPECT_EQ(c->workers[1].prefill_tokens, 2048);
}

TEST(ClusterFile, OptionalObjectsDefault) {
  StatusOr<ClusterSpec> c = ParseClusterJson(
      R"({"model": {"layers": 4, "layer_bytes": "1G"},
          "workers": [{"gpu_mem": "8G", "pinned_mem": 0, "ssd_gbps": 3, "h2d_gbps": 25,
                       "prefill_ms": 100, "decode_ms": 2}]})",
      "c.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->link.has_value());
  EXPECT_EQ(c->workload.prefill_chunk_tokens, 2048);
  EXPECT_EQ(c->workload.decode_batch, 1);
  EXPECT_EQ(c->workload.kv_tokens, 0);
  EXPECT_EQ(c->model.first_end_bytes, 0u);
}

TEST(ClusterFile, SyntaxErrorsGiveLineAndColumn) {
  EXPECT_THAT(ErrorOf(Edited("\"decode_batch\": 4,", "\"decode_batch\": 4,,")),
              HasSubstr("c.json:10:"));
  EXPECT_THAT(ErrorOf(Edited("\"decode_batch\": 4,", "\"decode_batch\": 4,,")),
              HasSubstr("not valid JSON"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("c.json:1:1: not valid JSON"));
}

TEST(ClusterFile, FieldErrorsGiveLineAndPath) {
  EXPECT_THAT(ErrorOf(Edited("\"ssd_gbps\": 4.45", "\"ssd_gbps\": -1")),
              HasSubstr("c.json:15: workers[1].ssd_gbps: must be a positive number, got -1"));
  EXPECT_THAT(ErrorOf(Edited("\"ssd_gbps\": 7", "\"ssd_gbps\": \"fast\"")),
              HasSubstr("c.json:13: workers[0].ssd_gbps: must be a positive number, got \"fast\""));
  EXPECT_THAT(ErrorOf(Edited("\"h2d_gbps\": 50", "\"h2d_gbps\": 0")),
              HasSubstr("c.json:13: workers[0].h2d_gbps"));
  EXPECT_THAT(ErrorOf(Edited("\"prefill_tokens\": 1024", "\"prefill_tokens\": 1.5")),
              HasSubstr("c.json:14: workers[0].prefill_tokens: must be a positive integer"));
  EXPECT_THAT(ErrorOf(Edited("\"gpu_mem\": \"22G\"", "\"gpu_mem\": \"22Q\"")),
              HasSubstr("c.json:13: workers[0].gpu_mem must be a size"));
  EXPECT_THAT(ErrorOf(Edited("\"gpu_mem\": 15032385536", "\"gpu_mem\": -5")),
              HasSubstr("c.json:15: workers[1].gpu_mem: must be a byte count"));
  EXPECT_THAT(ErrorOf(Edited("\"layers\": 80", "\"layers\": 0")),
              HasSubstr("c.json:3: model.layers: must be a positive integer"));
  EXPECT_THAT(ErrorOf(Edited("\"kv_tokens\": 8192", "\"kv_tokens\": -1")),
              HasSubstr("c.json:10: workload.kv_tokens"));
  EXPECT_THAT(ErrorOf(Edited("\"latency_ms\": 0.05", "\"latency_ms\": -1")),
              HasSubstr("c.json:11: link.latency_ms: must be a non-negative number"));
}

TEST(ClusterFile, UnknownMissingAndMistypedFields) {
  EXPECT_THAT(ErrorOf(Edited("\"ssd_gbps\": 7", "\"ssd_gpbs\": 7")),
              HasSubstr("c.json:13: workers[0].ssd_gpbs: unknown field; the known ones are"));
  EXPECT_THAT(ErrorOf(Edited("\"decode_ms\": 1.8", "\"decode_mss\": 1.8")),
              HasSubstr("c.json:14: workers[0].decode_mss: unknown field"));
  EXPECT_THAT(ErrorOf(Edited(", \"decode_ms\": 2.45", "")),
              HasSubstr("c.json:15: workers[1]: the required field \"decode_ms\" is missing"));
  EXPECT_THAT(ErrorOf(R"({"workers": []})"), HasSubstr("\"model\" object is missing"));
  EXPECT_THAT(ErrorOf(R"({"model": {"layers": 2, "layer_bytes": 10}, "workers": []})"),
              HasSubstr("workers: must be a non-empty array"));
  EXPECT_THAT(ErrorOf("[1, 2]"), HasSubstr("must be a JSON object, got array"));
  EXPECT_THAT(ErrorOf(Edited(R"("workload": {"prefill_chunk_tokens": 512, "decode_batch": 4, "kv_tokens": 8192})",
                             R"("workload": 3)")),
              HasSubstr("workload: must be a JSON object, got number"));
}

TEST(ClusterFile, WholeClusterChecksApplyAfterParsing) {
  // Two workers, one layer: ValidateCluster's error, under the file's name.
  EXPECT_THAT(ErrorOf(Edited("\"layers\": 80", "\"layers\": 1")),
              HasSubstr("c.json: 2 workers for 1 layers"));
}

TEST(ClusterFile, MissingFileIsAnError) {
  EXPECT_FALSE(LoadClusterFile("/nonexistent/cluster.json").ok());
}

TEST(JsonMemberLines, PathsOfMembersAndElements) {
  const auto lines = JsonMemberLines("{\n\"a\": [1,\n {\"b\": \"x\\\"y\"},\n [2]],\n\"c\": {}}");
  EXPECT_EQ(lines.at("a"), 2);
  EXPECT_EQ(lines.at("a[0]"), 2);
  EXPECT_EQ(lines.at("a[1]"), 3);
  EXPECT_EQ(lines.at("a[1].b"), 3);
  EXPECT_EQ(lines.at("a[2]"), 4);
  EXPECT_EQ(lines.at("a[2][0]"), 4);
  EXPECT_EQ(lines.at("c"), 5);
  EXPECT_EQ(lines.count("y"), 0u);
}

}  // namespace
}  // namespace strata
