// Flat (open-addressing, linear-probing) hash tables for the BPE model: the vocabulary
// (token string <-> id) and the merge table (pair of ids -> rank and merged id). Flat tables
// keep the ~128k tokens and ~280k merges of a Llama 3 tokenizer in a few contiguous arrays, so
// loading and encoding touch far fewer cache lines than node-based maps.
// Private to the tokenizer. Thread-safety: immutable after building; lookups may run
// concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::tokenizer_internal {

class Vocabulary {
 public:
  // Sizes the index for `count` tokens (it still grows past that when needed).
  void Reserve(size_t count);
  enum class AddResult { kAdded, kIdTaken, kTokenTaken };
  AddResult Add(std::string_view token, int32_t id);

  std::optional<int32_t> Find(std::string_view token) const;
  // The token with `id`; nullptr when there is none.
  const std::string* Token(int32_t id) const;
  // The largest id + 1.
  int32_t id_limit() const { return static_cast<int32_t>(tokens_.size()); }

 private:
  struct Slot {
    uint32_t tag;  // high bits of the token's hash, to skip most string compares
    int32_t id;    // -1: empty
  };
  void Rehash(size_t capacity);
  size_t FindSlot(std::string_view token, size_t hash) const;  // the match or the empty slot

  std::vector<std::string> tokens_;  // by id
  std::vector<bool> has_token_;      // by id
  std::vector<Slot> slots_;          // power-of-two size
  size_t size_ = 0;
};

class MergeTable {
 public:
  struct Merge {
    uint32_t rank;
    int32_t new_id;
  };
  void Reserve(size_t count);
  // Sets the merge of (left, right), replacing an earlier one.
  void Set(int32_t left, int32_t right, Merge merge);
  const Merge* Find(int32_t left, int32_t right) const;

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // never a key: ids are below 2^31
  struct Slot {
    uint64_t key;
    Merge merge;
  };
  static uint64_t Key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  void Rehash(size_t capacity);
  size_t FindSlot(uint64_t key) const;  // the key's slot or the empty slot where it would go

  std::vector<Slot> slots_;  // power-of-two size
  size_t size_ = 0;
};

}  // namespace strata::tokenizer_internal
