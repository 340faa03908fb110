// ParseHfQuantization: reads config.json's quantization_config field by field, refusing what
// Strata does not load. Thread-safety: pure functions.
#include "common/model/config_quantization.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <set>

#include "common/model/llama_weights.h"

namespace strata {
namespace {

using Json = nlohmann::json;

constexpr char kSupported[] =
    "Strata loads 4-bit AWQ checkpoints (quant_method \"awq\", version \"gemm\", zero_point "
    "true) and 4-bit GPTQ checkpoints (quant_method \"gptq\", checkpoint_format \"gptq\" or "
    "\"gptq_v2\", desc_act and sym either way), or unquantised ones";
constexpr std::string_view kGptqV1 = "gptq";
constexpr std::string_view kGptqV2 = "gptq_v2";

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Field lookups in the quantization_config object; errors name the source and the field.
class QuantReader {
 public:
  QuantReader(const Json& object, const std::string& source) : object_(object), source_(source) {}

  const Json* Get(const std::string& field) const {
    auto it = object_.find(field);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  Status Invalid(const std::string& field, const std::string& requirement,
                 const Json& value) const {
    std::string got = value.dump();
    if (got.size() > 80) got = got.substr(0, 77) + "...";
    return InvalidArgument(source_ + ": quantization_config." + field + " must be " + requirement +
                           ", got " + got + "; fix config.json");
  }
  Status Unsupported(const std::string& what) const {
    return Unimplemented(source_ + ": quantization_config " + what + " is not supported; " +
                         kSupported);
  }
  StatusOr<std::string> String(const std::string& field, const std::string& default_value) const {
    const Json* v = Get(field);
    if (v == nullptr) return default_value;
    if (!v->is_string()) return Invalid(field, "a string", *v);
    return v->get<std::string>();
  }
  StatusOr<bool> Bool(const std::string& field, bool default_value) const {
    const Json* v = Get(field);
    if (v == nullptr) return default_value;
    if (!v->is_boolean()) return Invalid(field, "true or false", *v);
    return v->get<bool>();
  }
  StatusOr<int64_t> Int(const std::string& field) const {
    const Json* v = Get(field);
    if (v == nullptr) return InvalidArgument(source_ + ": quantization_config." + field +
                                             " is missing; fix config.json");
    if (!v->is_number_integer()) return Invalid(field, "an integer", *v);
    return v->get<int64_t>();
  }

 private:
  const Json& object_;
  const std::string& source_;
};

Status CheckBits(const QuantReader& r) {
  STRATA_ASSIGN_OR_RETURN(const int64_t bits, r.Int("bits"));
  if (bits != kHfQuantBits) return r.Unsupported("bits " + std::to_string(bits));
  return OkStatus();
}

// -1, or a positive even divisor of every projection's input size.
StatusOr<int64_t> GroupSize(const QuantReader& r, const ModelConfig& c) {
  STRATA_ASSIGN_OR_RETURN(const int64_t g, r.Int("group_size"));
  if (g == kHfGroupPerRow) return g;
  const Json value(g);
  if (g <= 0 || g % 2 != 0) return r.Invalid("group_size", "-1 or a positive even integer", value);
  for (const int64_t cols : {c.hidden_size, c.q_dim(), c.intermediate_size}) {
    if (cols % g != 0) {
      return r.Invalid("group_size",
                       "a divisor of every projection's input size (hidden_size " +
                           std::to_string(c.hidden_size) + ", heads x head_dim " +
                           std::to_string(c.q_dim()) + ", intermediate_size " +
                           std::to_string(c.intermediate_size) + ")",
                       value);
    }
  }
  return g;
}

// Refuses module lists that leave a projection unquantised: `modules_to_not_convert` entries
// are matched as transformers does, as substrings of the module's full name.
Status CheckNotConverted(const QuantReader& r, const ModelConfig& c) {
  const Json* list = r.Get("modules_to_not_convert");
  if (list == nullptr) return OkStatus();
  if (!list->is_array()) return r.Invalid("modules_to_not_convert", "a list of names", *list);
  for (const Json& entry : *list) {
    if (!entry.is_string()) return r.Invalid("modules_to_not_convert", "a list of names", *list);
    const std::string name = entry.get<std::string>();
    for (int64_t i = 0; i < c.num_layers; ++i) {
      for (const HfProjection& p : kHfProjections) {
        const std::string module = "model.layers." + std::to_string(i) + "." + std::string(p.module);
        if (module.find(name) != std::string::npos) {
          return r.Unsupported("modules_to_not_convert entry \"" + name + "\" (it leaves " +
                               module + " unquantised; Strata needs every projection in 4 bits)");
        }
      }
    }
  }
  return OkStatus();
}

// GPTQ's modules_in_block_to_quantize, when given, must name all seven projections.
Status CheckModulesInBlock(const QuantReader& r) {
  const Json* blocks = r.Get("modules_in_block_to_quantize");
  if (blocks == nullptr) return OkStatus();
  const std::string requirement = "a list of lists of module names";
  if (!blocks->is_array()) return r.Invalid("modules_in_block_to_quantize", requirement, *blocks);
  std::set<std::string> named;
  for (const Json& block : *blocks) {
    if (!block.is_array()) return r.Invalid("modules_in_block_to_quantize", requirement, *blocks);
    for (const Json& m : block) {
      if (!m.is_string()) return r.Invalid("modules_in_block_to_quantize", requirement, *blocks);
      named.insert(m.get<std::string>());
    }
  }
  for (const HfProjection& p : kHfProjections) {
    if (named.count(std::string(p.module)) == 0) {
      return r.Unsupported("modules_in_block_to_quantize without \"" + std::string(p.module) +
                           "\" (Strata needs every projection in 4 bits)");
    }
  }
  return OkStatus();
}

StatusOr<HfQuantization> ParseAwq(const QuantReader& r, const ModelConfig& c) {
  HfQuantization q;
  q.method = HfQuantization::Method::kAwq;
  STRATA_RETURN_IF_ERROR(CheckBits(r));
  STRATA_ASSIGN_OR_RETURN(q.group_size, GroupSize(r, c));
  STRATA_ASSIGN_OR_RETURN(const std::string version, r.String("version", "gemm"));
  if (Lower(version) != "gemm") {
    return r.Unsupported("AWQ version \"" + version + "\" (its packing differs from gemm's)");
  }
  STRATA_ASSIGN_OR_RETURN(const std::string backend, r.String("backend", "autoawq"));
  if (backend != "autoawq") return r.Unsupported("AWQ backend \"" + backend + "\"");
  STRATA_ASSIGN_OR_RETURN(const bool zero_point, r.Bool("zero_point", true));
  if (!zero_point) return r.Unsupported("AWQ zero_point false");
  STRATA_RETURN_IF_ERROR(CheckNotConverted(r, c));
  return q;
}

StatusOr<HfQuantization> ParseGptq(const QuantReader& r, const ModelConfig& c) {
  HfQuantization q;
  q.method = HfQuantization::Method::kGptq;
  STRATA_RETURN_IF_ERROR(CheckBits(r));
  STRATA_ASSIGN_OR_RETURN(q.group_size, GroupSize(r, c));
  STRATA_ASSIGN_OR_RETURN(q.desc_act, r.Bool("desc_act", false));
  STRATA_ASSIGN_OR_RETURN(q.sym, r.Bool("sym", true));
  // GPTQModel also writes the format as "format"; when both are given they must agree.
  STRATA_ASSIGN_OR_RETURN(const std::string format, r.String("checkpoint_format", ""));
  STRATA_ASSIGN_OR_RETURN(const std::string alias, r.String("format", ""));
  if (!format.empty() && !alias.empty() && format != alias) {
    return r.Invalid("format", "the same as checkpoint_format \"" + format + "\"", Json(alias));
  }
  const std::string chosen = !format.empty() ? format : !alias.empty() ? alias : std::string(kGptqV1);
  if (chosen != kGptqV1 && chosen != kGptqV2) {
    return r.Unsupported("GPTQ checkpoint_format \"" + chosen + "\"");
  }
  q.zero_offset = chosen == kGptqV1 ? 1 : 0;
  STRATA_ASSIGN_OR_RETURN(const bool marlin, r.Bool("is_marlin_format", false));
  if (marlin) return r.Unsupported("is_marlin_format true (the Marlin layout)");
  STRATA_ASSIGN_OR_RETURN(const std::string pack_dtype, r.String("pack_dtype", "int32"));
  if (pack_dtype != "int32") return r.Unsupported("pack_dtype \"" + pack_dtype + "\"");
  STRATA_ASSIGN_OR_RETURN(const bool lm_head, r.Bool("lm_head", false));
  if (lm_head) return r.Unsupported("lm_head true (a quantised LM head)");
  if (const Json* dynamic = r.Get("dynamic"); dynamic != nullptr && !dynamic->empty()) {
    return r.Unsupported("dynamic (per-module overrides of bits or group size)");
  }
  STRATA_RETURN_IF_ERROR(CheckModulesInBlock(r));
  STRATA_RETURN_IF_ERROR(CheckNotConverted(r, c));
  return q;
}

}  // namespace

std::string_view HfQuantMethodName(HfQuantization::Method method) {
  switch (method) {
    case HfQuantization::Method::kNone: return "none";
    case HfQuantization::Method::kAwq: return "awq";
    case HfQuantization::Method::kGptq: return "gptq";
  }
  return "?";
}

std::string DescribeHfQuantization(const HfQuantization& q) {
  if (!q.quantized()) return "unquantised";
  std::string s = q.method == HfQuantization::Method::kAwq ? "AWQ" : "GPTQ";
  s += " 4-bit, ";
  s += q.group_size == kHfGroupPerRow ? "one group per row" : "group " + std::to_string(q.group_size);
  if (q.method == HfQuantization::Method::kGptq) {
    s += q.desc_act ? ", act-order" : "";
    s += q.sym ? ", symmetric" : ", asymmetric";
    s += q.zero_offset == 1 ? ", gptq zeros (stored minus one)" : ", gptq_v2 zeros";
  }
  return s;
}

StatusOr<HfQuantization> ParseHfQuantization(std::string_view json_text, const std::string& source,
                                             const ModelConfig& config) {
  const Json j = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument(source + ": not a JSON object; fix config.json");
  }
  auto it = j.find("quantization_config");
  if (it == j.end() || it->is_null()) return HfQuantization{};
  if (!it->is_object()) {
    return InvalidArgument(source + ": quantization_config must be an object, got " +
                           it->dump().substr(0, 80) + "; fix config.json");
  }
  const QuantReader r(*it, source);
  const Json* method = r.Get("quant_method");
  if (method == nullptr) {
    return InvalidArgument(source + ": quantization_config.quant_method is missing; fix " +
                           "config.json");
  }
  if (!method->is_string()) return r.Invalid("quant_method", "a string", *method);
  const std::string name = Lower(method->get<std::string>());
  if (name == HfQuantMethodName(HfQuantization::Method::kAwq)) return ParseAwq(r, config);
  if (name == HfQuantMethodName(HfQuantization::Method::kGptq)) return ParseGptq(r, config);
  return r.Unsupported("quant_method \"" + method->get<std::string>() + "\"");
}

}  // namespace strata
