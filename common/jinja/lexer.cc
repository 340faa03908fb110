// The Jinja lexer; see lexer.h. It follows jinja2's lexer rule by rule: text up to the next
// tag, whitespace control on both sides, then the tokens inside the tag, where `}}` and `%}`
// only close the tag outside brackets.
#include "common/jinja/lexer.h"

#include <algorithm>
#include <charconv>

#include "common/jinja/pystring.h"

namespace strata::jinja {

SourceMap::SourceMap(std::string_view source) : source_(source) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\n') line_starts_.push_back(static_cast<uint32_t>(i + 1));
  }
}

std::string SourceMap::Where(uint32_t offset) const {
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  size_t line = static_cast<size_t>(it - line_starts_.begin());
  uint32_t start = line_starts_[line - 1];
  size_t end = std::min<size_t>(offset, source_.size());
  size_t column = CodePointCount(source_.substr(start, end - start)) + 1;
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

Status ErrorAt(const SourceMap& map, uint32_t offset, std::string_view message) {
  return InvalidArgument(map.Where(offset) + ": " + std::string(message));
}

std::string NormalizeSource(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  Lexer(std::string_view src, const SourceMap& map) : src_(src), map_(map) {}

  StatusOr<std::vector<Token>> Run() {
    while (pos_ < src_.size()) {
      size_t tag = FindTagStart(pos_);
      if (tag == std::string_view::npos) {
        EmitText(src_.substr(pos_), pos_);
        break;
      }
      char type = src_[tag + 1];
      size_t after = tag + 2;
      char sign = 0;
      if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
      size_t raw_end = type == '%' ? MatchRawBegin(after) : 0;
      EmitText(ControlLeft(src_.substr(pos_, tag - pos_), sign, type != '{'), pos_);
      if (raw_end != 0) {
        STRATA_RETURN_IF_ERROR(LexRaw(tag, raw_end));
      } else if (type == '#') {
        STRATA_RETURN_IF_ERROR(LexComment(tag, after));
      } else {
        STRATA_RETURN_IF_ERROR(LexTag(tag, after, type == '%'));
      }
    }
    tokens_.push_back(Token{TokenKind::kEnd, static_cast<uint32_t>(src_.size()), "", 0, 0});
    return std::move(tokens_);
  }

 private:
  size_t FindTagStart(size_t from) const {
    for (size_t p = src_.find('{', from); p != std::string_view::npos; p = src_.find('{', p + 1)) {
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) {
        return p;
      }
    }
    return std::string_view::npos;
  }

  // Python's \s* from `p`.
  size_t SkipSpace(size_t p) const {
    while (p < src_.size()) {
      size_t next = p;
      if (!IsPySpace(DecodeUtf8(src_, next))) break;
      p = next;
    }
    return p;
  }

  bool At(size_t p, std::string_view s) const {
    return p <= src_.size() && src_.substr(p, s.size()) == s;
  }

  // The end of a `{% raw %}` tag whose sign has been read up to `p`, or 0.
  size_t MatchRawBegin(size_t p) const {
    p = SkipSpace(p);
    if (!At(p, "raw")) return 0;
    p = SkipSpace(p + 3);
    if (At(p, "-%}")) return SkipSpace(p + 3);
    if (At(p, "%}")) return p + 2;
    return 0;
  }

  // Whitespace control for the text before a tag: `-` strips all whitespace; otherwise, before
  // a block or comment tag (lstrip_blocks), whitespace back to the start of the line goes.
  std::string_view ControlLeft(std::string_view text, char sign, bool lstrip) const {
    if (sign == '-') return Strip(text, StripSide::kRight);
    if (sign == '+' || !lstrip) return text;
    size_t line_start = text.rfind('\n');
    line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
    if (line_start == 0 && !line_starting_) return text;
    std::string_view tail = text.substr(line_start);
    return Strip(tail, StripSide::kRight).empty() ? text.substr(0, line_start) : text;
  }

  // The end of a closing `%}`/`#}` at `p` given the character before it: `-` eats following
  // whitespace, `+` keeps it, and otherwise trim_blocks eats one newline.
  size_t CloseEnd(size_t p, char sign) const {
    if (sign == '-') return SkipSpace(p);
    if (sign != '+' && p < src_.size() && src_[p] == '\n') return p + 1;
    return p;
  }

  void Finish(size_t end) {
    line_starting_ = end > 0 && src_[end - 1] == '\n';
    pos_ = end;
  }

  void EmitText(std::string_view text, size_t offset) {
    if (!text.empty()) {
      tokens_.push_back(
          Token{TokenKind::kText, static_cast<uint32_t>(offset), std::string(text), 0, 0});
    }
  }

  void Emit(TokenKind kind, size_t offset, std::string text = {}) {
    tokens_.push_back(Token{kind, static_cast<uint32_t>(offset), std::move(text), 0, 0});
  }

  Status LexRaw(size_t tag, size_t body_start) {
    line_starting_ = src_[body_start - 1] == '\n';
    for (size_t p = src_.find("{%", body_start); p != std::string_view::npos;
         p = src_.find("{%", p + 1)) {
      size_t q = p + 2;
      char sign = 0;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) sign = src_[q++];
      q = SkipSpace(q);
      if (!At(q, "endraw")) continue;
      q = SkipSpace(q + 6);
      size_t end;
      if (At(q, "+%}")) {
        end = q + 3;
      } else if (At(q, "-%}")) {
        end = SkipSpace(q + 3);
      } else if (At(q, "%}")) {
        end = CloseEnd(q + 2, 0);
      } else {
        continue;
      }
      EmitText(ControlLeft(src_.substr(body_start, p - body_start), sign, true), body_start);
      Finish(end);
      return OkStatus();
    }
    return ErrorAt(map_, static_cast<uint32_t>(tag), "missing {% endraw %} for this {% raw %}");
  }

  Status LexComment(size_t tag, size_t content) {
    size_t close = src_.find("#}", content);
    if (close == std::string_view::npos) {
      return ErrorAt(map_, static_cast<uint32_t>(tag), "unterminated comment (missing '#}')");
    }
    char sign = close > content ? src_[close - 1] : 0;
    Finish(CloseEnd(close + 2, sign));
    return OkStatus();
  }

  Status LexTag(size_t tag, size_t p, bool block) {
    Emit(block ? TokenKind::kBlockBegin : TokenKind::kPrintBegin, tag);
    std::vector<char> brackets;  // the closers still expected
    while (true) {
      if (brackets.empty()) {
        size_t end = 0;
        if (block && At(p, "+%}")) {
          end = p + 3;
        } else if (At(p, block ? "-%}" : "-}}")) {
          end = SkipSpace(p + 3);
        } else if (At(p, block ? "%}" : "}}")) {
          end = block ? CloseEnd(p + 2, 0) : p + 2;
        }
        if (end != 0) {
          Emit(block ? TokenKind::kBlockEnd : TokenKind::kPrintEnd, p);
          Finish(end);
          return OkStatus();
        }
      }
      size_t after_space = SkipSpace(p);
      if (after_space != p) {
        p = after_space;
        continue;
      }
      if (p >= src_.size()) {
        return ErrorAt(
            map_, static_cast<uint32_t>(tag),
            block ? "unterminated tag (missing '%}')" : "unterminated tag (missing '}}')");
      }
      char c = src_[p];
      if (IsDigit(c)) {
        STRATA_ASSIGN_OR_RETURN(p, LexNumber(p));
      } else if (IsNameStart(c)) {
        size_t end = p;
        while (end < src_.size() && IsNameChar(src_[end])) ++end;
        Emit(TokenKind::kName, p, std::string(src_.substr(p, end - p)));
        p = end;
      } else if (c == '\'' || c == '"') {
        STRATA_ASSIGN_OR_RETURN(p, LexString(p));
      } else {
        STRATA_ASSIGN_OR_RETURN(p, LexOperator(p, brackets));
      }
    }
  }

  // (\d+_)*\d+ from `p`; returns `p` when there is no digit.
  size_t Digits(size_t p) const {
    if (p >= src_.size() || !IsDigit(src_[p])) return p;
    while (true) {
      while (p < src_.size() && IsDigit(src_[p])) ++p;
      if (p + 1 < src_.size() && src_[p] == '_' && IsDigit(src_[p + 1])) {
        ++p;
        continue;
      }
      return p;
    }
  }

  StatusOr<size_t> LexNumber(size_t p) {
    size_t int_end = Digits(p);
    if (p == 0 || src_[p - 1] != '.') {
      size_t frac_end = int_end;
      if (frac_end + 1 < src_.size() && src_[frac_end] == '.' && IsDigit(src_[frac_end + 1])) {
        frac_end = Digits(frac_end + 1);
      }
      size_t exp_end = frac_end;
      if (exp_end < src_.size() && (src_[exp_end] == 'e' || src_[exp_end] == 'E')) {
        size_t q = exp_end + 1;
        if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
        if (q < src_.size() && IsDigit(src_[q])) exp_end = Digits(q);
      }
      if (exp_end > int_end) {
        std::string text = WithoutUnderscores(p, exp_end);
        Token token{TokenKind::kFloat, static_cast<uint32_t>(p), text, 0, 0};
        std::from_chars(text.data(), text.data() + text.size(), token.float_value);
        tokens_.push_back(std::move(token));
        return exp_end;
      }
    }
    // 0b.., 0o.., 0x.. (with single `_` separators), else decimal; "0" may only repeat.
    int base = 10;
    size_t start = p;
    size_t end = 0;
    if (src_[p] == '0' && p + 1 < src_.size()) {
      char prefix = static_cast<char>(src_[p + 1] | 0x20);
      int prefix_base = prefix == 'x' ? 16 : prefix == 'o' ? 8 : prefix == 'b' ? 2 : 0;
      size_t q = p + 2;
      while (prefix_base != 0) {
        size_t r = q + (q < src_.size() && src_[q] == '_' ? 1 : 0);
        int digit = r < src_.size() ? HexDigit(src_[r]) : -1;
        if (digit < 0 || digit >= prefix_base) break;
        q = r + 1;
      }
      if (prefix_base != 0 && q > p + 2) {
        base = prefix_base;
        start = p + 2;
        end = q;
      }
    }
    if (end == 0 && src_[p] == '0') {
      end = p + 1;
      while (true) {
        size_t r = end + (end < src_.size() && src_[end] == '_' ? 1 : 0);
        if (r >= src_.size() || src_[r] != '0') break;
        end = r + 1;
      }
    } else if (end == 0) {
      end = int_end;
    }
    std::string digits = WithoutUnderscores(start, end);
    Token token{TokenKind::kInt, static_cast<uint32_t>(p), std::string(src_.substr(p, end - p)), 0,
                0};
    auto result =
        std::from_chars(digits.data(), digits.data() + digits.size(), token.int_value, base);
    if (result.ec != std::errc()) {
      return ErrorAt(map_, static_cast<uint32_t>(p), "integer literal does not fit in 64 bits");
    }
    tokens_.push_back(std::move(token));
    return end;
  }

  std::string WithoutUnderscores(size_t begin, size_t end) const {
    std::string out;
    for (size_t i = begin; i < end; ++i) {
      if (src_[i] != '_') out += src_[i];
    }
    return out;
  }

  StatusOr<size_t> LexString(size_t p) {
    char quote = src_[p];
    size_t q = p + 1;
    while (q < src_.size() && src_[q] != quote) q += src_[q] == '\\' ? 2 : 1;
    if (q >= src_.size()) return ErrorAt(map_, static_cast<uint32_t>(p), "unterminated string");
    std::string value;
    STRATA_RETURN_IF_ERROR(DecodeEscapes(p + 1, q, value));
    Emit(TokenKind::kString, p, std::move(value));
    return q + 1;
  }

  // Python's "unicode-escape" decoding of a string literal's body [begin, end).
  Status DecodeEscapes(size_t begin, size_t end, std::string& out) const {
    std::string_view s = src_.substr(0, end);
    char32_t pending_high = 0;  // a \uD8xx waiting for its low surrogate
    for (size_t i = begin; i < end;) {
      if (s[i] != '\\' || i + 1 >= end) {
        if (pending_high != 0) break;
        out += s[i++];
        continue;
      }
      char e = s[i + 1];
      size_t esc = i;
      i += 2;
      char32_t cp;
      switch (e) {
        case '\n': continue;
        case '\\': cp = '\\'; break;
        case '\'': cp = '\''; break;
        case '"': cp = '"'; break;
        case 'a': cp = 7; break;
        case 'b': cp = 8; break;
        case 'f': cp = 12; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'v': cp = 11; break;
        case 'x':
        case 'u':
        case 'U': {
          int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          cp = 0;
          for (int k = 0; k < digits; ++k, ++i) {
            int d = i < end ? HexDigit(s[i]) : -1;
            if (d < 0)
              return ErrorAt(map_, static_cast<uint32_t>(esc),
                             "truncated \\" + std::string(1, e) + " escape");
            cp = cp * 16 + static_cast<char32_t>(d);
          }
          if (cp > 0x10FFFF)
            return ErrorAt(map_, static_cast<uint32_t>(esc), "illegal Unicode character");
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            cp = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && i < end && s[i] >= '0' && s[i] <= '7'; ++k)
              cp = cp * 8 + static_cast<char32_t>(s[i++] - '0');
            break;
          }
          if (e == 'N')
            return ErrorAt(map_, static_cast<uint32_t>(esc), "\\N{...} escapes are not supported");
          out += '\\';  // unknown escapes stay as written
          i = esc + 1;
          continue;
      }
      if (pending_high != 0) {
        if (cp < 0xDC00 || cp > 0xDFFF) break;
        cp = 0x10000 + ((pending_high - 0xD800) << 10) + (cp - 0xDC00);
        pending_high = 0;
      } else if (cp >= 0xD800 && cp <= 0xDBFF) {
        pending_high = cp;
        continue;
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return ErrorAt(map_, static_cast<uint32_t>(esc), "lone surrogate in string literal");
      }
      AppendUtf8(out, cp);
    }
    if (pending_high != 0) {
      return ErrorAt(map_, static_cast<uint32_t>(begin), "lone surrogate in string literal");
    }
    return OkStatus();
  }

  StatusOr<size_t> LexOperator(size_t p, std::vector<char>& brackets) {
    static constexpr std::string_view kTwoChar[] = {"**", "//", "==", "!=", "<=", ">="};
    for (std::string_view op : kTwoChar) {
      if (At(p, op)) {
        Emit(TokenKind::kOperator, p, std::string(op));
        return p + 2;
      }
    }
    char c = src_[p];
    if (std::string_view("+-/*%~[](){}<>=.:|,;").find(c) == std::string_view::npos) {
      size_t next = p;
      std::string ch;
      AppendUtf8(ch, DecodeUtf8(src_, next));
      return ErrorAt(map_, static_cast<uint32_t>(p), "unexpected character '" + ch + "'");
    }
    if (c == '(' || c == '[' || c == '{') {
      brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty())
        return ErrorAt(map_, static_cast<uint32_t>(p), std::string("unexpected '") + c + "'");
      if (brackets.back() != c) {
        return ErrorAt(map_, static_cast<uint32_t>(p),
                       std::string("unexpected '") + c + "', expected '" + brackets.back() + "'");
      }
      brackets.pop_back();
    }
    Emit(TokenKind::kOperator, p, std::string(1, c));
    return p + 1;
  }

  std::string_view src_;
  const SourceMap& map_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

StatusOr<std::vector<Token>> Lex(std::string_view source, const SourceMap& map) {
  return Lexer(source, map).Run();
}

}  // namespace strata::jinja
