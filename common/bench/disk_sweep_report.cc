// DiskSweepText and DiskSweepJson (see disk_sweep_report.h).
#include "common/bench/disk_sweep_report.h"

#include <cstdio>
#include <set>
#include <string>

namespace strata {
namespace {

constexpr const char* kEvictionNote =
    "the file's cached pages are dropped (posix_fadvise DONTNEED) before every cold "
    "measurement; best effort: pages of a file open, mapped or dirty elsewhere may stay cached";

// 262144 -> "256 KiB", 16777216 -> "16 MiB", 8589934592 -> "8 GiB"; 2 decimals if not whole.
std::string Size(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, v == static_cast<double>(static_cast<uint64_t>(v)) ? "%.0f %s"
                                                                                    : "%.2f %s",
                v, units[u]);
  return buf;
}

nlohmann::json PointJson(const ReaderSweepPoint& p) {
  return {{"queue_depth", p.queue_depth},
          {"block_bytes", p.block_bytes},
          {"gb_per_s", p.gbps},
          {"path_kind", p.path_kind}};
}

std::string Printf(const char* format, double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

// `s` right-aligned in `width` columns.
std::string Right(const std::string& s, size_t width) {
  return s.size() >= width ? " " + s : std::string(width - s.size(), ' ') + s;
}

}  // namespace

std::string DiskSweepBestHow(const DiskSweepResult& r) {
  if (!r.best_is_reader()) {
    return "buffered pread, " + Size(r.options.buffered_block_bytes) + " blocks, cold";
  }
  const ReaderSweepPoint& b = r.best();
  return "ExtentReader " + b.path_kind + ", queue depth " + std::to_string(b.queue_depth) + ", " +
         Size(b.block_bytes) + " blocks, " + Size(r.options.chunk_bytes) + " chunks, " +
         std::to_string(r.options.max_reads) + " in flight";
}

std::string DiskSweepText(const DiskSweepResult& r) {
  std::set<std::string> kinds;
  for (const ReaderSweepPoint& p : r.reader) kinds.insert(p.path_kind);
  std::string kind_list;
  for (const std::string& k : kinds) kind_list += (kind_list.empty() ? "" : ", ") + k;

  std::string t = "bench-disk: " + r.path + ", first " + Size(r.bytes) + " of " +
                  Size(r.file_bytes) + "; GB/s = 1e9 bytes/s\n\n";
  t += "our reader (ExtentReader via " + kind_list + "), cold, " + Size(r.options.chunk_bytes) +
       " chunks, " + std::to_string(r.options.max_reads) + " in flight:\n";
  if (!r.best().fallback_reason.empty()) t += "  fallback: " + r.best().fallback_reason + "\n";
  t += "  queue depth";
  for (size_t block : r.options.block_bytes) t += Right(Size(block), 10);
  t += "\n";
  size_t i = 0;
  for (int qd : r.options.queue_depths) {
    t += "  " + Right(std::to_string(qd), 11);
    for (size_t b = 0; b < r.options.block_bytes.size(); ++b, ++i) {
      t += Right(Printf("%.2f", r.reader[i].gbps), 10);
    }
    t += "\n";
  }
  t += "  best: queue depth " + std::to_string(r.best().queue_depth) + " x " +
       Size(r.best().block_bytes) + " blocks: " + Printf("%.2f", r.best().gbps) + " GB/s\n\n";
  t += "buffered pread, " + Size(r.options.buffered_block_bytes) + " blocks: cold " +
       Printf("%.2f", r.buffered_cold_gbps) + " GB/s (" +
       Printf("%.1f", 100 * r.resident_before_cold) + " % of the range cached when it began), " +
       "warm (page cache, not the disk) " + Printf("%.2f", r.buffered_warm_gbps) + " GB/s\n\n";
  t += "disk best: " + Printf("%.2f", r.best_gbps()) + " GB/s, " + DiskSweepBestHow(r) + "\n";
  t += std::string("note: ") + kEvictionNote + "\n";
  return t;
}

nlohmann::json DiskSweepJson(const DiskSweepResult& r) {
  nlohmann::json configs = nlohmann::json::array();
  for (const ReaderSweepPoint& p : r.reader) configs.push_back(PointJson(p));
  return {{"file", r.path},
          {"file_bytes", r.file_bytes},
          {"bytes", r.bytes},
          {"reader",
           {{"chunk_bytes", r.options.chunk_bytes},
            {"max_reads", r.options.max_reads},
            {"configs", configs},
            {"best", PointJson(r.best())},
            {"fallback_reason", r.best().fallback_reason}}},
          {"buffered",
           {{"block_bytes", r.options.buffered_block_bytes},
            {"cold_gb_per_s", r.buffered_cold_gbps},
            {"warm_gb_per_s", r.buffered_warm_gbps},
            {"resident_before_cold", r.resident_before_cold}}},
          {"best",
           {{"gb_per_s", r.best_gbps()},
            {"source", r.best_is_reader() ? "reader" : "buffered_cold"},
            {"how", DiskSweepBestHow(r)}}},
          {"eviction_note", kEvictionNote}};
}

}  // namespace strata
