// Sandboxed attribute, item and slice access; see attributes.h. Methods live in methods.cc.
#include "common/jinja/attributes.h"

#include "common/jinja/pystring.h"

namespace strata::jinja {
namespace {

// jinja2's object_type_repr: "dict object", "None".
std::string ObjectTypeRepr(const Value& obj) {
  if (obj.is_none()) return "None";
  return std::string(TypeName(obj)) + " object";
}

Value MissingAttribute(const Value& obj, std::string_view name) {
  return Value::Undefined(StrRepr(ObjectTypeRepr(obj)) + " has no attribute " + StrRepr(name));
}

Value MissingItem(const Value& obj, const Value& key) {
  if (key.is_string()) return MissingAttribute(obj, key.str());
  return Value::Undefined(ObjectTypeRepr(obj) + " has no element " + Repr(key));
}

// Python's slice index normalization; returns the selected indexes.
StatusOr<std::vector<size_t>> SliceIndexes(size_t size, const Value& start_v, const Value& stop_v,
                                           const Value& step_v) {
  for (const Value* v : {&start_v, &stop_v, &step_v}) {
    if (!v->is_none() && !v->is_integral()) {
      return TypeError("slice indices must be integers or None");
    }
  }
  int64_t len = static_cast<int64_t>(size);
  int64_t step = step_v.is_none() ? 1 : step_v.integer();
  if (step == 0) return TypeError("slice step cannot be zero");
  auto adjust = [&](const Value& v, int64_t if_none, int64_t low, int64_t high) {
    if (v.is_none()) return if_none;
    int64_t i = v.integer();
    if (i < 0) i += len;
    return i < low ? low : i > high ? high : i;
  };
  std::vector<size_t> indexes;
  if (step > 0) {
    int64_t start = adjust(start_v, 0, 0, len);
    int64_t stop = adjust(stop_v, len, 0, len);
    for (int64_t i = start; i < stop; i += step) indexes.push_back(static_cast<size_t>(i));
  } else {
    int64_t start = adjust(start_v, len - 1, -1, len - 1);
    int64_t stop = adjust(stop_v, -1, -1, len - 1);
    for (int64_t i = start; i > stop; i += step) indexes.push_back(static_cast<size_t>(i));
  }
  return indexes;
}

}  // namespace

StatusOr<Value> GetAttr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) return UndefinedError(obj);
  if (std::optional<Value> method = BoundMethod(obj, name)) return *method;
  if (obj.is_namespace()) {
    const Value* v = obj.ns().Find(name);
    return v ? *v : MissingAttribute(obj, name);
  }
  if (obj.is_dict()) {
    const Value* v = obj.dict().Find(std::string_view(name));
    return v ? *v : MissingAttribute(obj, name);
  }
  return MissingAttribute(obj, name);
}

StatusOr<Value> GetItem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return UndefinedError(obj);
  if (obj.is_dict()) {
    if (const Value* v = obj.dict().Find(key)) return *v;
  } else if ((obj.is_sequence() || obj.is_string()) && key.is_integral()) {
    bool is_string = obj.is_string();
    std::vector<size_t> offsets;
    if (is_string) offsets = CodePointOffsets(obj.str());
    int64_t size = static_cast<int64_t>(is_string ? offsets.size() - 1 : obj.list().items.size());
    int64_t i = key.integer();
    if (i < 0) i += size;
    if (i < 0 || i >= size) return MissingItem(obj, key);
    size_t at = static_cast<size_t>(i);
    if (!is_string) return obj.list().items[at];
    return Value::Str(obj.str().substr(offsets[at], offsets[at + 1] - offsets[at]));
  }
  if (key.is_string()) {
    if (std::optional<Value> method = BoundMethod(obj, key.str())) return *method;
    if (obj.is_namespace()) {
      if (const Value* v = obj.ns().Find(key.str())) return *v;
    }
  }
  return MissingItem(obj, key);
}

// Slices bypass jinja2's sandboxed getitem (they are plain Python subscripts), so slicing
// what cannot be sliced is an error rather than an undefined value.
StatusOr<Value> GetSlice(const Value& obj, const Value& start, const Value& stop,
                         const Value& step) {
  if (obj.is_string()) {
    std::vector<size_t> offsets = CodePointOffsets(obj.str());
    STRATA_ASSIGN_OR_RETURN(std::vector<size_t> picked,
                            SliceIndexes(offsets.size() - 1, start, stop, step));
    std::string out;
    for (size_t i : picked) out += obj.str().substr(offsets[i], offsets[i + 1] - offsets[i]);
    return Value::Str(std::move(out));
  }
  if (obj.is_sequence()) {
    const auto& items = obj.list().items;
    STRATA_ASSIGN_OR_RETURN(std::vector<size_t> picked,
                            SliceIndexes(items.size(), start, stop, step));
    std::vector<Value> out;
    out.reserve(picked.size());
    for (size_t i : picked) out.push_back(items[i]);
    return obj.is_tuple() ? Value::MakeTuple(std::move(out)) : Value::MakeList(std::move(out));
  }
  if (obj.is_undefined()) return UndefinedError(obj);
  if (obj.is_dict()) return TypeError("unhashable type: 'slice'");
  return TypeError("'" + std::string(TypeName(obj)) + "' object is not subscriptable");
}

StatusOr<Value> GetAttributePath(const Value& obj, std::string_view path) {
  Value current = obj;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string_view part =
        path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    std::optional<int64_t> index;
    if (!part.empty() && part.find_first_not_of("0123456789") == std::string_view::npos)
      index = ParseInt(part);
    STRATA_ASSIGN_OR_RETURN(
        current, GetItem(current, index ? Value::Int(*index) : Value::Str(std::string(part))));
    if (dot == std::string_view::npos) return current;
    start = dot + 1;
  }
}

}  // namespace strata::jinja
