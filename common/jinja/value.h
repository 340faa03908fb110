// Value: the dynamic type of the Jinja interpreter, modelled on the Python objects jinja2
// works with: None, bool, int (int64 here), float, str (UTF-8), list, tuple, dict
// (insertion-ordered), namespace, functions, and jinja2's default Undefined, which carries
// the message to report when it is misused. Lists, tuples and dicts are immutable once built
// (transformers renders in an immutable sandbox) and shared by pointer, so copies are cheap;
// a namespace is the one mutable object and, as in Python, is shared by reference.
// Thread-safety: a Value may be read from many threads; namespaces and functions are only
// created during a render and stay with that render's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/util/status.h"

namespace strata::jinja {

class Value;

// The arguments of a call: `f(a, b, key=c)`.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

using NativeFunction = std::function<StatusOr<Value>(CallArgs& args)>;

struct List {
  std::vector<Value> items;
  bool is_tuple = false;
  // What jinja2's lazy filters (map, select, unique, items, reverse, ...) return: a Python
  // generator, which is always true, has no length and cannot be indexed or serialized.
  bool is_iterator = false;
};

struct Dict {
  std::vector<std::pair<Value, Value>> entries;  // insertion order, keys unique

  const Value* Find(const Value& key) const;
  const Value* Find(std::string_view key) const;
  // Adds or replaces (keeping the first position, like a Python dict).
  void Set(Value key, Value value);
};

struct Namespace {
  std::vector<std::pair<std::string, Value>> attrs;

  const Value* Find(std::string_view name) const;
  void Set(std::string name, Value value);
};

struct Function {
  std::string name;  // for messages: "range", "macro 'm'", "str.upper"
  NativeFunction fn;
};

class Value {
 public:
  enum class Kind {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kNamespace,
    kFunction
  };

  Value() = default;  // undefined, with a generic message
  static Value Undefined(std::string message);
  static Value None() { return Value(Rep(std::in_place_index<1>)); }
  static Value Bool(bool b) { return Value(Rep(b)); }
  static Value Int(int64_t i) { return Value(Rep(i)); }
  static Value Float(double d) { return Value(Rep(d)); }
  static Value Str(std::string s) { return Value(Rep(std::move(s))); }
  static Value MakeList(std::vector<Value> items);
  static Value MakeTuple(std::vector<Value> items);
  static Value MakeIterator(std::vector<Value> items);
  static Value MakeDict(Dict dict);
  static Value MakeNamespace(Namespace ns);
  static Value MakeFunction(std::string name, NativeFunction fn);

  Kind kind() const { return static_cast<Kind>(rep_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_float() const { return kind() == Kind::kFloat; }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_list() const { return kind() == Kind::kList; }  // list or tuple
  bool is_dict() const { return kind() == Kind::kDict; }
  bool is_namespace() const { return kind() == Kind::kNamespace; }
  bool is_function() const { return kind() == Kind::kFunction; }
  bool is_tuple() const { return is_list() && list().is_tuple; }
  bool is_iterator() const { return is_list() && list().is_iterator; }
  // A list or tuple proper: indexable, with a length.
  bool is_sequence() const { return is_list() && !list().is_iterator; }
  // bool, int or float (Python's numbers.Number: bool is an int).
  bool is_number() const { return is_bool() || is_int() || is_float(); }
  // bool or int: usable as an index or an integer operand.
  bool is_integral() const { return is_bool() || is_int(); }

  bool boolean() const { return std::get<2>(rep_); }
  double float_value() const { return std::get<4>(rep_); }
  const std::string& str() const { return std::get<5>(rep_); }
  const List& list() const { return *std::get<6>(rep_); }
  const Dict& dict() const { return *std::get<7>(rep_); }
  Namespace& ns() const { return *std::get<8>(rep_); }
  const Function& function() const { return *std::get<9>(rep_); }
  // The message jinja2 raises when this undefined value is used.
  const std::string& undefined_message() const;

  // For is_integral(): the value as an int (True is 1).
  int64_t integer() const { return is_bool() ? (boolean() ? 1 : 0) : std::get<3>(rep_); }
  // For is_number(): the value as a double.
  double number() const { return is_float() ? float_value() : static_cast<double>(integer()); }

  // Same object (Python `is`) for reference types; equal value for the others.
  bool SameAs(const Value& other) const;

 private:
  struct UndefinedRep {
    std::shared_ptr<const std::string> message;
  };
  using Rep = std::variant<UndefinedRep, std::monostate, bool, int64_t, double, std::string,
                           std::shared_ptr<const List>, std::shared_ptr<const Dict>,
                           std::shared_ptr<Namespace>, std::shared_ptr<const Function>>;
  explicit Value(Rep rep) : rep_(std::move(rep)) {}
  Rep rep_;
};

// Python truthiness (undefined is false).
bool Truthy(const Value& v);
// Python str(): what `{{ v }}` prints (undefined prints as nothing).
std::string ToStr(const Value& v);
// Python repr(): how values print inside lists and dicts.
std::string Repr(const Value& v);
// Python ==.
bool Equals(const Value& a, const Value& b);
// Python ordering (<0, 0, >0) for numbers, strings, and lists/tuples of those; other pairs
// are the TypeError Python raises for `<`.
StatusOr<int> Compare(const Value& a, const Value& b);
// Python's type name: "str", "int", "NoneType", "dict", ...
std::string_view TypeName(const Value& v);
// The error jinja2 raises when an undefined value is used (printed or tested is fine; called,
// indexed or computed with is not).
Status UndefinedError(const Value& v);
// Python's TypeError/ValueError: a template error (kInvalidArgument) with this message.
Status TypeError(std::string message);

// The elements Python's iter(v) yields: list/tuple items, dict keys, the characters of a string;
// undefined iterates as empty. Other types are a TypeError.
StatusOr<std::vector<Value>> Iterate(const Value& v);

}  // namespace strata::jinja
