// Checks a parsed manifest against itself, its model config and the size of its data file,
// so that nothing a manifest says can send a reader outside weights.bin or bind a tensor
// with the wrong shape; and the act-order permutations in the data file, the only weight
// bytes that index memory, which it also binds. Thread-safety: pure functions (the second
// reads the file).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/storage/pack_format.h"
#include "common/util/status.h"

namespace strata {

// Returns the extents in canonical order (PackExtentOrder), each with its tensors in
// ExtentTensorSpecs order (kLayerFields order for layers), whatever the manifest's order.
// Errors (kDataLoss, message starting with `where`, naming the extent and tensor): another
// data file name or alignment; data_bytes different from `data_file_size`; an
// unknown, duplicate or missing extent; an extent misaligned, empty, past data_bytes or
// overlapping another; a tensor missing, unexpected, with another dtype or shape than the
// config and pack dtype imply, a byte count that disagrees with its shape, misaligned,
// outside its extent, overlapping another, or with scales where none belong (or none where
// they do).
StatusOr<std::vector<PackExtent>> ValidatePackManifest(const PackManifest& manifest,
                                                       uint64_t data_file_size,
                                                       const std::string& where);

// Reads every U4 tensor's permutation (perm_offset) in `manifest` (its extents as
// ValidatePackManifest returns them) from `data_path`, checks that it is a
// permutation of [0, cols) (kernels index activations and rows with it), and sets each layer
// tensor's bound_perm_offset as SharePermutations (common/model/int4_weights.h) binds the
// arrays read: none for the identity, an earlier projection's array of the same input when
// equal, else its own. Errors (kDataLoss, starting with `where`): an entry out of range or
// repeated, naming the tensor and entry; a short read. Called at open: a later read of the
// same bytes is held to the extent's checksum (resident layers once, streamed ones with
// --verify-streamed).
Status ReadPackPermutations(PackManifest& manifest, const std::string& data_path,
                            const std::string& where);

}  // namespace strata
