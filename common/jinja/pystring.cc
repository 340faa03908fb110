// Python str semantics on UTF-8; see pystring.h.
#include "common/jinja/pystring.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace strata::jinja {
namespace {

// Simple (one code point) case mappings for Latin-1, Latin Extended-A, Greek and Cyrillic;
// other scripts are treated as uncased.
char32_t UpperOf(char32_t cp) {
  if ((cp >= 'a' && cp <= 'z') || (cp >= 0xE0 && cp <= 0xFE && cp != 0xF7)) return cp - 0x20;
  if (cp == 0xFF) return 0x178;
  if (cp == 0xB5) return 0x39C;
  if (cp == 0x131) return 'I';
  if (cp == 0x17F) return 'S';
  if ((cp >= 0x100 && cp <= 0x12F) || (cp >= 0x132 && cp <= 0x137) ||
      (cp >= 0x14A && cp <= 0x177)) {
    return cp % 2 == 1 ? cp - 1 : cp;
  }
  if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
    return cp % 2 == 0 ? cp - 1 : cp;
  if (cp == 0x3C2) return 0x3A3;
  if ((cp >= 0x3B1 && cp <= 0x3CB) || (cp >= 0x430 && cp <= 0x44F)) return cp - 0x20;
  if (cp == 0x3AC) return 0x386;
  if (cp >= 0x3AD && cp <= 0x3AF) return cp - 37;
  if (cp == 0x3CC) return 0x38C;
  if (cp == 0x3CD || cp == 0x3CE) return cp - 63;
  if (cp >= 0x450 && cp <= 0x45F) return cp - 0x50;
  return cp;
}

char32_t LowerOf(char32_t cp) {
  if ((cp >= 'A' && cp <= 'Z') || (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)) return cp + 0x20;
  if (cp == 0x178) return 0xFF;
  if ((cp >= 0x100 && cp <= 0x12F) || (cp >= 0x132 && cp <= 0x137) ||
      (cp >= 0x14A && cp <= 0x177)) {
    return cp % 2 == 0 ? cp + 1 : cp;
  }
  if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
    return cp % 2 == 1 ? cp + 1 : cp;
  if ((cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) || (cp >= 0x410 && cp <= 0x42F)) return cp + 0x20;
  if (cp == 0x386) return 0x3AC;
  if (cp >= 0x388 && cp <= 0x38A) return cp + 37;
  if (cp == 0x38C) return 0x3CC;
  if (cp == 0x38E || cp == 0x38F) return cp + 63;
  if (cp >= 0x400 && cp <= 0x40F) return cp + 0x50;
  return cp;
}

bool IsCased(char32_t cp) {
  return UpperOf(cp) != cp || LowerOf(cp) != cp || cp == 0xDF || cp == 0x130;
}

// Appends cp upper- or lowercased, with Python's two expansions in these ranges.
void AppendCased(std::string& out, char32_t cp, bool upper) {
  if (upper && cp == 0xDF) {
    out += "SS";
  } else if (!upper && cp == 0x130) {
    out += "i\xCC\x87";  // i + COMBINING DOT ABOVE
  } else {
    AppendUtf8(out, upper ? UpperOf(cp) : LowerOf(cp));
  }
}

// Maps each code point; `upper_at(index, cp, previous_cased)` picks the case (nullopt keeps it).
template <typename Pick>
std::string MapCase(std::string_view s, Pick upper_at) {
  std::string out;
  out.reserve(s.size());
  bool previous_cased = false;
  for (size_t pos = 0, i = 0; pos < s.size(); ++i) {
    size_t start = pos;
    char32_t cp = DecodeUtf8(s, pos);
    std::optional<bool> upper = upper_at(i, cp, previous_cased);
    if (upper && (pos - start > 1 || cp < 0x80)) {
      AppendCased(out, cp, *upper);
    } else {
      out += s.substr(start, pos - start);  // kept as is (or an invalid byte)
    }
    previous_cased = IsCased(cp);
  }
  return out;
}

bool IsLineBreak(char32_t cp) {
  return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D ||
         cp == 0x1E || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

// Printable for repr(): everything but controls, separators other than the space, format
// characters, private-use code points and non-characters (the common cases of Python's
// str.isprintable()).
bool IsPrintable(char32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return false;
  if (cp == 0xA0 || cp == 0xAD || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200F)) return false;
  if ((cp >= 0x2028 && cp <= 0x202F) || (cp >= 0x205F && cp <= 0x2064)) return false;
  if (cp == 0x3000 || cp == 0xFEFF || (cp >= 0xD800 && cp <= 0xF8FF)) return false;
  if (cp >= 0xFFF9 && cp <= 0xFFFB) return false;
  if ((cp & 0xFFFE) == 0xFFFE || (cp >= 0xFDD0 && cp <= 0xFDEF)) return false;
  return cp < 0xF0000;
}

std::string HexEscape(char prefix, char32_t cp, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "\\%c%0*x", prefix, digits, static_cast<unsigned>(cp));
  return buf;
}

// Removes `_` separators that sit between two digits; nullopt for any other `_`.
std::optional<std::string> RemoveDigitSeparators(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '_') {
      out += s[i];
      continue;
    }
    bool digit_before = i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9';
    bool digit_after = i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9';
    if (!digit_before || !digit_after) return std::nullopt;
  }
  return out;
}

}  // namespace

void AppendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

char32_t DecodeUtf8(std::string_view s, size_t& pos) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char b0 = byte(pos);
  int len = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
  if (len <= 1 || pos + len > s.size()) {
    ++pos;
    return b0;  // ASCII, or an invalid byte standing for itself
  }
  char32_t cp = b0 & (0x7F >> len);
  for (int i = 1; i < len; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) {
      ++pos;
      return b0;
    }
    cp = (cp << 6) | (byte(pos + i) & 0x3F);
  }
  pos += len;
  return cp;
}

std::vector<size_t> CodePointOffsets(std::string_view s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  for (size_t pos = 0; pos < s.size();) {
    offsets.push_back(pos);
    DecodeUtf8(s, pos);
  }
  offsets.push_back(s.size());
  return offsets;
}

size_t CodePointCount(std::string_view s) {
  size_t n = 0;
  for (size_t pos = 0; pos < s.size(); ++n) DecodeUtf8(s, pos);
  return n;
}

bool IsPySpace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool IsWordChar(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
           cp == '_';
  }
  if (IsCased(cp) || cp == 0xAA || cp == 0xBA) return true;
  struct Range {
    char32_t first, last;
  };
  static constexpr Range kUncasedLetters[] = {
      {0x05D0, 0x05EA}, {0x0620, 0x064A}, {0x0660, 0x0669},   {0x0900, 0x0DFF}, {0x0E01, 0x0E30},
      {0x0E40, 0x0E46}, {0x0E50, 0x0E59}, {0x1100, 0x11FF},   {0x3041, 0x3096}, {0x30A1, 0x30FA},
      {0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},   {0xF900, 0xFAFF}, {0xFF10, 0xFF19},
      {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x20000, 0x2FA1F},
  };
  for (const Range& r : kUncasedLetters) {
    if (cp >= r.first && cp <= r.last) return true;
  }
  return false;
}

namespace {

template <typename Pred>
std::string_view StripIf(std::string_view s, StripSide side, Pred strip) {
  std::vector<size_t> offsets = CodePointOffsets(s);
  size_t first = 0;
  size_t last = offsets.size() - 1;  // exclusive, in code points
  auto cp_at = [&](size_t i) {
    size_t pos = offsets[i];
    return DecodeUtf8(s, pos);
  };
  if (side != StripSide::kRight) {
    while (first < last && strip(cp_at(first))) ++first;
  }
  if (side != StripSide::kLeft) {
    while (last > first && strip(cp_at(last - 1))) --last;
  }
  return s.substr(offsets[first], offsets[last] - offsets[first]);
}

}  // namespace

std::string_view Strip(std::string_view s, StripSide side) { return StripIf(s, side, IsPySpace); }

std::string_view StripChars(std::string_view s, std::string_view chars, StripSide side) {
  std::vector<char32_t> set;
  for (size_t pos = 0; pos < chars.size();) set.push_back(DecodeUtf8(chars, pos));
  return StripIf(s, side, [&](char32_t cp) {
    for (char32_t c : set) {
      if (c == cp) return true;
    }
    return false;
  });
}

std::vector<std::string> SplitWhitespace(std::string_view s, int64_t maxsplit) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    // Skip leading whitespace.
    size_t word = pos;
    while (word < s.size()) {
      size_t next = word;
      if (!IsPySpace(DecodeUtf8(s, next))) break;
      word = next;
    }
    if (word >= s.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      // The rest, with trailing whitespace removed, is the last part.
      parts.emplace_back(Strip(s.substr(word), StripSide::kRight));
      break;
    }
    size_t end = word;
    while (end < s.size()) {
      size_t next = end;
      if (IsPySpace(DecodeUtf8(s, next))) break;
      end = next;
    }
    parts.emplace_back(s.substr(word, end - word));
    pos = end;
  }
  return parts;
}

std::vector<std::string> SplitOn(std::string_view s, std::string_view sep, int64_t maxsplit) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
    size_t hit = s.find(sep, start);
    if (hit == std::string_view::npos) break;
    parts.emplace_back(s.substr(start, hit - start));
    start = hit + sep.size();
  }
  parts.emplace_back(s.substr(start));
  return parts;
}

std::vector<std::string> SplitLines(std::string_view s) {
  std::vector<std::string> lines;
  size_t start = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t here = pos;
    char32_t cp = DecodeUtf8(s, pos);
    if (!IsLineBreak(cp)) continue;
    lines.emplace_back(s.substr(start, here - start));
    if (cp == '\r' && pos < s.size() && s[pos] == '\n') ++pos;
    start = pos;
  }
  if (start < s.size()) lines.emplace_back(s.substr(start));
  return lines;
}

std::string Replace(std::string_view s, std::string_view old, std::string_view replacement,
                    int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement before every code point and at the end.
    std::vector<size_t> offsets = CodePointOffsets(s);
    for (size_t i = 0; i < offsets.size(); ++i) {
      if (count < 0 || static_cast<int64_t>(i) < count) out += replacement;
      if (i + 1 < offsets.size()) out += s.substr(offsets[i], offsets[i + 1] - offsets[i]);
    }
    return out;
  }
  size_t start = 0;
  for (int64_t n = 0; count < 0 || n < count; ++n) {
    size_t hit = s.find(old, start);
    if (hit == std::string_view::npos) break;
    out += s.substr(start, hit - start);
    out += replacement;
    start = hit + old.size();
  }
  out += s.substr(start);
  return out;
}

std::string ToUpper(std::string_view s) {
  return MapCase(s, [](size_t, char32_t, bool) { return std::optional<bool>(true); });
}

std::string ToLower(std::string_view s) {
  return MapCase(s, [](size_t, char32_t, bool) { return std::optional<bool>(false); });
}

std::string Capitalize(std::string_view s) {
  return MapCase(s, [](size_t i, char32_t, bool) { return std::optional<bool>(i == 0); });
}

std::string TitleCase(std::string_view s) {
  return MapCase(s, [](size_t, char32_t, bool previous_cased) {
    return std::optional<bool>(!previous_cased);
  });
}

bool HasCased(std::string_view s) {
  for (size_t pos = 0; pos < s.size();) {
    if (IsCased(DecodeUtf8(s, pos))) return true;
  }
  return false;
}

std::string StrRepr(std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (size_t pos = 0; pos < s.size();) {
    size_t start = pos;
    char32_t cp = DecodeUtf8(s, pos);
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (pos - start == 1 && cp >= 0x80) {
      out += HexEscape('x', cp, 2);  // an invalid UTF-8 byte
    } else if (IsPrintable(cp)) {
      out += s.substr(start, pos - start);
    } else if (cp < 0x100) {
      out += HexEscape('x', cp, 2);
    } else if (cp < 0x10000) {
      out += HexEscape('u', cp, 4);
    } else {
      out += HexEscape('U', cp, 8);
    }
  }
  out += quote;
  return out;
}

std::string FloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits in scientific form, "d.ddde[+-]xx".
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(result.ptr - buf));
  std::string out;
  if (sci[0] == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits += c;
  }
  int exponent = std::atoi(std::string(sci.substr(e + 1)).c_str());
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0.";
      out.append(static_cast<size_t>(-exponent - 1), '0');
      out += digits;
    } else {
      size_t int_digits = static_cast<size_t>(exponent) + 1;
      if (digits.size() <= int_digits) {
        out += digits;
        out.append(int_digits - digits.size(), '0');
        out += ".0";
      } else {
        out += digits.substr(0, int_digits);
        out += '.';
        out += digits.substr(int_digits);
      }
    }
    return out;
  }
  out += digits[0];
  if (digits.size() > 1) {
    out += '.';
    out += digits.substr(1);
  }
  char exp_buf[16];
  std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  out += exp_buf;
  return out;
}

std::optional<int64_t> ParseInt(std::string_view s) {
  std::optional<std::string> text = RemoveDigitSeparators(Strip(s, StripSide::kBoth));
  if (!text || text->empty()) return std::nullopt;
  std::string_view digits = *text;
  bool negative = false;
  if (digits[0] == '+' || digits[0] == '-') {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty()) return std::nullopt;
  uint64_t magnitude = 0;
  auto result = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude);
  if (result.ec != std::errc() || result.ptr != digits.data() + digits.size()) return std::nullopt;
  if (magnitude > static_cast<uint64_t>(INT64_MAX) + (negative ? 1 : 0)) return std::nullopt;
  return negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
}

std::optional<double> ParseFloat(std::string_view s) {
  std::optional<std::string> text = RemoveDigitSeparators(Strip(s, StripSide::kBoth));
  if (!text || text->empty()) return std::nullopt;
  std::string lower = ToLower(*text);
  std::string_view body = lower;
  bool negative = false;
  if (body[0] == '+' || body[0] == '-') {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body.empty() || body[0] == '+' || body[0] == '-') return std::nullopt;
  double value = 0;
  if (body == "inf" || body == "infinity") {
    value = HUGE_VAL;
  } else if (body == "nan") {
    value = std::nan("");
  } else {
    // Python accepts digits with an optional fraction and exponent, nothing else (no hex).
    for (char c : body) {
      if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == '+' || c == '-'))
        return std::nullopt;
    }
    auto result = std::from_chars(body.data(), body.data() + body.size(), value);
    if (result.ec == std::errc::invalid_argument || result.ptr != body.data() + body.size()) {
      return std::nullopt;
    }
    if (result.ec == std::errc::result_out_of_range)
      value = std::strtod(std::string(body).c_str(), nullptr);
  }
  return negative ? -value : value;
}

}  // namespace strata::jinja
