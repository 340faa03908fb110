// The text a client sees of a generation, produced id by id: whole UTF-8 characters only
// (a character split across tokens waits for its last byte), special tokens skipped, and
// cut before the first stop string, found also when it spans tokens. Text that could be the
// start of a stop string is held back until the next id settles it, so a stream never sends
// what a stop string later takes back. The pieces returned, concatenated, equal the whole
// text (the same for streamed and non-streamed responses).
// Thread-safety: one instance per response.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/tokenizer/tokenizer.h"
#include "common/util/status.h"

namespace strata::coordinator {

class OutputText {
 public:
  OutputText(const Tokenizer& tokenizer, std::vector<std::string> stop);

  // Adds the next generated id; returns the text that became final (possibly empty).
  // Once stopped() nothing more is taken.
  StatusOr<std::string> Push(int32_t id);
  // The generation ended without a stop string: returns the text still held back.
  std::string Finish();
  // A stop string was found: the text ends before it.
  bool stopped() const { return stopped_; }
  // Ids pushed (the last is the one that completed a stop string, if any).
  int32_t ids() const { return ids_; }

 private:
  std::string Release();

  StreamDecoder decoder_;
  std::vector<std::string> stop_;
  std::string held_;  // decoded text not yet returned: a possible start of a stop string
  bool stopped_ = false;
  int32_t ids_ = 0;
};

}  // namespace strata::coordinator
