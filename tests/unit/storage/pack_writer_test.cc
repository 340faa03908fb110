// WritePack's crash safety and refusals: a failure mid-write leaves no pack and no partial
// directory and a later pack succeeds; a crashed run's partial directory is never opened and
// is cleaned up; an existing directory needs --force, which replaces only packs; fp8 sources
// and non-finite weights for fp8 are refused.
#include "common/storage/pack_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "common/storage/pack.h"
#include "tests/unit/model/model_test_util.h"
#include "tests/unit/storage/storage_test_util.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::TempDir;

// A small synthetic model in tmp/model; packs go under tmp/out.
class PackWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(model_);
    fs::create_directories(out_root_);
    testing::WriteSmallModel(model_, 4, /*tied=*/false);
  }
  PackOptions Options(const std::string& out, PackDType dtype = PackDType::kBF16) const {
    PackOptions o;
    o.model_dir = model_;
    o.out_dir = out;
    o.dtype = dtype;
    return o;
  }
  std::string Out(const std::string& name) const { return out_root_ + "/" + name; }

  TempDir tmp_{"writer"};
  const std::string model_ = tmp_.File("model");
  const std::string out_root_ = tmp_.File("out");
};

// The names in `dir`, sorted.
std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST_F(PackWriterTest, FailureMidWriteLeavesNothingAndALaterPackSucceeds) {
  const std::string out = Out("p");
  PackOptions o = Options(out);
  o.buffer_bytes = 4096;
  o.fail_after_bytes = 20 * 4096;  // inside layer 2
  StatusOr<PackResult> r = WritePack(o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("stopped after 81920 bytes"));
  EXPECT_TRUE(Entries(out_root_).empty()) << ::testing::PrintToString(Entries(out_root_));
  EXPECT_FALSE(Pack::Open(out).ok());

  o.fail_after_bytes = 0;
  r = WritePack(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->dir, out);
  EXPECT_EQ(r->num_layers, 4);
  EXPECT_GT(r->data_bytes, 20u * 4096);
  EXPECT_EQ(r->data_bytes, fs::file_size(out + "/weights.bin"));
  EXPECT_TRUE(Pack::Open(out).ok());
  EXPECT_THAT(Entries(out_root_), ::testing::ElementsAre("p"));
}

// A pid that belonged to a process that has exited.
pid_t DeadPid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

TEST_F(PackWriterTest, CrashedRunsPartialDirectoryIsIgnoredThenCleanedUp) {
  const std::string out = Out("p");
  // What a crash between writing the manifest and the final rename leaves behind.
  const std::string partial = out + ".partial-" + std::to_string(DeadPid());
  testing::CopyPack(testing::SmallPack(PackDType::kBF16), partial, /*copy_data=*/true);
  EXPECT_EQ(Pack::Open(out).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Pack::Open(partial).status().code(), StatusCode::kFailedPrecondition);
  // Another run's partial directory for an unrelated pack is left alone.
  fs::create_directories(Out("other.partial-1"));

  StatusOr<PackResult> r = WritePack(Options(out));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(Pack::Open(out).ok());
  EXPECT_THAT(Entries(out_root_), ::testing::ElementsAre("other.partial-1", "p"));
}

TEST_F(PackWriterTest, ExistingDirectoryNeedsForceWhichReplacesOnlyPacks) {
  const std::string out = Out("p");
  ASSERT_TRUE(WritePack(Options(out)).ok());
  const std::string manifest = testing::ReadBytes(out + "/manifest.json");

  StatusOr<PackResult> r = WritePack(Options(out, PackDType::kFP8));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), "pack directory " + out +
                                      " already exists; pass --force to replace it or choose "
                                      "another --out");
  EXPECT_EQ(testing::ReadBytes(out + "/manifest.json"), manifest);

  PackOptions force = Options(out + "/", PackDType::kFP8);
  force.force = true;
  r = WritePack(force);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  StatusOr<Pack> pack = Pack::Open(out);
  ASSERT_TRUE(pack.ok()) << pack.status().ToString();
  EXPECT_EQ(pack->dtype(), PackDType::kFP8);
  EXPECT_THAT(Entries(out_root_), ::testing::ElementsAre("p"));

  const std::string precious = Out("precious");
  fs::create_directories(precious);
  testing::WriteBytes(precious + "/notes.txt", "keep me");
  force.out_dir = precious;
  r = WritePack(force);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("is not a Strata pack (no manifest.json)"));
  EXPECT_EQ(testing::ReadBytes(precious + "/notes.txt"), "keep me");
}

TEST_F(PackWriterTest, MissingModelCreatesNothing) {
  PackOptions o = Options(Out("sub/p"));
  o.model_dir = tmp_.File("absent");
  StatusOr<PackResult> r = WritePack(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Entries(out_root_).empty());
}

// The tiny synthetic Llama with one tensor replaced.
std::string SyntheticModel(const TempDir& tmp, const std::string& name, const std::string& dtype,
                           const std::string& data) {
  std::vector<testing::SyntheticTensor> tensors = testing::TinyLlamaTensors(true);
  for (testing::SyntheticTensor& t : tensors) {
    if (t.name == name) {
      t.dtype = dtype;
      t.data = data;
    }
  }
  const std::string dir = tmp.File("model");
  fs::create_directories(dir);
  testing::WriteTinyLlama(dir, testing::TinyLlamaConfig(), tensors);
  return dir;
}

TEST_F(PackWriterTest, RefusesFp8SourcesAndNonFiniteWeightsForFp8) {
  TempDir tmp("refuse");
  PackOptions o = Options(tmp.File("p"));
  o.model_dir = SyntheticModel(tmp, "model.layers.1.mlp.up_proj.weight", "F8_E4M3",
                               std::string(16 * 8, '\x38'));
  StatusOr<PackResult> r = WritePack(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(r.status().message(), HasSubstr("tensor layer.1.w_up is already F8_E4M3"));
  EXPECT_FALSE(fs::exists(o.out_dir));

  TempDir tmp2("nan");
  std::string q = testing::F32Data(8 * 8);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(q.data() + 4 * (2 * 8 + 5), &nan, 4);
  o.model_dir = SyntheticModel(tmp2, "model.layers.0.self_attn.q_proj.weight", "F32", q);
  o.out_dir = tmp2.File("p");
  o.dtype = PackDType::kFP8;
  r = WritePack(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(),
              HasSubstr("tensor layer.0.wq has a non-finite value at row 2, column 5"));
  o.dtype = PackDType::kBF16;  // bf16 keeps the NaN
  EXPECT_TRUE(WritePack(o).ok());
}

}  // namespace
}  // namespace strata
