// PCRE2-backed regex for the tokenizer; see regex.h. Thread-safety: the compiled code is
// immutable and shared; match data is created per call.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "common/tokenizer/regex.h"

#include <pcre2.h>

#include <utility>

#include "common/tokenizer/utf8.h"

namespace strata::tokenizer_internal {
namespace {

struct MatchDataDeleter {
  void operator()(pcre2_match_data* md) const { pcre2_match_data_free(md); }
};
using MatchData = std::unique_ptr<pcre2_match_data, MatchDataDeleter>;

std::string Pcre2Message(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof(buffer)) < 0) {
    return "PCRE2 error " + std::to_string(code);
  }
  return reinterpret_cast<const char*>(buffer);
}

// The length of the character at `pos` (1 at the end of the text), as the onig crate steps
// past an empty match.
size_t CharLengthAt(std::string_view text, size_t pos) {
  return pos < text.size() ? DecodeUtf8(text.substr(pos)).length : 1;
}

// Runs one match of `code` in `text` (well-formed UTF-8) from `start`; returns PCRE2's result
// and, on a match, its [*begin, *end).
int MatchAt(const pcre2_code* code, pcre2_match_data* md, std::string_view text, size_t start,
            uint32_t options, size_t* begin, size_t* end) {
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  options |= PCRE2_NO_UTF_CHECK;
  int rc = pcre2_match(code, subject, text.size(), start, options, md, nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {  // the interpreter keeps its frames on the heap
    rc = pcre2_match(code, subject, text.size(), start, options | PCRE2_NO_JIT, md, nullptr);
  }
  if (rc >= 0) {
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(md);
    *begin = ovector[0];
    *end = ovector[1];
  }
  return rc;
}

MatchData NewMatchData() { return MatchData(pcre2_match_data_create(1, nullptr)); }

Status OutOfMemory() { return ResourceExhausted("out of memory for PCRE2 match data"); }

}  // namespace

void Regex::CodeDeleter::operator()(pcre2_real_code_8* code) const { pcre2_code_free(code); }

std::string RewriteWhitespaceEscapes(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] != '\\' || i + 1 == pattern.size()) {
      out.push_back(pattern[i++]);
      continue;
    }
    const char next = pattern[i + 1];
    if (next == 'Q') {  // \Q...\E is literal text: copy it through \E (or the end)
      const size_t end = pattern.find("\\E", i + 2);
      const size_t stop = end == std::string_view::npos ? pattern.size() : end + 2;
      out.append(pattern.substr(i, stop - i));
      i = stop;
      continue;
    }
    if (next == 's') {
      out.append("\\p{White_Space}");
    } else if (next == 'S') {
      out.append("\\P{White_Space}");
    } else {
      out.append(pattern.substr(i, 2));
    }
    i += 2;
  }
  return out;
}

StatusOr<Regex> Regex::Compile(std::string_view pattern, bool literal) {
  const std::string source = literal ? std::string(pattern) : RewriteWhitespaceEscapes(pattern);
  const uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);  // LITERAL bars UCP
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                                   options, &error, &error_offset, nullptr);
  if (code == nullptr) {
    std::string where = " at offset " + std::to_string(error_offset);
    if (source != pattern) where += " of its PCRE2 form \"" + source + "\"";
    return InvalidArgument("PCRE2 cannot compile the regex \"" + std::string(pattern) +
                           "\": " + Pcre2Message(error) + where);
  }
  // Where JIT is unavailable or fails, pcre2_match runs the interpreter.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  Regex regex;
  regex.code_.reset(code);
  return regex;
}

Status Regex::SplitIsolated(std::string_view text, const PieceSink& sink) const {
  size_t search_from = 0;  // the onig crate's `last_end`
  size_t emitted = 0;      // end of what has been sent to `sink`
  bool skip_next_empty = false;
  MatchData md = NewMatchData();
  if (md == nullptr) return OutOfMemory();
  while (search_from <= text.size()) {
    size_t begin = 0;
    size_t end = 0;
    const int rc = MatchAt(code_.get(), md.get(), text, search_from, 0, &begin, &end);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      return ResourceExhausted("the pre-tokenizer regex failed at byte " +
                               std::to_string(search_from) + " of a " +
                               std::to_string(text.size()) + "-byte text: " + Pcre2Message(rc));
    }
    search_from = end;
    if (begin == end) {
      search_from += CharLengthAt(text, end);
      if (std::exchange(skip_next_empty, false)) continue;
    } else {
      skip_next_empty = true;
    }
    if (begin > emitted) STRATA_RETURN_IF_ERROR(sink(text.substr(emitted, begin - emitted)));
    if (end > begin) STRATA_RETURN_IF_ERROR(sink(text.substr(begin, end - begin)));
    emitted = end;
  }
  if (emitted < text.size()) STRATA_RETURN_IF_ERROR(sink(text.substr(emitted)));
  return OkStatus();
}

StatusOr<bool> Regex::MatchesPrefix(std::string_view text) const {
  size_t begin = 0;
  size_t end = 0;
  MatchData md = NewMatchData();
  if (md == nullptr) return OutOfMemory();
  const int rc = MatchAt(code_.get(), md.get(), text, 0, PCRE2_ANCHORED, &begin, &end);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) return ResourceExhausted("a tokenizer regex failed: " + Pcre2Message(rc));
  return true;
}

}  // namespace strata::tokenizer_internal
