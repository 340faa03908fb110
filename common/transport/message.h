// The activation message of the data plane: what one pipeline stage sends the next. A message
// is a small header (encoded little-endian, independent of the host) followed by a payload:
// the residual stream of a batch, (rows = tokens, cols = hidden) in the link's dtype, row-major.
// The link limits are agreed over the control plane before the link is made; every header a
// peer sends is decoded against them, so a corrupt or hostile peer yields a Status, never an
// overrun.
// Thread-safety: values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/backend/batch.h"
#include "common/util/status.h"

namespace strata::transport {

// Header wire layout (all integers little-endian):
//   offset size field
//        0    4 magic "SACT" (0x54434153 read as little-endian u32)
//        4    2 protocol version (kProtocolVersion)
//        6    2 kind (MessageKind)
//        8    8 step id (the engine's pass / micro-batch id; echoed, not interpreted)
//       16    4 rows (tokens)
//       20    4 cols (hidden)
//       24    2 dtype (ActivationDtype)
//       26    2 flags (must be 0)
//       28    4 number of sequence slices n
//       32    8 payload bytes
//       40    4 number of tree values m
//       44 20*n slices: sequence id u64, start position i32, token count i32, tree tokens u16
//               (0 or the token count), kept nodes u16
//   44+20n  2*m tree values i16: per slice in order, its tree parents then its kept nodes
// Version 2 added the token trees of speculative decoding (the tree values, and the slices'
// last two fields).
inline constexpr uint32_t kMessageMagic = 0x54434153;
inline constexpr uint16_t kProtocolVersion = 2;
inline constexpr size_t kHeaderFixedBytes = 44;
inline constexpr size_t kSeqSliceBytes = 20;
// An error message's text is its payload, capped so it always fits the receive buffer.
inline constexpr size_t kMaxErrorTextBytes = 1024;

enum class MessageKind : uint16_t {
  kActivations = 1,  // payload: (rows, cols) activations
  kShutdown = 2,     // the sender is done; no payload
  kError = 3,        // the sender failed; payload: UTF-8 text, at most kMaxErrorTextBytes
};

// Wire codes, fixed by the protocol (not the model's DType enum).
enum class ActivationDtype : uint16_t { kF32 = 1, kBF16 = 2 };

size_t DtypeBytes(ActivationDtype dtype);
std::string_view DtypeName(ActivationDtype dtype);

// The run of tokens one sequence contributes to a batch, in row order.
struct SeqSlice {
  uint64_t seq_id = 0;    // the coordinator's sequence id
  int32_t start_pos = 0;  // cache row of the slice's first token
  int32_t n_tokens = 0;   // rows it occupies
  // 0: a chain. n_tokens: a token tree (speculative decoding) — the first token is the root,
  // a chain token at start_pos; token i > 0 is a node whose parent is token
  // MessageHeader::tree[its parents + i], in [0, i).
  int32_t tree_tokens = 0;
  // Nodes of the sequence's previous tree that its cache keeps (ascending node indices, 0
  // the first node below that tree's root): the rows after the committed prefix are replaced
  // by those before this slice runs (KvCache::KeepRows).
  int32_t kept = 0;

  bool operator==(const SeqSlice&) const = default;
};

struct MessageHeader {
  MessageKind kind = MessageKind::kActivations;
  uint64_t step_id = 0;
  int32_t rows = 0;  // activations: tokens in the batch = sum of seqs' n_tokens; else 0
  int32_t cols = 0;  // activations: hidden size; else 0
  ActivationDtype dtype = ActivationDtype::kBF16;
  std::vector<SeqSlice> seqs;  // activations: at least one, in row order; else empty
  uint64_t payload_bytes = 0;  // activations: rows * cols * DtypeBytes(dtype)
  // Per slice in order: its tree_tokens parents (-1 for the root), then its kept nodes.
  std::vector<int16_t> tree;

  bool operator==(const MessageHeader&) const = default;
};

// What both ends of a link agreed over the control plane; the receiver's buffer is sized
// from it once.
struct LinkLimits {
  int32_t max_rows = 0;  // max_batch_tokens of the pipeline
  int32_t cols = 0;      // hidden size
  ActivationDtype dtype = ActivationDtype::kBF16;
  int32_t max_seqs = 0;  // most sequences in one batch (<= max_rows)

  // Bytes the receive buffer must hold: the largest activation or error payload.
  size_t max_payload_bytes() const;
  // Tree values a message may carry: a tree's parents count among its rows, and the
  // scheduler counts kept nodes against the batch too.
  size_t max_tree_values() const { return 2 * static_cast<size_t>(max_rows); }
  // Bytes of the largest encoded header.
  size_t max_header_bytes() const {
    return kHeaderFixedBytes + kSeqSliceBytes * static_cast<size_t>(max_seqs) +
           2 * max_tree_values();
  }

  bool operator==(const LinkLimits&) const = default;
};

Status ValidateLimits(const LinkLimits& limits);

// An activations header for `seqs` (rows and payload bytes follow from them and the limits).
MessageHeader ActivationsHeader(const LinkLimits& limits, uint64_t step_id,
                                std::vector<SeqSlice> seqs, std::vector<int16_t> tree = {});

// The slices' tree values (MessageHeader::tree) against the rules of SeqSlice and the limits'
// max_tree_values; the message names the sequence.
Status ValidateSliceTrees(std::span<const SeqSlice> seqs, std::span<const int16_t> tree,
                          const LinkLimits& limits);

// Checks a header against the limits: what DecodeHeader accepts, before it is sent.
Status ValidateHeader(const MessageHeader& header, const LinkLimits& limits);

size_t EncodedHeaderBytes(const MessageHeader& header);
// The length of the header whose first kHeaderFixedBytes are `fixed`, from its counts; the
// limits' max_header_bytes when they exceed the limits (DecodeHeader then refuses it).
size_t HeaderBytesFromFixedPart(std::span<const std::byte> fixed, const LinkLimits& limits);
// Writes the header into `out` (at least EncodedHeaderBytes long); returns the bytes written.
size_t EncodeHeader(const MessageHeader& header, std::span<std::byte> out);

// Parses `bytes` (exactly one encoded header) and validates it against the limits. On
// success fills `out`, reusing its seqs' capacity (no allocation once reserved to
// limits.max_seqs); on error leaves `out` unspecified. kDataLoss for a malformed frame,
// kUnimplemented for another protocol version, kInvalidArgument for values outside the limits.
Status DecodeHeader(std::span<const std::byte> bytes, const LinkLimits& limits,
                    MessageHeader* out);

}  // namespace strata::transport
