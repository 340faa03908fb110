// A whole pack resident through a read-only memory map of weights.bin, bound as LlamaWeights
// for the all-resident path (the CPU backend, tests). Every extent's checksum is verified
// when it is opened, which reads the whole file once.
// Thread-safety: immutable after Open; the weights may be read from any thread.
#pragma once

#include <string>

#include "common/model/llama_weights.h"
#include "common/storage/pack.h"
#include "common/util/file.h"
#include "common/util/status.h"

namespace strata {

class MappedPack {
 public:
  // Pack::Open's errors; a weights.bin that cannot be mapped; an extent whose checksum
  // disagrees with the manifest (Pack::VerifyExtent's kDataLoss).
  static StatusOr<MappedPack> Open(const std::string& dir);

  const Pack& pack() const { return pack_; }
  // Views into the map, valid while this MappedPack lives (moving it keeps them valid).
  // lm_head is the pack's own lm_head extent, also for tied models.
  const LlamaWeights& weights() const { return weights_; }

 private:
  MappedPack(Pack pack, MappedFile data) : pack_(std::move(pack)), data_(std::move(data)) {}
  Pack pack_;
  MappedFile data_;
  LlamaWeights weights_;
};

}  // namespace strata
