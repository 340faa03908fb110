// Flat hash tables of the BPE model; see vocabulary.h. Tables keep a load factor of at most
// 3/4 and a power-of-two size. Thread-safety: immutable after building.
#include "common/tokenizer/vocabulary.h"

#include <algorithm>
#include <bit>
#include <functional>

namespace strata::tokenizer_internal {
namespace {

// The power-of-two slot count that keeps `count` entries at most 3/4 full (at least 16).
size_t CapacityFor(size_t count) {
  return std::bit_ceil(std::max<size_t>(16, count + count / 3 + 1));
}

bool TooFull(size_t size, size_t capacity) { return (size + 1) * 4 > capacity * 3; }

size_t HashString(std::string_view s) { return std::hash<std::string_view>()(s); }

uint32_t Tag(size_t hash) { return static_cast<uint32_t>(hash >> 32) | 1; }

// Fibonacci hashing spreads the packed pair's bits over the slot index.
size_t HashPair(uint64_t key) { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 20); }

}  // namespace

void Vocabulary::Reserve(size_t count) {
  if (CapacityFor(count) > slots_.size()) Rehash(CapacityFor(count));
}

Vocabulary::AddResult Vocabulary::Add(std::string_view token, int32_t id) {
  if (static_cast<size_t>(id) < has_token_.size() && has_token_[id]) return AddResult::kIdTaken;
  if (slots_.empty() || TooFull(size_, slots_.size())) Rehash(CapacityFor(size_ + 1) * 2);
  const size_t hash = HashString(token);
  Slot& slot = slots_[FindSlot(token, hash)];
  if (slot.id >= 0) return AddResult::kTokenTaken;
  slot = Slot{Tag(hash), id};
  if (static_cast<size_t>(id) >= tokens_.size()) {
    tokens_.resize(id + size_t{1});
    has_token_.resize(id + size_t{1});
  }
  tokens_[id] = token;
  has_token_[id] = true;
  ++size_;
  return AddResult::kAdded;
}

std::optional<int32_t> Vocabulary::Find(std::string_view token) const {
  if (slots_.empty()) return std::nullopt;
  const Slot& slot = slots_[FindSlot(token, HashString(token))];
  if (slot.id < 0) return std::nullopt;
  return slot.id;
}

const std::string* Vocabulary::Token(int32_t id) const {
  if (id < 0 || id >= id_limit() || !has_token_[id]) return nullptr;
  return &tokens_[id];
}

size_t Vocabulary::FindSlot(std::string_view token, size_t hash) const {
  const size_t mask = slots_.size() - 1;
  const uint32_t tag = Tag(hash);
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.id < 0 || (slot.tag == tag && tokens_[slot.id] == token)) return i;
  }
}

void Vocabulary::Rehash(size_t capacity) {
  slots_.assign(capacity, Slot{0, -1});
  const size_t mask = capacity - 1;
  for (size_t id = 0; id < tokens_.size(); ++id) {
    if (!has_token_[id]) continue;
    const size_t hash = HashString(tokens_[id]);
    size_t i = hash & mask;
    while (slots_[i].id >= 0) i = (i + 1) & mask;
    slots_[i] = Slot{Tag(hash), static_cast<int32_t>(id)};
  }
}

void MergeTable::Reserve(size_t count) {
  if (CapacityFor(count) > slots_.size()) Rehash(CapacityFor(count));
}

void MergeTable::Set(int32_t left, int32_t right, Merge merge) {
  if (slots_.empty() || TooFull(size_, slots_.size())) Rehash(CapacityFor(size_ + 1) * 2);
  const uint64_t key = Key(left, right);
  Slot& slot = slots_[FindSlot(key)];
  if (slot.key == kEmpty) ++size_;
  slot = Slot{key, merge};
}

const MergeTable::Merge* MergeTable::Find(int32_t left, int32_t right) const {
  if (slots_.empty()) return nullptr;
  const Slot& slot = slots_[FindSlot(Key(left, right))];
  return slot.key == kEmpty ? nullptr : &slot.merge;
}

size_t MergeTable::FindSlot(uint64_t key) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = HashPair(key) & mask;; i = (i + 1) & mask) {
    if (slots_[i].key == key || slots_[i].key == kEmpty) return i;
  }
}

void MergeTable::Rehash(size_t capacity) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{kEmpty, {}});
  for (const Slot& slot : old) {
    if (slot.key != kEmpty) slots_[FindSlot(slot.key)] = slot;
  }
}

}  // namespace strata::tokenizer_internal
