// ExtentReader on every path (io_uring or pread, O_DIRECT or buffered): the path taken is
// the one this machine supports, probed here independently, and any fallback is reported;
// random ranges with several reads in flight and odd queue depths and block sizes match a
// plain read bit for bit; bad requests, too many reads, reads past the end and a file
// truncated under the reader give errors that name the file.
#include "common/storage/extent_reader.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "tests/unit/storage/storage_test_util.h"

namespace strata {
namespace {

using testing::AlignedBuffer;
using ::testing::HasSubstr;
using testing::TempDir;

constexpr size_t kPage = 4096;
constexpr size_t kFilePages = 1027;  // 4 MiB + 12 KiB

// Whether this kernel lets this process create an io_uring (seccomp may forbid it).
bool IoUringWorks() {
  io_uring_params params{};
  const long fd = syscall(__NR_io_uring_setup, 4, &params);
  if (fd < 0) return false;
  close(static_cast<int>(fd));
  return true;
}

// Whether the file system holding `path` serves O_DIRECT reads.
bool DirectWorks(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECT);
  if (fd < 0) return false;
  AlignedBuffer buf(kPage);
  const ssize_t n = pread(fd, buf.data(), kPage, 0);
  close(fd);
  return n == static_cast<ssize_t>(kPage);
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t v = rng();
    std::memcpy(s.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return s;
}

struct PathCase {
  bool io_uring;
  bool direct;
  int queue_depth;
  size_t block_bytes;
};

std::string CaseName(const ::testing::TestParamInfo<PathCase>& info) {
  const PathCase& c = info.param;
  return std::string(c.io_uring ? "Uring" : "Pread") + (c.direct ? "Direct" : "Buffered") + "Qd" +
         std::to_string(c.queue_depth) + "Block" + std::to_string(c.block_bytes / kPage) + "p";
}

class ExtentReaderPathTest : public ::testing::TestWithParam<PathCase> {
 protected:
  void SetUp() override {
    file_ = dir_.File("data.bin");
    contents_ = RandomBytes(kFilePages * kPage, 7);
    testing::WriteBytes(file_, contents_);
  }

  ReaderOptions Options() const {
    const PathCase& c = GetParam();
    ReaderOptions o;
    o.allow_io_uring = c.io_uring;
    o.allow_direct = c.direct;
    o.queue_depth = c.queue_depth;
    o.block_bytes = c.block_bytes;
    return o;
  }

  // The path this machine must take for the case, from independent probes.
  std::string ExpectedKind() const {
    const PathCase& c = GetParam();
    const bool uring = c.io_uring && IoUringWorks();
    const bool direct = c.direct && DirectWorks(file_);
    return std::string(uring ? "io_uring" : "pread") + (direct ? "+O_DIRECT" : " (buffered)");
  }

  TempDir dir_{"reader"};
  std::string file_;
  std::string contents_;
};

TEST_P(ExtentReaderPathTest, TakesTheSupportedPathAndReportsFallbacks) {
  auto reader = ExtentReader::Open(file_, Options());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const std::string kind = ExpectedKind();
  EXPECT_EQ((*reader)->path_kind(), kind);
  EXPECT_EQ((*reader)->file_size(), contents_.size());
  const PathCase& c = GetParam();
  const bool uring_fell_back = c.io_uring && kind.starts_with("pread");
  const bool direct_fell_back = c.direct && kind.ends_with("(buffered)");
  if (uring_fell_back) {
    EXPECT_THAT((*reader)->fallback_reason(),
                HasSubstr("io_uring unavailable (io_uring_queue_init: "));
  }
  if (direct_fell_back) {
    EXPECT_THAT((*reader)->fallback_reason(), HasSubstr("O_DIRECT refused"));
  }
  if (!uring_fell_back && !direct_fell_back) {
    EXPECT_EQ((*reader)->fallback_reason(), "");
  }
}

TEST_P(ExtentReaderPathTest, ReadsRandomRangesBitExactlyWithManyInFlight) {
  ReaderOptions options = Options();
  options.max_reads = 6;
  auto opened = ExtentReader::Open(file_, options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ExtentReader& reader = **opened;
  std::mt19937_64 rng(GetParam().queue_depth * 1000 + GetParam().block_bytes);
  struct Read {
    uint64_t offset;
    size_t bytes;
    std::unique_ptr<AlignedBuffer> buf;
  };
  std::map<uint64_t, Read> in_flight;  // by tag
  uint64_t next_tag = 100;
  int checked = 0;
  auto check = [&](const ReadCompletion& c) {
    ASSERT_TRUE(c.status.ok()) << c.status.ToString();
    auto it = in_flight.find(c.tag);
    ASSERT_NE(it, in_flight.end()) << "unknown tag " << c.tag;
    const Read& r = it->second;
    ASSERT_EQ(std::memcmp(r.buf->data(), contents_.data() + r.offset, r.bytes), 0)
        << "tag " << c.tag << " offset " << r.offset << " bytes " << r.bytes;
    in_flight.erase(it);
    ++checked;
  };
  for (int round = 0; round < 40; ++round) {
    while (reader.pending() < options.max_reads) {
      const size_t pages = 1 + rng() % 96;
      const uint64_t first = rng() % (kFilePages - pages + 1);
      Read r{first * kPage, pages * kPage, std::make_unique<AlignedBuffer>(pages * kPage)};
      std::memset(r.buf->data(), 0xee, r.bytes);
      ASSERT_TRUE(reader.Submit(next_tag, r.offset, r.bytes, r.buf->data()).ok());
      in_flight.emplace(next_tag++, std::move(r));
    }
    if (round % 2 == 0) {
      check(reader.WaitAny());
    } else {
      ReadCompletion c;
      while (!reader.Poll(&c)) {
      }
      check(c);
    }
  }
  while (reader.pending() > 0) check(reader.WaitAny());
  EXPECT_TRUE(in_flight.empty());
  EXPECT_EQ(checked, static_cast<int>(next_tag - 100));

  // The whole file in one read, and the last page alone.
  AlignedBuffer all(contents_.size());
  ASSERT_TRUE(reader.ReadSync(0, all.size(), all.data()).ok());
  EXPECT_EQ(std::memcmp(all.data(), contents_.data(), all.size()), 0);
  ASSERT_TRUE(reader.ReadSync(contents_.size() - kPage, kPage, all.data()).ok());
  EXPECT_EQ(std::memcmp(all.data(), contents_.data() + contents_.size() - kPage, kPage), 0);

  // Destroying the reader with reads in flight waits for them, then drops them.
  ASSERT_TRUE(reader.Submit(1, 0, all.size(), all.data()).ok());
  ASSERT_TRUE(reader.Submit(2, 0, kPage, all.data()).ok());
  opened->reset();
}

TEST_P(ExtentReaderPathTest, RefusesBadRequestsAndReadsPastTheEnd) {
  ReaderOptions options = Options();
  options.max_reads = 2;
  auto opened = ExtentReader::Open(file_, options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ExtentReader& reader = **opened;
  AlignedBuffer buf(4 * kPage);
  const uint64_t size = contents_.size();

  Status s = reader.Submit(1, size - kPage, 2 * kPage, buf.data());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("past the end of the file (" + std::to_string(size) + " bytes)"));
  EXPECT_THAT(s.message(), HasSubstr(file_));
  EXPECT_EQ(reader.Submit(1, size + kPage, kPage, buf.data()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reader.Submit(1, UINT64_MAX - kPage + 1, kPage, buf.data()).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(reader.Submit(1, 512, kPage, buf.data()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reader.Submit(1, 0, 100, buf.data()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reader.Submit(1, 0, kPage, buf.data() + 8).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reader.Submit(1, 0, 0, buf.data()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reader.pending(), 0);

  ASSERT_TRUE(reader.Submit(1, 0, kPage, buf.data()).ok());
  ASSERT_TRUE(reader.Submit(2, kPage, kPage, buf.data() + kPage).ok());
  s = reader.Submit(3, 0, kPage, buf.data() + 2 * kPage);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(reader.ReadSync(0, kPage, buf.data() + 2 * kPage).code(),
            StatusCode::kFailedPrecondition);
  ReadCompletion c = reader.WaitAny();
  ASSERT_TRUE(c.status.ok()) << c.status.ToString();
  ASSERT_TRUE(reader.Submit(3, 0, kPage, buf.data() + 2 * kPage).ok());
  while (reader.pending() > 0) ASSERT_TRUE(reader.WaitAny().status.ok());
}

TEST_P(ExtentReaderPathTest, FileTruncatedUnderTheReaderIsDataLoss) {
  auto opened = ExtentReader::Open(file_, Options());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ExtentReader& reader = **opened;
  std::filesystem::resize_file(file_, 256 * kPage);
  AlignedBuffer buf(64 * kPage);
  // Across the new end (a short read, then the end: driven by Poll alone, which must submit
  // the rest itself), and wholly past it (driven by WaitAny).
  for (uint64_t first_page : {250, 512}) {
    ASSERT_TRUE(reader.Submit(first_page, first_page * kPage, buf.size(), buf.data()).ok());
    ReadCompletion c;
    if (first_page == 250) {
      while (!reader.Poll(&c)) {
      }
    } else {
      c = reader.WaitAny();
    }
    EXPECT_EQ(c.tag, first_page);
    EXPECT_EQ(c.status.code(), StatusCode::kDataLoss) << c.status.ToString();
    EXPECT_THAT(c.status.message(), HasSubstr("reading " + file_ + ": the file ends at offset"));
    EXPECT_THAT(c.status.message(), HasSubstr("truncated"));
  }
  // The reader still works for the bytes that remain.
  ASSERT_TRUE(reader.ReadSync(0, 16 * kPage, buf.data()).ok());
  EXPECT_EQ(std::memcmp(buf.data(), contents_.data(), 16 * kPage), 0);
}

INSTANTIATE_TEST_SUITE_P(
    AllPaths, ExtentReaderPathTest,
    ::testing::Values(PathCase{true, true, 8, 1 << 20}, PathCase{true, true, 3, 3 * kPage},
                      PathCase{true, false, 1, kPage}, PathCase{true, false, 5, 5 * kPage},
                      PathCase{false, true, 8, 1 << 20}, PathCase{false, true, 3, 7 * kPage},
                      PathCase{false, false, 2, kPage}, PathCase{false, false, 8, 13 * kPage}),
    CaseName);

TEST(ExtentReader, OpenErrors) {
  TempDir dir("reader_open");
  auto r = ExtentReader::Open(dir.File("absent.bin"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr(dir.File("absent.bin")));
  testing::WriteBytes(dir.File("f.bin"), std::string(kPage, 'x'));
  ReaderOptions o;
  o.block_bytes = 1000;
  EXPECT_EQ(ExtentReader::Open(dir.File("f.bin"), o).status().code(), StatusCode::kInvalidArgument);
  o = ReaderOptions{};
  o.queue_depth = 0;
  EXPECT_EQ(ExtentReader::Open(dir.File("f.bin"), o).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ExtentReader::Open(dir.path()).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata
