// nlohmann::json to Value, and Python json.dumps; see json.h.
#include "common/jinja/json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/jinja/pystring.h"

namespace strata::jinja {

Value FromJson(const nlohmann::ordered_json& json) {
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::None();
    case nlohmann::ordered_json::value_t::boolean: return Value::Bool(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::Int(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      uint64_t u = json.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value::Int(static_cast<int64_t>(u));
      return Value::Float(static_cast<double>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value::Float(json.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::Str(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(FromJson(item));
      return Value::MakeList(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict dict;
      dict.entries.reserve(json.size());
      for (const auto& [key, value] : json.items()) {
        dict.entries.emplace_back(Value::Str(key), FromJson(value));
      }
      return Value::MakeDict(std::move(dict));
    }
    default: return Value::None();  // binary and discarded values do not come from parsing text
  }
}

namespace {

void AppendEscape(std::string& out, char32_t unit) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(unit));
  out += buf;
}

void AppendJsonString(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  for (size_t pos = 0; pos < s.size();) {
    size_t start = pos;
    char32_t cp = DecodeUtf8(s, pos);
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (cp < 0x20) {
      AppendEscape(out, cp);
    } else if (ensure_ascii && cp >= 0x80) {
      if (cp >= 0x10000) {
        AppendEscape(out, 0xD800 + ((cp - 0x10000) >> 10));
        AppendEscape(out, 0xDC00 + ((cp - 0x10000) & 0x3FF));
      } else {
        AppendEscape(out, cp);
      }
    } else {
      out += s.substr(start, pos - start);
    }
  }
  out += '"';
}

std::string FloatJson(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  return FloatRepr(d);
}

class Dumper {
 public:
  explicit Dumper(const JsonDumpOptions& options) : options_(options) {
    bool indented = options.indent.has_value();
    item_separator_ = options.separators ? options.separators->first : (indented ? "," : ", ");
    key_separator_ = options.separators ? options.separators->second : ": ";
  }

  Status Dump(const Value& v, int depth, std::string& out) {
    switch (v.kind()) {
      case Value::Kind::kNone: out += "null"; return OkStatus();
      case Value::Kind::kBool: out += v.boolean() ? "true" : "false"; return OkStatus();
      case Value::Kind::kInt: out += std::to_string(v.integer()); return OkStatus();
      case Value::Kind::kFloat: out += FloatJson(v.float_value()); return OkStatus();
      case Value::Kind::kString:
        AppendJsonString(out, v.str(), options_.ensure_ascii);
        return OkStatus();
      case Value::Kind::kList:
        if (v.is_iterator()) break;
        return DumpList(v.list().items, depth, out);
      case Value::Kind::kDict: return DumpDict(v.dict(), depth, out);
      default: break;
    }
    return TypeError("Object of type " + std::string(TypeName(v)) + " is not JSON serializable");
  }

 private:
  void NewLine(int depth, std::string& out) {
    if (!options_.indent) return;
    out += '\n';
    for (int i = 0; i < depth; ++i) out += *options_.indent;
  }

  Status DumpList(const std::vector<Value>& items, int depth, std::string& out) {
    if (items.empty()) {
      out += "[]";
      return OkStatus();
    }
    out += '[';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += item_separator_;
      NewLine(depth + 1, out);
      STRATA_RETURN_IF_ERROR(Dump(items[i], depth + 1, out));
    }
    NewLine(depth, out);
    out += ']';
    return OkStatus();
  }

  static StatusOr<std::string> KeyText(const Value& key) {
    switch (key.kind()) {
      case Value::Kind::kString: return key.str();
      case Value::Kind::kNone: return std::string("null");
      case Value::Kind::kBool: return std::string(key.boolean() ? "true" : "false");
      case Value::Kind::kInt: return std::to_string(key.integer());
      case Value::Kind::kFloat: return FloatJson(key.float_value());
      default:
        return TypeError("keys must be str, int, float, bool or None, not " +
                         std::string(TypeName(key)));
    }
  }

  Status DumpDict(const Dict& dict, int depth, std::string& out) {
    if (dict.entries.empty()) {
      out += "{}";
      return OkStatus();
    }
    std::vector<const std::pair<Value, Value>*> entries;
    for (const auto& entry : dict.entries) entries.push_back(&entry);
    if (options_.sort_keys) {
      Status error;
      std::stable_sort(entries.begin(), entries.end(), [&](const auto* a, const auto* b) {
        StatusOr<int> c = Compare(a->first, b->first);
        if (!c.ok()) error = c.status();
        return c.ok() && *c < 0;
      });
      STRATA_RETURN_IF_ERROR(error);
    }
    out += '{';
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) out += item_separator_;
      NewLine(depth + 1, out);
      STRATA_ASSIGN_OR_RETURN(std::string key, KeyText(entries[i]->first));
      AppendJsonString(out, key, options_.ensure_ascii);
      out += key_separator_;
      STRATA_RETURN_IF_ERROR(Dump(entries[i]->second, depth + 1, out));
    }
    NewLine(depth, out);
    out += '}';
    return OkStatus();
  }

  const JsonDumpOptions& options_;
  std::string item_separator_;
  std::string key_separator_;
};

}  // namespace

StatusOr<std::string> DumpJson(const Value& value, const JsonDumpOptions& options) {
  std::string out;
  STRATA_RETURN_IF_ERROR(Dumper(options).Dump(value, 0, out));
  return out;
}

}  // namespace strata::jinja
