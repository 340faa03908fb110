// Python string semantics on UTF-8 text: code-point indexing, Unicode whitespace as
// str.isspace() sees it, strip/split/splitlines/replace, case mapping (Latin, Greek and
// Cyrillic letters; other scripts count as uncased), repr() of str and float, and
// int()/float() parsing.
// Invalid UTF-8 bytes count as one code point each. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::jinja {

// Appends the UTF-8 encoding of `cp`.
void AppendUtf8(std::string& out, char32_t cp);
// Decodes the code point at `pos` and advances `pos` past it.
char32_t DecodeUtf8(std::string_view s, size_t& pos);
// Byte offsets of each code point start, plus s.size() at the end.
std::vector<size_t> CodePointOffsets(std::string_view s);
size_t CodePointCount(std::string_view s);

// str.isspace() for one code point (also what Python's regex \s matches).
bool IsPySpace(char32_t cp);
// Python's regex \w for one code point: letters and digits (approximated by script blocks for
// the letters without case: CJK, kana, Hangul, Arabic, Hebrew, Indic, Thai) and `_`.
bool IsWordChar(char32_t cp);

enum class StripSide { kLeft, kRight, kBoth };
// str.strip()/lstrip()/rstrip(): Unicode whitespace, or the code points in `chars`.
std::string_view Strip(std::string_view s, StripSide side);
std::string_view StripChars(std::string_view s, std::string_view chars, StripSide side);

// str.split(): on runs of whitespace, at most `maxsplit` times (-1: no limit).
std::vector<std::string> SplitWhitespace(std::string_view s, int64_t maxsplit);
// str.split(sep, maxsplit); sep must not be empty.
std::vector<std::string> SplitOn(std::string_view s, std::string_view sep, int64_t maxsplit);
// str.splitlines() without keepends.
std::vector<std::string> SplitLines(std::string_view s);
// str.replace(old, new, count); count < 0 replaces all.
std::string Replace(std::string_view s, std::string_view old, std::string_view replacement,
                    int64_t count);

std::string ToUpper(std::string_view s);
std::string ToLower(std::string_view s);
// str.capitalize() and str.title().
std::string Capitalize(std::string_view s);
std::string TitleCase(std::string_view s);
// Whether any character has case (for str.islower()/isupper()).
bool HasCased(std::string_view s);

// repr() of a str: quoted with ' (or " when the text has ' and no "), with escapes.
std::string StrRepr(std::string_view s);
// repr() of a float: shortest round-trip digits, "1.0", "1e-05", "1e+16", "inf", "nan".
std::string FloatRepr(double d);

// int(s) and float(s) for a str: surrounding whitespace, sign and `_` digit separators
// allowed; nullopt where Python raises ValueError (or the int does not fit in int64).
std::optional<int64_t> ParseInt(std::string_view s);
std::optional<double> ParseFloat(std::string_view s);

}  // namespace strata::jinja
