// Parses and validates a Hugging Face Llama config.json into ModelConfig, and writes it back
// in the same form. Thread-safety: pure functions.
#include "common/model/config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "common/util/file.h"

namespace strata {
namespace {

using Json = nlohmann::json;

constexpr int64_t kMaxSize = (int64_t{1} << 31) - 1;
constexpr char kLlamaArchitecture[] = "LlamaForCausalLM";

// A JSON value for an error message, cut short when long.
std::string Describe(const Json& value) {
  std::string s = value.dump();
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

// The field of `object`, or nullptr when it is absent or null.
const Json* Field(const Json& object, const std::string& field) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// Reads the fields of one config object; every error names the source and the field.
class ConfigReader {
 public:
  ConfigReader(const Json& object, const std::string& source) : object_(object), source_(source) {}

  const Json* Get(const std::string& field) const { return Field(object_, field); }

  Status Invalid(const std::string& field, const std::string& requirement) const {
    return InvalidArgument(source_ + ": field '" + field + "' " + requirement +
                           "; fix config.json (it should be the model's Hugging Face config)");
  }
  Status Missing(const std::string& field) const { return Invalid(field, "is missing"); }
  Status WrongValue(const std::string& field, const std::string& requirement,
                    const Json& value) const {
    return Invalid(field, "must be " + requirement + ", got " + Describe(value));
  }
  Status Unsupported(const std::string& what) const { return Unimplemented(source_ + ": " + what); }

  // An integer in [min, kMaxSize]; integral floats (8.0) are accepted.
  StatusOr<int64_t> Int(const std::string& field, const Json& value, int64_t min) const {
    const std::string requirement =
        min > 0 ? "a positive integer below 2^31" : "a non-negative integer below 2^31";
    std::optional<int64_t> v;
    if (value.is_number_unsigned()) {
      if (value.get<uint64_t>() <= static_cast<uint64_t>(kMaxSize)) {
        v = static_cast<int64_t>(value.get<uint64_t>());
      }
    } else if (value.is_number_integer()) {
      v = value.get<int64_t>();
    } else if (value.is_number_float()) {
      double d = value.get<double>();
      if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) <= static_cast<double>(kMaxSize)) {
        v = static_cast<int64_t>(d);
      }
    }
    if (!v || *v < min || *v > kMaxSize) return WrongValue(field, requirement, value);
    return *v;
  }

  StatusOr<int64_t> RequiredInt(const std::string& field) const {
    const Json* value = Get(field);
    if (value == nullptr) return Missing(field);
    return Int(field, *value, 1);
  }

  StatusOr<int64_t> OptionalInt(const std::string& field, int64_t default_value) const {
    const Json* value = Get(field);
    if (value == nullptr) return default_value;
    return Int(field, *value, 1);
  }

  // A finite number > 0.
  StatusOr<double> Positive(const std::string& field, const Json& value) const {
    if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() <= 0) {
      return WrongValue(field, "a positive number", value);
    }
    return value.get<double>();
  }

  StatusOr<double> PositiveNumber(const std::string& field,
                                  std::optional<double> default_value) const {
    const Json* value = Get(field);
    if (value == nullptr) {
      if (!default_value) return Missing(field);
      return *default_value;
    }
    return Positive(field, *value);
  }

  StatusOr<bool> Bool(const std::string& field, bool default_value) const {
    const Json* value = Get(field);
    if (value == nullptr) return default_value;
    if (!value->is_boolean()) return WrongValue(field, "true or false", *value);
    return value->get<bool>();
  }

  // A string field that, when present, must equal `expected` (else kUnimplemented).
  Status ExpectString(const std::string& field, const std::string& expected,
                      const std::string& unsupported_what) const {
    const Json* value = Get(field);
    if (value == nullptr) return OkStatus();
    if (!value->is_string()) return WrongValue(field, "a string", *value);
    if (value->get<std::string>() != expected) {
      return Unsupported(field + " \"" + value->get<std::string>() + "\" is not supported; " +
                         unsupported_what);
    }
    return OkStatus();
  }

  // A bool field that must not be true (else kUnimplemented).
  Status ExpectNotTrue(const std::string& field, const std::string& unsupported_what) const {
    STRATA_ASSIGN_OR_RETURN(bool value, Bool(field, false));
    if (value) return Unsupported(field + " is true; " + unsupported_what);
    return OkStatus();
  }

 private:
  const Json& object_;
  const std::string& source_;
};

Status ParseArchitecture(const ConfigReader& r, ModelConfig& c) {
  const Json* archs = r.Get("architectures");
  if (archs == nullptr) return r.Missing("architectures");
  if (!archs->is_array()) return r.WrongValue("architectures", "a list of strings", *archs);
  std::string found;
  for (const Json& a : *archs) {
    if (!a.is_string()) return r.WrongValue("architectures", "a list of strings", *archs);
    if (a.get<std::string>() == kLlamaArchitecture) {
      c.architecture = kLlamaArchitecture;
      return OkStatus();
    }
    found += (found.empty() ? "" : ", ") + a.get<std::string>();
  }
  return r.Unsupported("architectures [" + found + "] are not supported; Strata serves Llama 3.x " +
                       "models (" + kLlamaArchitecture + ")");
}

// The rope type and llama3 scaling fields of `rs`, an object named `name` in errors.
Status ParseRopeScalingObject(const ConfigReader& r, const Json& rs, const std::string& name,
                              ModelConfig& c) {
  const Json* type = Field(rs, "rope_type");
  std::string type_field = name + ".rope_type";
  if (type == nullptr) {
    type = Field(rs, "type");
    type_field = name + ".type";
  }
  if (type == nullptr) return r.Missing(name + ".rope_type");
  if (!type->is_string()) return r.WrongValue(type_field, "a string", *type);
  const std::string kind = type->get<std::string>();
  if (kind == "default") return OkStatus();
  if (kind != "llama3") {
    return r.Unsupported(name + " type \"" + kind +
                         "\" is not supported; Strata supports \"llama3\" and \"default\"");
  }
  RopeScaling s;
  s.type = RopeScaling::Type::kLlama3;
  const std::pair<const char*, double*> numbers[] = {{"factor", &s.factor},
                                                     {"low_freq_factor", &s.low_freq_factor},
                                                     {"high_freq_factor", &s.high_freq_factor}};
  for (const auto& [field, out] : numbers) {
    const std::string full = name + "." + field;
    const Json* v = Field(rs, field);
    if (v == nullptr) return r.Missing(full);
    STRATA_ASSIGN_OR_RETURN(*out, r.Positive(full, *v));
  }
  if (s.high_freq_factor <= s.low_freq_factor) {
    return r.Invalid(name + ".high_freq_factor", "must be greater than " + name +
                                                     ".low_freq_factor");
  }
  const Json* omax = Field(rs, "original_max_position_embeddings");
  if (omax == nullptr) return r.Missing(name + ".original_max_position_embeddings");
  STRATA_ASSIGN_OR_RETURN(s.original_max_position_embeddings,
                          r.Int(name + ".original_max_position_embeddings", *omax, 1));
  c.rope_scaling = s;
  return OkStatus();
}

// RoPE base and scaling. transformers >= 5 writes them together as `rope_parameters`
// {rope_type, rope_theta, factor, ...}; earlier versions write `rope_theta` at the top level
// and the scaling as `rope_scaling`. When both are present, `rope_parameters` wins.
Status ParseRope(const ConfigReader& r, ModelConfig& c) {
  c.rope_scaling = RopeScaling{};
  if (const Json* rp = r.Get("rope_parameters")) {
    if (!rp->is_object()) return r.WrongValue("rope_parameters", "an object or null", *rp);
    if (const Json* theta = Field(*rp, "rope_theta")) {
      STRATA_ASSIGN_OR_RETURN(c.rope_theta, r.Positive("rope_parameters.rope_theta", *theta));
    } else {
      STRATA_ASSIGN_OR_RETURN(c.rope_theta, r.PositiveNumber("rope_theta", 10000.0));
    }
    return ParseRopeScalingObject(r, *rp, "rope_parameters", c);
  }
  STRATA_ASSIGN_OR_RETURN(c.rope_theta, r.PositiveNumber("rope_theta", 10000.0));
  const Json* rs = r.Get("rope_scaling");
  if (rs == nullptr) return OkStatus();
  if (!rs->is_object()) return r.WrongValue("rope_scaling", "an object or null", *rs);
  return ParseRopeScalingObject(r, *rs, "rope_scaling", c);
}

Status ParseTokenIds(const ConfigReader& r, ModelConfig& c) {
  if (const Json* bos = r.Get("bos_token_id")) {
    STRATA_ASSIGN_OR_RETURN(c.bos_token_id, r.Int("bos_token_id", *bos, 0));
    if (c.bos_token_id >= c.vocab_size) {
      return r.Invalid("bos_token_id", "must be below vocab_size " + std::to_string(c.vocab_size));
    }
  }
  const Json* eos = r.Get("eos_token_id");
  if (eos == nullptr) return OkStatus();
  const std::string requirement = "a non-negative integer or a list of them";
  if (!eos->is_array() && !eos->is_number()) return r.WrongValue("eos_token_id", requirement, *eos);
  const Json list = eos->is_array() ? *eos : Json::array({*eos});
  for (const Json& id : list) {
    STRATA_ASSIGN_OR_RETURN(int64_t v, r.Int("eos_token_id", id, 0));
    if (v >= c.vocab_size) {
      return r.Invalid("eos_token_id", "must be below vocab_size " + std::to_string(c.vocab_size) +
                                           ", got " + std::to_string(v));
    }
    c.eos_token_ids.push_back(v);
  }
  return OkStatus();
}

Status ParseSizes(const ConfigReader& r, ModelConfig& c) {
  STRATA_ASSIGN_OR_RETURN(c.hidden_size, r.RequiredInt("hidden_size"));
  STRATA_ASSIGN_OR_RETURN(c.intermediate_size, r.RequiredInt("intermediate_size"));
  STRATA_ASSIGN_OR_RETURN(c.num_layers, r.RequiredInt("num_hidden_layers"));
  STRATA_ASSIGN_OR_RETURN(c.num_heads, r.RequiredInt("num_attention_heads"));
  STRATA_ASSIGN_OR_RETURN(c.num_kv_heads, r.OptionalInt("num_key_value_heads", c.num_heads));
  STRATA_ASSIGN_OR_RETURN(c.vocab_size, r.RequiredInt("vocab_size"));
  STRATA_ASSIGN_OR_RETURN(c.max_position_embeddings, r.RequiredInt("max_position_embeddings"));
  if (c.num_heads % c.num_kv_heads != 0) {
    return r.Invalid("num_key_value_heads", "must divide num_attention_heads (" +
                                                std::to_string(c.num_heads) + "), got " +
                                                std::to_string(c.num_kv_heads));
  }
  if (r.Get("head_dim") != nullptr) {
    STRATA_ASSIGN_OR_RETURN(c.head_dim, r.RequiredInt("head_dim"));
  } else {
    if (c.hidden_size % c.num_heads != 0) {
      return r.Invalid("num_attention_heads",
                       "must divide hidden_size (" + std::to_string(c.hidden_size) +
                           ") when head_dim is absent, got " + std::to_string(c.num_heads));
    }
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.q_dim() > kMaxSize) {
    return r.Invalid("head_dim", "times num_attention_heads must be below 2^31, got " +
                                     std::to_string(c.head_dim) + " x " +
                                     std::to_string(c.num_heads));
  }
  return OkStatus();
}

}  // namespace

StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text, const std::string& source) {
  const Json j = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument(source + ": not a JSON object; config.json should be the model's " +
                           "Hugging Face config (re-download it)");
  }
  ConfigReader r(j, source);
  ModelConfig c;
  STRATA_RETURN_IF_ERROR(ParseArchitecture(r, c));
  STRATA_RETURN_IF_ERROR(r.ExpectString("model_type", "llama", "Strata serves Llama 3.x models"));
  STRATA_RETURN_IF_ERROR(
      r.ExpectString("hidden_act", "silu", "Strata implements the SiLU MLP of Llama only"));
  STRATA_RETURN_IF_ERROR(
      r.ExpectNotTrue("attention_bias", "Strata implements Llama attention without biases"));
  STRATA_RETURN_IF_ERROR(
      r.ExpectNotTrue("mlp_bias", "Strata implements the Llama MLP without biases"));
  STRATA_RETURN_IF_ERROR(ParseSizes(r, c));
  STRATA_ASSIGN_OR_RETURN(c.rms_norm_eps, r.PositiveNumber("rms_norm_eps", std::nullopt));
  STRATA_RETURN_IF_ERROR(ParseRope(r, c));
  STRATA_ASSIGN_OR_RETURN(c.tie_word_embeddings, r.Bool("tie_word_embeddings", false));
  STRATA_RETURN_IF_ERROR(ParseTokenIds(r, c));
  return c;
}

StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseModelConfig(text, path);
}

std::string ModelConfigToJson(const ModelConfig& config) {
  Json j = Json::object();
  j["architectures"] = Json::array({config.architecture});
  j["model_type"] = "llama";
  j["hidden_act"] = "silu";
  j["hidden_size"] = config.hidden_size;
  j["intermediate_size"] = config.intermediate_size;
  j["num_hidden_layers"] = config.num_layers;
  j["num_attention_heads"] = config.num_heads;
  j["num_key_value_heads"] = config.num_kv_heads;
  j["head_dim"] = config.head_dim;
  j["vocab_size"] = config.vocab_size;
  j["max_position_embeddings"] = config.max_position_embeddings;
  j["rms_norm_eps"] = config.rms_norm_eps;
  j["rope_theta"] = config.rope_theta;
  if (config.rope_scaling.type == RopeScaling::Type::kLlama3) {
    const RopeScaling& s = config.rope_scaling;
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", s.factor},
                         {"low_freq_factor", s.low_freq_factor},
                         {"high_freq_factor", s.high_freq_factor},
                         {"original_max_position_embeddings", s.original_max_position_embeddings}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["tie_word_embeddings"] = config.tie_word_embeddings;
  j["bos_token_id"] = config.bos_token_id >= 0 ? Json(config.bos_token_id) : Json(nullptr);
  if (config.eos_token_ids.size() == 1) {
    j["eos_token_id"] = config.eos_token_ids[0];
  } else if (config.eos_token_ids.empty()) {
    j["eos_token_id"] = nullptr;
  } else {
    j["eos_token_id"] = config.eos_token_ids;
  }
  return j.dump(2);
}

}  // namespace strata
