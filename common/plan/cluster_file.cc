// The cluster file reader (see cluster_file.h): one function per object of the schema.
#include "common/plan/cluster_file.h"

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "common/plan/json_lines.h"
#include "common/util/byte_size.h"
#include "common/util/file.h"

namespace strata {
namespace {

using Json = nlohmann::json;

class ClusterReader {
 public:
  ClusterReader(std::string_view text, std::string_view source)
      : source_(source), lines_(JsonMemberLines(text)) {}

  StatusOr<ClusterSpec> Read(const Json& root) {
    STRATA_RETURN_IF_ERROR(
        RequireObject(root, "", {"model", "workers", "workload", "link"}));
    ClusterSpec cluster;
    if (!root.contains("model")) return Error("", "the \"model\" object is missing");
    STRATA_RETURN_IF_ERROR(ReadModel(root["model"], cluster.model));
    if (root.contains("workload")) {
      STRATA_RETURN_IF_ERROR(ReadWorkload(root["workload"], cluster.workload));
    }
    if (root.contains("link")) {
      cluster.link.emplace();
      STRATA_RETURN_IF_ERROR(ReadLink(root["link"], *cluster.link));
    }
    if (!root.contains("workers")) return Error("", "the \"workers\" array is missing");
    const Json& workers = root["workers"];
    if (!workers.is_array() || workers.empty()) {
      return Error("workers", "must be a non-empty array of worker objects");
    }
    for (size_t w = 0; w < workers.size(); ++w) {
      WorkerSpec worker;
      STRATA_RETURN_IF_ERROR(
          ReadWorker(workers[w], "workers[" + std::to_string(w) + "]", worker));
      if (worker.name.empty()) worker.name = "worker-" + std::to_string(w);
      cluster.workers.push_back(std::move(worker));
    }
    return cluster;
  }

 private:
  Status ReadModel(const Json& j, ModelSpec& m) {
    STRATA_RETURN_IF_ERROR(RequireObject(j, "model",
                                         {"layers", "layer_bytes", "first_end_bytes",
                                          "last_end_bytes", "activation_bytes_per_token",
                                          "kv_bytes_per_token_per_layer"}));
    STRATA_RETURN_IF_ERROR(PositiveInt(j, "model", "layers", m.layers, true));
    STRATA_RETURN_IF_ERROR(Size(j, "model", "layer_bytes", m.layer_bytes, true));
    if (m.layer_bytes == 0) return Error("model.layer_bytes", "must be positive");
    STRATA_RETURN_IF_ERROR(Size(j, "model", "first_end_bytes", m.first_end_bytes, false));
    STRATA_RETURN_IF_ERROR(Size(j, "model", "last_end_bytes", m.last_end_bytes, false));
    STRATA_RETURN_IF_ERROR(
        Size(j, "model", "activation_bytes_per_token", m.activation_bytes_per_token, false));
    return Size(j, "model", "kv_bytes_per_token_per_layer", m.kv_bytes_per_token_per_layer,
                false);
  }

  Status ReadWorkload(const Json& j, WorkloadSpec& load) {
    STRATA_RETURN_IF_ERROR(
        RequireObject(j, "workload", {"prefill_chunk_tokens", "decode_batch", "kv_tokens"}));
    STRATA_RETURN_IF_ERROR(
        PositiveInt(j, "workload", "prefill_chunk_tokens", load.prefill_chunk_tokens, false));
    STRATA_RETURN_IF_ERROR(PositiveInt(j, "workload", "decode_batch", load.decode_batch, false));
    if (!j.contains("kv_tokens")) return OkStatus();
    const Json& v = j["kv_tokens"];
    if (!v.is_number_integer() || v.get<int64_t>() < 0) {
      return Error("workload.kv_tokens", "must be a non-negative integer, got " + v.dump());
    }
    load.kv_tokens = v.get<int64_t>();
    return OkStatus();
  }

  Status ReadLink(const Json& j, LinkSpec& link) {
    STRATA_RETURN_IF_ERROR(RequireObject(j, "link", {"gbps", "latency_ms"}));
    STRATA_RETURN_IF_ERROR(Number(j, "link", "gbps", link.gbps, true, false));
    return Number(j, "link", "latency_ms", link.latency_ms, false, true);
  }

  Status ReadWorker(const Json& j, const std::string& path, WorkerSpec& w) {
    STRATA_RETURN_IF_ERROR(RequireObject(j, path,
                                         {"name", "gpu_mem", "pinned_mem", "ssd_gbps",
                                          "h2d_gbps", "prefill_ms", "prefill_tokens",
                                          "decode_ms"}));
    if (j.contains("name")) {
      if (!j["name"].is_string()) return Error(path + ".name", "must be a string");
      w.name = j["name"].get<std::string>();
    }
    STRATA_RETURN_IF_ERROR(Size(j, path, "gpu_mem", w.gpu_mem, true));
    STRATA_RETURN_IF_ERROR(Size(j, path, "pinned_mem", w.pinned_mem, true));
    STRATA_RETURN_IF_ERROR(Number(j, path, "ssd_gbps", w.ssd_gbps, true, false));
    STRATA_RETURN_IF_ERROR(Number(j, path, "h2d_gbps", w.h2d_gbps, true, false));
    STRATA_RETURN_IF_ERROR(Number(j, path, "prefill_ms", w.prefill_ms, true, false));
    STRATA_RETURN_IF_ERROR(PositiveInt(j, path, "prefill_tokens", w.prefill_tokens, false));
    return Number(j, path, "decode_ms", w.decode_ms, true, false);
  }

  // `j` is an object whose members are all in `known` (a misspelt field is an error, not
  // a silently ignored one).
  Status RequireObject(const Json& j, const std::string& path,
                       std::initializer_list<std::string_view> known) {
    if (!j.is_object()) {
      return Error(path, "must be a JSON object, got " + std::string(j.type_name()));
    }
    const std::set<std::string_view> names(known);
    for (const auto& [key, value] : j.items()) {
      if (names.count(key) == 0) {
        std::string list;
        for (std::string_view n : known) list += (list.empty() ? "" : ", ") + std::string(n);
        return Error(Join(path, key), "unknown field; the known ones are " + list);
      }
    }
    return OkStatus();
  }

  // A number > 0 (or >= 0 with `zero_ok`).
  Status Number(const Json& j, const std::string& path, const char* key, double& out,
                bool required, bool zero_ok) {
    if (!j.contains(key)) return required ? Missing(path, key) : OkStatus();
    const Json& v = j[key];
    const double value = v.is_number() ? v.get<double>() : std::nan("");
    if (!std::isfinite(value) || value < 0 || (value == 0 && !zero_ok)) {
      return Error(Join(path, key),
                   std::string("must be a ") + (zero_ok ? "non-negative" : "positive") +
                       " number, got " + v.dump());
    }
    out = value;
    return OkStatus();
  }

  Status PositiveInt(const Json& j, const std::string& path, const char* key, int32_t& out,
                     bool required) {
    if (!j.contains(key)) return required ? Missing(path, key) : OkStatus();
    const Json& v = j[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 1 ||
        v.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      return Error(Join(path, key), "must be a positive integer, got " + v.dump());
    }
    out = static_cast<int32_t>(v.get<int64_t>());
    return OkStatus();
  }

  // Bytes: a non-negative integer, or a string with a binary unit ("14G", "512M").
  Status Size(const Json& j, const std::string& path, const char* key, size_t& out,
              bool required) {
    if (!j.contains(key)) return required ? Missing(path, key) : OkStatus();
    const Json& v = j[key];
    if (v.is_string()) {
      StatusOr<size_t> bytes = ParseByteSize(Join(path, key), v.get<std::string>());
      if (!bytes.ok()) return Error("", bytes.status().message(), Join(path, key));
      out = *bytes;
      return OkStatus();
    }
    if (!v.is_number_unsigned()) {
      return Error(Join(path, key), "must be a byte count (an integer, or a string such as "
                                    "\"14G\"), got " + v.dump());
    }
    out = v.get<size_t>();
    return OkStatus();
  }

  Status Missing(const std::string& path, const char* key) {
    return Error(path, std::string("the required field \"") + key + "\" is missing");
  }

  static std::string Join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

  // "<source>:<line>: <path>: <message>", the line of `path` (or of `line_of` if given).
  Status Error(const std::string& path, const std::string& message,
               const std::string& line_of = "") {
    const std::string at = line_of.empty() ? path : line_of;
    const auto it = lines_.find(at);
    const std::string line = it == lines_.end() ? "" : ":" + std::to_string(it->second);
    return InvalidArgument(source_ + line + ": " + (path.empty() ? "" : path + ": ") + message);
  }

  std::string source_;
  std::map<std::string, int> lines_;
};

}  // namespace

StatusOr<ClusterSpec> ParseClusterJson(std::string_view text, std::string_view source) {
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::parse_error& e) {
    const size_t offset = e.byte > 0 ? e.byte - 1 : 0;
    return InvalidArgument(std::string(source) + ":" + LineColumn(text, offset) +
                           ": not valid JSON (" + e.what() + ")");
  }
  STRATA_ASSIGN_OR_RETURN(ClusterSpec cluster, ClusterReader(text, source).Read(root));
  const Status valid = ValidateCluster(cluster);
  if (!valid.ok()) return valid.WithContext(source);
  return cluster;
}

StatusOr<ClusterSpec> LoadClusterFile(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseClusterJson(text, path);
}

}  // namespace strata
