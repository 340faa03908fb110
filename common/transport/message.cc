// Header encoding, decoding and validation (see message.h for the wire layout).
#include "common/transport/message.h"

#include <algorithm>
#include <string>

namespace strata::transport {
namespace {

using std::to_string;

void Put16(std::byte* p, uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
void Put32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
void Put64(std::byte* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
uint64_t GetLe(const std::byte* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint64_t>(p[i]);
  return v;
}

bool KnownDtype(uint16_t code) {
  return code == static_cast<uint16_t>(ActivationDtype::kF32) ||
         code == static_cast<uint16_t>(ActivationDtype::kBF16);
}

}  // namespace

size_t DtypeBytes(ActivationDtype dtype) { return dtype == ActivationDtype::kF32 ? 4 : 2; }

std::string_view DtypeName(ActivationDtype dtype) {
  return dtype == ActivationDtype::kF32 ? "fp32" : "bf16";
}

size_t LinkLimits::max_payload_bytes() const {
  const size_t activations =
      static_cast<size_t>(max_rows) * static_cast<size_t>(cols) * DtypeBytes(dtype);
  return std::max(activations, kMaxErrorTextBytes);
}

Status ValidateLimits(const LinkLimits& limits) {
  if (limits.max_rows <= 0 || limits.cols <= 0 || limits.max_seqs <= 0 ||
      limits.max_seqs > limits.max_rows) {
    return InvalidArgument("link limits need max_rows > 0, cols > 0 and 0 < max_seqs <= "
                           "max_rows; got max_rows " + to_string(limits.max_rows) + ", cols " +
                           to_string(limits.cols) + ", max_seqs " + to_string(limits.max_seqs));
  }
  if (!KnownDtype(static_cast<uint16_t>(limits.dtype))) {
    return InvalidArgument("link limits name an unknown dtype code " +
                           to_string(static_cast<int>(limits.dtype)));
  }
  return OkStatus();
}

namespace {

// A slice's tree values (parents from `at`, then kept nodes) against the rules of SeqSlice.
Status ValidateTree(const SeqSlice& s, std::span<const int16_t> values,
                    const std::string& where) {
  const std::string seq = where + "sequence " + to_string(s.seq_id) + ": ";
  if (s.tree_tokens != 0 && (s.tree_tokens != s.n_tokens || s.n_tokens > kMaxTreeRows + 1)) {
    return InvalidArgument(seq + to_string(s.tree_tokens) + " tree tokens of " +
                           to_string(s.n_tokens) + " (a tree is the whole slice, at most " +
                           to_string(kMaxTreeRows + 1) + " tokens)");
  }
  if (s.kept < 0 || s.kept > kMaxTreeRows) {
    return InvalidArgument(seq + to_string(s.kept) + " kept nodes, outside [0, " +
                           to_string(kMaxTreeRows) + "]");
  }
  for (int32_t i = 0; i < s.tree_tokens; ++i) {
    const int16_t parent = values[static_cast<size_t>(i)];
    if (i == 0 ? parent != -1 : (parent < 0 || parent >= i)) {
      return InvalidArgument(seq + "tree token " + to_string(i) + " has parent " +
                             to_string(parent) + " (the root has -1, a node an earlier token)");
    }
  }
  for (int32_t i = 0; i < s.kept; ++i) {
    const int16_t node = values[static_cast<size_t>(s.tree_tokens + i)];
    const int16_t floor = i == 0 ? 0 : values[static_cast<size_t>(s.tree_tokens + i - 1)] + 1;
    if (node < floor || node >= kMaxTreeRows) {
      return InvalidArgument(seq + "kept nodes must ascend within [0, " +
                             to_string(kMaxTreeRows) + "), got " + to_string(node));
    }
  }
  return OkStatus();
}

}  // namespace

Status ValidateSliceTrees(std::span<const SeqSlice> seqs, std::span<const int16_t> tree,
                          const LinkLimits& limits) {
  size_t values = 0;
  for (const SeqSlice& s : seqs) {
    const size_t n = static_cast<size_t>(std::max(s.tree_tokens, 0)) +
                     static_cast<size_t>(std::max(s.kept, 0));
    if (values + n > tree.size()) {
      return InvalidArgument("the slices need more tree values than the " +
                             to_string(tree.size()) + " given");
    }
    STRATA_RETURN_IF_ERROR(ValidateTree(s, tree.subspan(values, n), ""));
    values += n;
  }
  if (values != tree.size() || values > limits.max_tree_values()) {
    return InvalidArgument(to_string(tree.size()) + " tree values; the slices use " +
                           to_string(values) + " and a batch takes at most " +
                           to_string(limits.max_tree_values()));
  }
  return OkStatus();
}

MessageHeader ActivationsHeader(const LinkLimits& limits, uint64_t step_id,
                                std::vector<SeqSlice> seqs, std::vector<int16_t> tree) {
  MessageHeader h;
  h.kind = MessageKind::kActivations;
  h.step_id = step_id;
  for (const SeqSlice& s : seqs) h.rows += s.n_tokens;
  h.cols = limits.cols;
  h.dtype = limits.dtype;
  h.seqs = std::move(seqs);
  h.tree = std::move(tree);
  h.payload_bytes = static_cast<uint64_t>(h.rows) * static_cast<uint64_t>(h.cols) *
                    DtypeBytes(h.dtype);
  return h;
}

Status ValidateHeader(const MessageHeader& h, const LinkLimits& limits) {
  const std::string where = "message " + to_string(h.step_id) + ": ";
  if (h.seqs.size() > static_cast<size_t>(limits.max_seqs)) {
    return InvalidArgument(where + to_string(h.seqs.size()) + " sequences, more than the " +
                           to_string(limits.max_seqs) + " agreed for the link");
  }
  switch (h.kind) {
    case MessageKind::kActivations: {
      if (!KnownDtype(static_cast<uint16_t>(h.dtype)) || h.dtype != limits.dtype) {
        return InvalidArgument(where + "dtype code " + to_string(static_cast<int>(h.dtype)) +
                               ", the link carries " + std::string(DtypeName(limits.dtype)));
      }
      if (h.cols != limits.cols) {
        return InvalidArgument(where + to_string(h.cols) + " columns, the link carries " +
                               to_string(limits.cols) + " (the hidden size)");
      }
      if (h.rows <= 0 || h.rows > limits.max_rows) {
        return InvalidArgument(where + to_string(h.rows) + " rows, outside [1, " +
                               to_string(limits.max_rows) + "] agreed for the link");
      }
      if (h.seqs.empty()) return InvalidArgument(where + "activations without sequences");
      int64_t rows = 0;
      for (const SeqSlice& s : h.seqs) {
        if (s.n_tokens <= 0 || s.start_pos < 0) {
          return InvalidArgument(where + "sequence " + to_string(s.seq_id) + " has " +
                                 to_string(s.n_tokens) + " tokens at position " +
                                 to_string(s.start_pos));
        }
        rows += s.n_tokens;
      }
      STRATA_RETURN_IF_ERROR(ValidateSliceTrees(h.seqs, h.tree, limits).WithContext(
          "message " + to_string(h.step_id)));
      if (rows != h.rows) {
        return InvalidArgument(where + "sequences hold " + to_string(rows) + " tokens, rows is " +
                               to_string(h.rows));
      }
      const uint64_t expected = static_cast<uint64_t>(h.rows) * static_cast<uint64_t>(h.cols) *
                                DtypeBytes(h.dtype);
      if (h.payload_bytes != expected) {
        return InvalidArgument(where + "payload of " + to_string(h.payload_bytes) +
                               " bytes, a (" + to_string(h.rows) + ", " + to_string(h.cols) +
                               ") " + std::string(DtypeName(h.dtype)) + " batch is " +
                               to_string(expected));
      }
      return OkStatus();
    }
    case MessageKind::kShutdown:
    case MessageKind::kError:
      if (h.rows != 0 || h.cols != 0 || !h.seqs.empty() || !h.tree.empty()) {
        return InvalidArgument(where + "a shutdown or error message carries no activations");
      }
      if (h.payload_bytes > (h.kind == MessageKind::kError ? kMaxErrorTextBytes : 0)) {
        return InvalidArgument(where + "payload of " + to_string(h.payload_bytes) +
                               " bytes on a shutdown or error message (error text is at most " +
                               to_string(kMaxErrorTextBytes) + ")");
      }
      return OkStatus();
  }
  return InvalidArgument(where + "unknown message kind " + to_string(static_cast<int>(h.kind)));
}

size_t EncodedHeaderBytes(const MessageHeader& h) {
  return kHeaderFixedBytes + kSeqSliceBytes * h.seqs.size() + 2 * h.tree.size();
}

size_t HeaderBytesFromFixedPart(std::span<const std::byte> fixed, const LinkLimits& limits) {
  const uint64_t n_seqs = GetLe(fixed.data() + 28, 4);
  const uint64_t n_values = GetLe(fixed.data() + 40, 4);
  if (n_seqs > static_cast<uint64_t>(limits.max_seqs) || n_values > limits.max_tree_values()) {
    return limits.max_header_bytes();
  }
  return kHeaderFixedBytes + kSeqSliceBytes * n_seqs + 2 * n_values;
}

size_t EncodeHeader(const MessageHeader& h, std::span<std::byte> out) {
  std::byte* p = out.data();
  Put32(p + 0, kMessageMagic);
  Put16(p + 4, kProtocolVersion);
  Put16(p + 6, static_cast<uint16_t>(h.kind));
  Put64(p + 8, h.step_id);
  Put32(p + 16, static_cast<uint32_t>(h.rows));
  Put32(p + 20, static_cast<uint32_t>(h.cols));
  Put16(p + 24, static_cast<uint16_t>(h.dtype));
  Put16(p + 26, 0);
  Put32(p + 28, static_cast<uint32_t>(h.seqs.size()));
  Put64(p + 32, h.payload_bytes);
  Put32(p + 40, static_cast<uint32_t>(h.tree.size()));
  p += kHeaderFixedBytes;
  for (const SeqSlice& s : h.seqs) {
    Put64(p, s.seq_id);
    Put32(p + 8, static_cast<uint32_t>(s.start_pos));
    Put32(p + 12, static_cast<uint32_t>(s.n_tokens));
    Put16(p + 16, static_cast<uint16_t>(s.tree_tokens));
    Put16(p + 18, static_cast<uint16_t>(s.kept));
    p += kSeqSliceBytes;
  }
  for (const int16_t v : h.tree) {
    Put16(p, static_cast<uint16_t>(v));
    p += 2;
  }
  return static_cast<size_t>(p - out.data());
}

Status DecodeHeader(std::span<const std::byte> bytes, const LinkLimits& limits,
                    MessageHeader* out) {
  const std::byte* p = bytes.data();
  if (bytes.size() < kHeaderFixedBytes) {
    return DataLoss("message header of " + to_string(bytes.size()) + " bytes, shorter than the " +
                    to_string(kHeaderFixedBytes) + " every header has");
  }
  if (GetLe(p, 4) != kMessageMagic) {
    return DataLoss("message header does not start with the Strata magic; the peer is not a "
                    "Strata worker or the stream is corrupt");
  }
  const auto version = static_cast<uint16_t>(GetLe(p + 4, 2));
  if (version != kProtocolVersion) {
    return Unimplemented("peer speaks data-plane protocol version " + to_string(version) +
                         ", this worker version " + to_string(kProtocolVersion) +
                         "; run the same Strata release on every worker");
  }
  if (GetLe(p + 26, 2) != 0) return DataLoss("message header has flags set, which none defines");
  const uint64_t n_seqs = GetLe(p + 28, 4);
  if (n_seqs > static_cast<uint64_t>(limits.max_seqs)) {
    return InvalidArgument("message header lists " + to_string(n_seqs) +
                           " sequences, more than the " + to_string(limits.max_seqs) +
                           " agreed for the link");
  }
  const uint64_t n_values = GetLe(p + 40, 4);
  if (n_values > limits.max_tree_values()) {
    return InvalidArgument("message header carries " + to_string(n_values) +
                           " tree values, more than the " + to_string(limits.max_tree_values()) +
                           " the link takes");
  }
  const uint64_t expected = kHeaderFixedBytes + kSeqSliceBytes * n_seqs + 2 * n_values;
  if (bytes.size() != expected) {
    return DataLoss("message header of " + to_string(bytes.size()) + " bytes lists " +
                    to_string(n_seqs) + " sequences and " + to_string(n_values) +
                    " tree values, which take " + to_string(expected));
  }
  const auto kind = static_cast<uint16_t>(GetLe(p + 6, 2));
  if (kind < static_cast<uint16_t>(MessageKind::kActivations) ||
      kind > static_cast<uint16_t>(MessageKind::kError)) {
    return DataLoss("message header has unknown kind " + to_string(kind));
  }
  out->kind = static_cast<MessageKind>(kind);
  out->step_id = GetLe(p + 8, 8);
  out->rows = static_cast<int32_t>(GetLe(p + 16, 4));
  out->cols = static_cast<int32_t>(GetLe(p + 20, 4));
  out->dtype = static_cast<ActivationDtype>(GetLe(p + 24, 2));
  out->payload_bytes = GetLe(p + 32, 8);
  out->seqs.resize(n_seqs);
  for (uint64_t i = 0; i < n_seqs; ++i) {
    const std::byte* s = p + kHeaderFixedBytes + kSeqSliceBytes * i;
    out->seqs[i] = {GetLe(s, 8), static_cast<int32_t>(GetLe(s + 8, 4)),
                    static_cast<int32_t>(GetLe(s + 12, 4)), static_cast<int32_t>(GetLe(s + 16, 2)),
                    static_cast<int32_t>(GetLe(s + 18, 2))};
  }
  out->tree.resize(n_values);
  const std::byte* v = p + kHeaderFixedBytes + kSeqSliceBytes * n_seqs;
  for (uint64_t i = 0; i < n_values; ++i) {
    out->tree[i] = static_cast<int16_t>(static_cast<uint16_t>(GetLe(v + 2 * i, 2)));
  }
  return ValidateHeader(*out, limits);
}

}  // namespace strata::transport
