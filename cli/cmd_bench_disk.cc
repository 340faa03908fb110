// `strata bench-disk`: the best read bandwidth the disk under a file gives, any way — our
// reader over a grid of queue depths and block sizes, and buffered reads cold and warm
// (common/bench/disk_sweep.h) — as a table, or one JSON object with --json.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "common/bench/disk_sweep.h"
#include "common/bench/disk_sweep_report.h"
#include "common/util/byte_size.h"

namespace strata::cli {
namespace {

constexpr uint64_t kDefaultMaxBytes = uint64_t{8} << 30;

struct Flags {
  std::string file;
  std::string bytes;  // "" = min(file size, 8 GiB)
  bool json = false;
};

// The range to measure, checked against the file.
StatusOr<uint64_t> RangeBytes(const Flags& f) {
  struct stat st {};
  if (::stat(f.file.c_str(), &st) != 0) {
    const int err = errno;
    const std::string msg = "--file " + f.file + ": " + std::strerror(err);
    return err == ENOENT ? NotFound(msg) : FailedPrecondition(msg);
  }
  if (!S_ISREG(st.st_mode)) return InvalidArgument("--file " + f.file + " is not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (f.bytes.empty()) {
    if (size < 4096) return InvalidArgument("--file " + f.file + " has fewer than 4096 bytes");
    return std::min(size, kDefaultMaxBytes);
  }
  STRATA_ASSIGN_OR_RETURN(const size_t n, ParseByteSize("--bytes", f.bytes));
  if (n < 4096) return InvalidArgument("--bytes must be at least 4096, not " + f.bytes);
  if (n > size) {
    return InvalidArgument("--bytes " + f.bytes + " is beyond the end of --file " + f.file + " (" +
                           std::to_string(size) + " bytes)");
  }
  return n;
}

Status Run(const Flags& f) {
  STRATA_ASSIGN_OR_RETURN(const uint64_t bytes, RangeBytes(f));
  const DiskSweepOptions options;
  std::fprintf(stderr, "bench-disk: reading %llu bytes of %s %zu times (reader grid), then twice "
               "buffered\n", static_cast<unsigned long long>(bytes), f.file.c_str(),
               options.queue_depths.size() * options.block_bytes.size());
  STRATA_ASSIGN_OR_RETURN(const DiskSweepResult r, RunDiskSweep(f.file, bytes, options));
  if (f.json) {
    std::printf("%s\n", DiskSweepJson(r).dump(2).c_str());
  } else {
    std::printf("%s", DiskSweepText(r).c_str());
    if (r.bytes < (uint64_t{1} << 30) && r.bytes < r.file_bytes) {
      std::printf("note: under 1 GiB measured; the disk's own cache can inflate short runs\n");
    }
  }
  return OkStatus();
}

}  // namespace

void AddBenchDiskCommand(CLI::App& app, CommandRunner& run) {
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "bench-disk", "Best read bandwidth of a file's disk: our reader's queue depth x block "
                    "size grid, and buffered reads cold and warm");
  cmd->add_option("--file", flags->file, "File to read, e.g. a pack's weights.bin")->required();
  cmd->add_option("--bytes", flags->bytes,
                  "Bytes to read from the start, e.g. 4G (default: the file, at most 8 GiB)");
  cmd->add_flag("--json", flags->json, "Print the results as one JSON object");
  cmd->callback([flags, &run] { run = [flags] { return Run(*flags); }; });
}

}  // namespace strata::cli
