// RunDiskSweep over a small temp file with a reduced grid: every figure measured (positive,
// finite), the best is the fastest, the text and JSON reports are complete, bad ranges and
// options are clear errors; the page-cache helpers; and `strata bench-disk` from the command
// line (--json, and errors naming the flag). No timing thresholds: the disk is whatever it is.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/bench/disk_sweep.h"
#include "common/bench/disk_sweep_report.h"
#include "common/bench/page_cache.h"
#include "tests/support/run_process.h"
#include "tests/support/temp_dir.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::RunProcess;
using testing::TempDir;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kFileBytes = 4 * kMiB + 1000;  // a tail that is not a whole 4096 block

std::string WriteRandomFile(const TempDir& dir) {
  const std::string path = dir.File("data.bin");
  std::vector<char> bytes(kFileBytes);
  std::mt19937 rng(7);
  for (char& c : bytes) c = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(kFileBytes));
  return path;
}

DiskSweepOptions SmallGrid() {
  DiskSweepOptions o;
  o.queue_depths = {1, 4};
  o.block_bytes = {256 << 10, 1 << 20};
  o.chunk_bytes = 1 << 20;
  o.max_reads = 3;  // fewer slots than chunks: the ring wraps
  o.buffered_block_bytes = 1 << 20;
  return o;
}

bool Positive(double v) { return std::isfinite(v) && v > 0; }

TEST(DiskSweep, MeasuresEveryConfigurationAndBothBufferedReads) {
  TempDir dir("disk_sweep");
  const std::string path = WriteRandomFile(dir);
  StatusOr<DiskSweepResult> r = RunDiskSweep(path, kFileBytes, SmallGrid());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->file_bytes, kFileBytes);
  EXPECT_EQ(r->bytes, 4 * kMiB);  // rounded down to whole blocks
  ASSERT_EQ(r->reader.size(), 4u);
  const std::vector<std::pair<int, size_t>> order = {
      {1, 256 << 10}, {1, 1 << 20}, {4, 256 << 10}, {4, 1 << 20}};
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(r->reader[i].queue_depth, order[i].first);
    EXPECT_EQ(r->reader[i].block_bytes, order[i].second);
    EXPECT_TRUE(Positive(r->reader[i].gbps)) << i;
    EXPECT_FALSE(r->reader[i].path_kind.empty());
    EXPECT_LE(r->reader[i].gbps, r->best().gbps);
  }
  EXPECT_TRUE(Positive(r->buffered_cold_gbps));
  EXPECT_TRUE(Positive(r->buffered_warm_gbps));
  EXPECT_GE(r->resident_before_cold, 0.0);
  EXPECT_LE(r->resident_before_cold, 1.0);
  EXPECT_GE(r->best_gbps(), r->best().gbps);
  EXPECT_GE(r->best_gbps(), r->buffered_cold_gbps);
  EXPECT_EQ(r->best_is_reader(), r->best_gbps() == r->best().gbps);
}

TEST(DiskSweep, ReportsAreComplete) {
  TempDir dir("disk_sweep_report");
  const std::string path = WriteRandomFile(dir);
  StatusOr<DiskSweepResult> r = RunDiskSweep(path, 2 * kMiB, SmallGrid());
  ASSERT_TRUE(r.ok()) << r.status().ToString();

  const nlohmann::json j = DiskSweepJson(*r);
  EXPECT_EQ(j["file"], path);
  EXPECT_EQ(j["bytes"], 2 * kMiB);
  EXPECT_EQ(j["file_bytes"], kFileBytes);
  EXPECT_EQ(j["reader"]["chunk_bytes"], 1 << 20);
  EXPECT_EQ(j["reader"]["max_reads"], 3);
  ASSERT_EQ(j["reader"]["configs"].size(), 4u);
  for (const nlohmann::json& c : j["reader"]["configs"]) {
    EXPECT_TRUE(c["queue_depth"].is_number_integer());
    EXPECT_TRUE(c["block_bytes"].is_number_integer());
    EXPECT_TRUE(Positive(c["gb_per_s"].get<double>()));
    EXPECT_FALSE(c["path_kind"].get<std::string>().empty());
  }
  EXPECT_EQ(j["reader"]["best"]["gb_per_s"], r->best().gbps);
  EXPECT_TRUE(j["reader"]["fallback_reason"].is_string());
  EXPECT_TRUE(Positive(j["buffered"]["cold_gb_per_s"].get<double>()));
  EXPECT_TRUE(Positive(j["buffered"]["warm_gb_per_s"].get<double>()));
  EXPECT_TRUE(j["buffered"]["resident_before_cold"].is_number());
  EXPECT_EQ(j["buffered"]["block_bytes"], 1 << 20);
  EXPECT_EQ(j["best"]["gb_per_s"], r->best_gbps());
  EXPECT_THAT(j["best"]["source"].get<std::string>(),
              ::testing::AnyOf("reader", "buffered_cold"));
  EXPECT_EQ(j["best"]["how"], DiskSweepBestHow(*r));
  EXPECT_THAT(j["eviction_note"].get<std::string>(), HasSubstr("best effort"));

  const std::string text = DiskSweepText(*r);
  EXPECT_THAT(text, HasSubstr("queue depth"));
  EXPECT_THAT(text, HasSubstr("256 KiB"));
  EXPECT_THAT(text, HasSubstr(r->best().path_kind));
  EXPECT_THAT(text, HasSubstr("buffered pread, 1 MiB blocks: cold"));
  EXPECT_THAT(text, HasSubstr("disk best: "));
  EXPECT_THAT(text, HasSubstr("best effort"));
}

TEST(DiskSweep, RejectsBadRangesAndOptions) {
  TempDir dir("disk_sweep_errors");
  const std::string path = WriteRandomFile(dir);
  EXPECT_EQ(RunDiskSweep(path, 0, SmallGrid()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RunDiskSweep(path, 4095, SmallGrid()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RunDiskSweep(path, kFileBytes + 1, SmallGrid()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RunDiskSweep(dir.File("missing"), kMiB, SmallGrid()).status().code(),
            StatusCode::kNotFound);
  DiskSweepOptions o = SmallGrid();
  o.chunk_bytes = 1000;
  EXPECT_EQ(RunDiskSweep(path, kMiB, o).status().code(), StatusCode::kInvalidArgument);
  o = SmallGrid();
  o.queue_depths.clear();
  EXPECT_EQ(RunDiskSweep(path, kMiB, o).status().code(), StatusCode::kInvalidArgument);
  o = SmallGrid();
  o.block_bytes = {1000};  // the reader's own check
  EXPECT_EQ(RunDiskSweep(path, kMiB, o).status().code(), StatusCode::kInvalidArgument);
}

TEST(PageCache, CountsResidentPagesAndEvicts) {
  TempDir dir("page_cache");
  const std::string path = WriteRandomFile(dir);
  std::ifstream in(path, std::ios::binary);  // a buffered read brings every page in
  std::vector<char> sink(kFileBytes);
  in.read(sink.data(), static_cast<std::streamsize>(kFileBytes));
  StatusOr<double> cached = ResidentFraction(path, kFileBytes);
  ASSERT_TRUE(cached.ok()) << cached.status().ToString();
  EXPECT_GT(*cached, 0.99);
  // Best effort: the kernel decides, so only the call and the range are checked.
  EXPECT_TRUE(EvictFilePages(path).ok());
  StatusOr<double> after = ResidentFraction(path, kFileBytes);
  ASSERT_TRUE(after.ok());
  EXPECT_GE(*after, 0.0);
  EXPECT_LE(*after, 1.0);
  EXPECT_EQ(*ResidentFraction(path, 0), 0.0);
  EXPECT_EQ(ResidentFraction(path, kFileBytes + 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EvictFilePages(dir.File("missing")).code(), StatusCode::kNotFound);
}

TEST(BenchDiskCli, PrintsJsonAndNamesTheFlagInErrors) {
  TempDir dir("bench_disk_cli");
  const std::string path = WriteRandomFile(dir);
  testing::ProcessResult ok =
      RunProcess({STRATA_CLI_PATH, "bench-disk", "--file", path, "--bytes", "2M", "--json"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const nlohmann::json j = nlohmann::json::parse(ok.out);
  EXPECT_EQ(j["bytes"], 2 * kMiB);
  EXPECT_EQ(j["reader"]["configs"].size(), 24u);  // 6 queue depths x 4 block sizes
  EXPECT_EQ(j["reader"]["chunk_bytes"], 16 * kMiB);
  EXPECT_EQ(j["reader"]["max_reads"], 8);
  EXPECT_TRUE(Positive(j["best"]["gb_per_s"].get<double>()));

  testing::ProcessResult text = RunProcess({STRATA_CLI_PATH, "bench-disk", "--file", path});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("disk best: "));
  EXPECT_THAT(text.out, HasSubstr("16 MiB"));

  testing::ProcessResult missing =
      RunProcess({STRATA_CLI_PATH, "bench-disk", "--file", dir.File("nope")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("--file"));
  testing::ProcessResult zero =
      RunProcess({STRATA_CLI_PATH, "bench-disk", "--file", path, "--bytes", "0"});
  EXPECT_EQ(zero.exit_code, 1);
  EXPECT_THAT(zero.err, HasSubstr("--bytes"));
  testing::ProcessResult beyond =
      RunProcess({STRATA_CLI_PATH, "bench-disk", "--file", path, "--bytes", "5M"});
  EXPECT_EQ(beyond.exit_code, 1);
  EXPECT_THAT(beyond.err, HasSubstr("--bytes 5M is beyond the end of --file"));
  testing::ProcessResult garbage =
      RunProcess({STRATA_CLI_PATH, "bench-disk", "--file", path, "--bytes", "lots"});
  EXPECT_EQ(garbage.exit_code, 1);
  EXPECT_THAT(garbage.err, HasSubstr("--bytes"));
}

}  // namespace
}  // namespace strata
