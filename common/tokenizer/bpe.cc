// BPE model: reading vocab and merges from tokenizer.json, and merging pieces as HF
// `tokenizers` does (Word::merge_all); see bpe.h. Thread-safety: immutable after FromJson.
#include "common/tokenizer/bpe.h"

#include <algorithm>
#include <utility>

#include "common/tokenizer/utf8.h"

namespace strata::tokenizer_internal {
namespace {

// Heap order: the lowest rank first, then the leftmost position (HF's Merge ordering). A
// function object, so that the heap algorithms inline it.
struct LaterThan {
  bool operator()(const BpeModel::Candidate& a, const BpeModel::Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

// Fields that change how HF's BPE model splits words; Strata supports their neutral values.
Status CheckUnsupportedOptions(const Json& model, const JsonPath& at) {
  STRATA_ASSIGN_OR_RETURN(bool byte_fallback, OptionalBool(model, "byte_fallback", false, at));
  if (byte_fallback) {
    return at.Member("byte_fallback").Unsupported("true is not supported (byte-level BPE only)");
  }
  if (const Json* dropout = FindMember(model, "dropout")) {
    if (!dropout->is_number() || dropout->get<double>() != 0.0) {
      return at.Member("dropout").Unsupported("must be null or 0 (BPE dropout is random), got " +
                                              Describe(*dropout));
    }
  }
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const Json* value = FindMember(model, affix);
    if (value != nullptr && !(value->is_string() && value->get_ref<const std::string&>().empty())) {
      return at.Member(affix).Unsupported("must be null, got " + Describe(*value));
    }
  }
  return OkStatus();
}

}  // namespace

StatusOr<BpeModel> BpeModel::FromJson(const Json& model, const JsonPath& at) {
  STRATA_ASSIGN_OR_RETURN(std::string type, ComponentType(model, at));
  if (type != "BPE") {
    return at.Member("type").Unsupported("is \"" + type +
                                         "\"; Strata supports only \"BPE\" models");
  }
  STRATA_RETURN_IF_ERROR(CheckUnsupportedOptions(model, at));
  BpeModel bpe;
  STRATA_ASSIGN_OR_RETURN(bpe.ignore_merges_, OptionalBool(model, "ignore_merges", false, at));
  STRATA_ASSIGN_OR_RETURN(bpe.fuse_unk_, OptionalBool(model, "fuse_unk", false, at));
  STRATA_ASSIGN_OR_RETURN(const Json* vocab, RequireMember(model, "vocab", at));
  STRATA_RETURN_IF_ERROR(bpe.ParseVocab(*vocab, at.Member("vocab")));
  STRATA_ASSIGN_OR_RETURN(const Json* merges, RequireMember(model, "merges", at));
  STRATA_RETURN_IF_ERROR(bpe.ParseMerges(*merges, at.Member("merges")));
  if (const Json* unk = FindMember(model, "unk_token")) {
    if (!unk->is_string()) return at.Member("unk_token").Invalid("must be a string or null");
    bpe.unk_id_ = bpe.vocab_.Find(unk->get_ref<const std::string&>());
  }
  return bpe;
}

Status BpeModel::ParseVocab(const Json& vocab, const JsonPath& at) {
  if (!vocab.is_object()) return at.Invalid("must be an object of token -> id");
  const auto& entries = vocab.get_ref<const Json::object_t&>();
  vocab_.Reserve(entries.size());
  for (const auto& [token, value] : entries) {
    const std::optional<int32_t> id = AsId(value);
    if (!id) return at.Member(token).Invalid("must be a token id, got " + Describe(value));
    switch (vocab_.Add(token, *id)) {
      case Vocabulary::AddResult::kAdded:
        break;
      case Vocabulary::AddResult::kIdTaken:
        return at.Invalid("gives id " + std::to_string(*id) + " to both " +
                          Describe(*vocab_.Token(*id)) + " and " + Describe(token));
      case Vocabulary::AddResult::kTokenTaken:
        return at.Invalid("lists " + Describe(token) + " twice");
    }
  }
  return OkStatus();
}

Status BpeModel::ParseMerges(const Json& merges, const JsonPath& at) {
  if (!merges.is_array()) return at.Invalid("must be an array of merges");
  merges_.Reserve(merges.size());
  std::string buffer;
  for (size_t i = 0; i < merges.size(); ++i) {
    const Json& merge = merges[i];
    const auto rank = static_cast<uint32_t>(i);
    if (merge.is_string()) {  // "left right", the format before tokenizers 0.20
      const std::string& text = merge.get_ref<const std::string&>();
      const size_t space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
        return at.Element(i).Invalid("must be two tokens separated by one space, got " +
                                     Describe(merge));
      }
      STRATA_RETURN_IF_ERROR(AddMerge(std::string_view(text).substr(0, space),
                                      std::string_view(text).substr(space + 1), rank, at.Element(i),
                                      &buffer));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) {  // ["left", "right"]
      STRATA_RETURN_IF_ERROR(AddMerge(merge[0].get_ref<const std::string&>(),
                                      merge[1].get_ref<const std::string&>(), rank, at.Element(i),
                                      &buffer));
    } else {
      return at.Element(i).Invalid("must be \"left right\" or [\"left\", \"right\"], got " +
                                   Describe(merge));
    }
  }
  return OkStatus();
}

Status BpeModel::AddMerge(std::string_view left, std::string_view right, uint32_t rank,
                          const JsonPath& at, std::string* buffer) {
  buffer->assign(left);
  buffer->append(right);
  const std::string_view parts[] = {left, right, *buffer};
  int32_t ids[3];
  for (int k = 0; k < 3; ++k) {
    const std::optional<int32_t> id = vocab_.Find(parts[k]);
    if (!id) {
      return at.Invalid("needs token " + Describe(std::string(parts[k])) +
                        ", which is not in model.vocab");
    }
    ids[k] = *id;
  }
  // Like HF, a pair listed twice keeps its last rank.
  merges_.Set(ids[0], ids[1], MergeTable::Merge{rank, ids[2]});
  return OkStatus();
}

Status BpeModel::EncodePiece(std::string_view piece, Scratch* scratch,
                             std::vector<int32_t>* out) const {
  if (piece.empty()) return OkStatus();
  if (ignore_merges_) {
    if (std::optional<int32_t> id = vocab_.Find(piece)) {
      out->push_back(*id);
      return OkStatus();
    }
  }
  STRATA_RETURN_IF_ERROR(SplitIntoSymbols(piece, &scratch->symbols));
  MergeAll(scratch);
  for (const Symbol& symbol : scratch->symbols) {
    if (!symbol.merged_away) out->push_back(symbol.id);
  }
  return OkStatus();
}

// HF's BPE::merge_word without affixes: one symbol per character; characters missing from the
// vocabulary become the unk token (consecutive ones fused with fuse_unk) or an error.
Status BpeModel::SplitIntoSymbols(std::string_view piece, std::vector<Symbol>* symbols) const {
  symbols->clear();
  bool pending_unk = false;
  auto add = [symbols](int32_t id) {
    const auto index = static_cast<int32_t>(symbols->size());
    symbols->push_back(Symbol{id, index - 1, index + 1, false});
  };
  for (size_t i = 0; i < piece.size();) {
    const size_t length = DecodeUtf8(piece.substr(i)).length;
    const std::string_view character = piece.substr(i, length);
    i += length;
    if (std::optional<int32_t> id = vocab_.Find(character)) {
      if (std::exchange(pending_unk, false)) add(*unk_id_);
      add(*id);
      continue;
    }
    if (!unk_id_) {
      return InvalidArgument("the tokenizer's vocabulary has no token for the character " +
                             Describe(std::string(character)) +
                             " and its model has no unk_token in the vocabulary");
    }
    if (pending_unk && !fuse_unk_) add(*unk_id_);
    pending_unk = true;
  }
  if (pending_unk) add(*unk_id_);
  symbols->back().next = -1;
  return OkStatus();
}

bool BpeModel::AddCandidate(const std::vector<Symbol>& symbols, uint32_t pos,
                            std::vector<Candidate>* heap) const {
  const Symbol& left = symbols[pos];
  const MergeTable::Merge* merge = merges_.Find(left.id, symbols[left.next].id);
  if (merge == nullptr) return false;
  heap->push_back(Candidate{merge->rank, pos, merge->new_id});
  return true;
}

void BpeModel::PushCandidate(const std::vector<Symbol>& symbols, uint32_t pos,
                             std::vector<Candidate>* heap) const {
  if (AddCandidate(symbols, pos, heap)) std::push_heap(heap->begin(), heap->end(), LaterThan());
}

// HF's Word::merge_all (without dropout). A popped candidate is stale, and skipped, when its
// symbol is gone, has no right neighbour, or the pair there no longer merges into new_id.
void BpeModel::MergeAll(Scratch* scratch) const {
  std::vector<Symbol>& symbols = scratch->symbols;
  std::vector<Candidate>& heap = scratch->heap;
  heap.clear();
  for (size_t pos = 0; pos + 1 < symbols.size(); ++pos) {
    AddCandidate(symbols, static_cast<uint32_t>(pos), &heap);
  }
  std::make_heap(heap.begin(), heap.end(), LaterThan());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), LaterThan());
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& left = symbols[top.pos];
    if (left.merged_away || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    const MergeTable::Merge* merge = merges_.Find(left.id, right.id);
    if (merge == nullptr || merge->new_id != top.new_id) continue;
    left.id = top.new_id;
    right.merged_away = true;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = static_cast<int32_t>(top.pos);
    if (left.prev >= 0) PushCandidate(symbols, static_cast<uint32_t>(left.prev), &heap);
    if (left.next >= 0) PushCandidate(symbols, top.pos, &heap);
  }
}

}  // namespace strata::tokenizer_internal
