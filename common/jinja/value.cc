// Value construction and the Python object protocol (truthiness, str, repr, ==, ordering,
// iteration); see value.h.
#include "common/jinja/value.h"

#include <cmath>

#include "common/jinja/pystring.h"

namespace strata::jinja {

const Value* Dict::Find(const Value& key) const {
  if (key.is_string()) return Find(std::string_view(key.str()));
  for (const auto& [k, v] : entries) {
    if (Equals(k, key)) return &v;
  }
  return nullptr;
}

const Value* Dict::Find(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k.is_string() && k.str() == key) return &v;
  }
  return nullptr;
}

void Dict::Set(Value key, Value value) {
  for (auto& [k, v] : entries) {
    if (Equals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

const Value* Namespace::Find(std::string_view name) const {
  for (const auto& [k, v] : attrs) {
    if (k == name) return &v;
  }
  return nullptr;
}

void Namespace::Set(std::string name, Value value) {
  for (auto& [k, v] : attrs) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  attrs.emplace_back(std::move(name), std::move(value));
}

Value Value::Undefined(std::string message) {
  return Value(Rep(UndefinedRep{std::make_shared<const std::string>(std::move(message))}));
}

Value Value::MakeList(std::vector<Value> items) {
  return Value(Rep(std::make_shared<const List>(List{std::move(items), false})));
}

Value Value::MakeTuple(std::vector<Value> items) {
  return Value(Rep(std::make_shared<const List>(List{std::move(items), true})));
}

Value Value::MakeIterator(std::vector<Value> items) {
  return Value(Rep(std::make_shared<const List>(List{std::move(items), false, true})));
}

Value Value::MakeDict(Dict dict) {
  return Value(Rep(std::make_shared<const Dict>(std::move(dict))));
}

Value Value::MakeNamespace(Namespace ns) {
  return Value(Rep(std::make_shared<Namespace>(std::move(ns))));
}

Value Value::MakeFunction(std::string name, NativeFunction fn) {
  return Value(Rep(std::make_shared<const Function>(Function{std::move(name), std::move(fn)})));
}

const std::string& Value::undefined_message() const {
  static const std::string kGeneric = "value is undefined";
  const auto& message = std::get<0>(rep_).message;
  return message ? *message : kGeneric;
}

bool Value::SameAs(const Value& other) const {
  if (kind() != other.kind()) return false;
  switch (kind()) {
    case Kind::kList: return std::get<6>(rep_) == std::get<6>(other.rep_);
    case Kind::kDict: return std::get<7>(rep_) == std::get<7>(other.rep_);
    case Kind::kNamespace: return std::get<8>(rep_) == std::get<8>(other.rep_);
    case Kind::kFunction: return std::get<9>(rep_) == std::get<9>(other.rep_);
    default: return Equals(*this, other);
  }
}

bool Truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: return false;
    case Value::Kind::kBool: return v.boolean();
    case Value::Kind::kInt: return v.integer() != 0;
    case Value::Kind::kFloat: return v.float_value() != 0;
    case Value::Kind::kString: return !v.str().empty();
    case Value::Kind::kList: return v.is_iterator() || !v.list().items.empty();
    case Value::Kind::kDict: return !v.dict().entries.empty();
    case Value::Kind::kNamespace:
    case Value::Kind::kFunction: return true;
  }
  return false;
}

std::string ToStr(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return "";
    case Value::Kind::kString: return v.str();
    default: return Repr(v);
  }
}

std::string Repr(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return "Undefined";
    case Value::Kind::kNone: return "None";
    case Value::Kind::kBool: return v.boolean() ? "True" : "False";
    case Value::Kind::kInt: return std::to_string(v.integer());
    case Value::Kind::kFloat: return FloatRepr(v.float_value());
    case Value::Kind::kString: return StrRepr(v.str());
    case Value::Kind::kList: {
      const List& list = v.list();
      if (list.is_iterator) return "<generator object>";
      std::string out = list.is_tuple ? "(" : "[";
      for (size_t i = 0; i < list.items.size(); ++i) {
        if (i > 0) out += ", ";
        out += Repr(list.items[i]);
      }
      if (list.is_tuple && list.items.size() == 1) out += ",";
      out += list.is_tuple ? ")" : "]";
      return out;
    }
    case Value::Kind::kDict: {
      std::string out = "{";
      bool first = true;
      for (const auto& [key, value] : v.dict().entries) {
        if (!first) out += ", ";
        first = false;
        out += Repr(key) + ": " + Repr(value);
      }
      return out + "}";
    }
    case Value::Kind::kNamespace: {
      std::string out = "<Namespace {";
      bool first = true;
      for (const auto& [key, value] : v.ns().attrs) {
        if (!first) out += ", ";
        first = false;
        out += StrRepr(key) + ": " + Repr(value);
      }
      return out + "}>";
    }
    case Value::Kind::kFunction: return "<function " + v.function().name + ">";
  }
  return "";
}

bool Equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.integer() == b.integer();
    return a.number() == b.number();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: return true;
    case Value::Kind::kString: return a.str() == b.str();
    case Value::Kind::kList: {
      const List& x = a.list();
      const List& y = b.list();
      if (x.is_iterator || y.is_iterator) return a.SameAs(b);
      if (x.is_tuple != y.is_tuple || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!Equals(x.items[i], y.items[i])) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      const Dict& x = a.dict();
      const Dict& y = b.dict();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [key, value] : x.entries) {
        const Value* other = y.Find(key);
        if (other == nullptr || !Equals(value, *other)) return false;
      }
      return true;
    }
    default: return a.SameAs(b);
  }
}

StatusOr<int> Compare(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) {
      return a.integer() < b.integer() ? -1 : a.integer() > b.integer() ? 1 : 0;
    }
    double x = a.number();
    double y = b.number();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.str().compare(b.str());  // byte order is code point order in UTF-8
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_sequence() && b.is_sequence() && a.is_tuple() == b.is_tuple()) {
    const auto& x = a.list().items;
    const auto& y = b.list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Equals(x[i], y[i])) continue;
      return Compare(x[i], y[i]);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  return TypeError("'<' not supported between instances of '" + std::string(TypeName(a)) +
                   "' and '" + std::string(TypeName(b)) + "'");
}

std::string_view TypeName(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return "Undefined";
    case Value::Kind::kNone: return "NoneType";
    case Value::Kind::kBool: return "bool";
    case Value::Kind::kInt: return "int";
    case Value::Kind::kFloat: return "float";
    case Value::Kind::kString: return "str";
    case Value::Kind::kList: return v.is_iterator() ? "generator" : v.is_tuple() ? "tuple" : "list";
    case Value::Kind::kDict: return "dict";
    case Value::Kind::kNamespace: return "Namespace";
    case Value::Kind::kFunction: return "function";
  }
  return "object";
}

Status UndefinedError(const Value& v) { return InvalidArgument(v.undefined_message()); }

Status TypeError(std::string message) { return InvalidArgument(std::move(message)); }

StatusOr<std::vector<Value>> Iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return std::vector<Value>{};
    case Value::Kind::kList: return v.list().items;
    case Value::Kind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.dict().entries.size());
      for (const auto& entry : v.dict().entries) keys.push_back(entry.first);
      return keys;
    }
    case Value::Kind::kString: {
      std::vector<Value> chars;
      std::vector<size_t> offsets = CodePointOffsets(v.str());
      for (size_t i = 0; i + 1 < offsets.size(); ++i) {
        chars.push_back(Value::Str(v.str().substr(offsets[i], offsets[i + 1] - offsets[i])));
      }
      return chars;
    }
    default: return TypeError("'" + std::string(TypeName(v)) + "' object is not iterable");
  }
}

}  // namespace strata::jinja
