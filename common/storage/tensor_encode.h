// Converts checkpoint tensors into a pack's storage dtypes while streaming them into
// weights.bin, a bounded chunk at a time. Thread-safety: functions without shared state.
#pragma once

#include <string>
#include <vector>

#include "common/model/llama_weights.h"
#include "common/storage/pack_data_writer.h"
#include "common/util/status.h"

namespace strata {

// Appends `src` as BF16: BF16 bit-exact, F32 and F16 rounded to nearest even. An F8_E4M3
// or U4 source is kUnimplemented (`name` is the tensor named in the error).
Status AppendAsBF16(const WeightView& src, const std::string& name, PackDataWriter& out);

// Appends `src` as F8_E4M3 with one float32 scale per row: scale = max|row| / 448 (1 for a
// row of zeros), q = FloatToF8E4M3(w / scale). `scales` receives the (rows) scales for the
// caller to append. A non-finite weight is kInvalidArgument; an F8 or U4 source kUnimplemented.
Status AppendAsF8E4M3(const WeightView& src, const std::string& name, PackDataWriter& out,
                      std::vector<float>* scales);

// Appends `src` as U4 codes quantised round-to-nearest in groups of `group_size` columns
// (int4_weights.h: QuantizeRowU4); `scales` and `zeros` receive the (rows, cols / group_size)
// bf16 arrays for the caller to append. A U4 source (an AWQ/GPTQ checkpoint's converted
// projection) is copied as it is, codes, scales and zeros, and must have `group_size`; its
// col_perm is the caller's to append. A group size that does not divide the columns or
// differs from a U4 source's, or a non-finite weight, is kInvalidArgument; an F8 source
// kUnimplemented.
Status AppendAsU4(const WeightView& src, const std::string& name, int64_t group_size,
                  PackDataWriter& out, std::vector<uint16_t>* scales, std::vector<uint16_t>* zeros);

}  // namespace strata
