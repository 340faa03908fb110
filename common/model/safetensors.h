// Memory-mapped safetensors files: the 8-byte little-endian header length, the JSON header
// (name -> dtype, shape, data_offsets; optional __metadata__), then the data. Every offset
// and size is validated against the file before any tensor is exposed.
// Thread-safety: immutable after Open; tensors may be read from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/model/dtype.h"
#include "common/util/file.h"
#include "common/util/status.h"

namespace strata {

// The safetensors spelling of the integer tensors that Hugging Face AWQ/GPTQ checkpoints hold
// (packed 4-bit codes and zero points, group indices). The engine never computes with them,
// so they are not a DType: TensorInfo marks them with `i32`.
inline constexpr std::string_view kI32Name = "I32";

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;        // unused when `i32`
  bool i32 = false;                 // an I32 tensor (4 bytes an element, little-endian)
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;  // inside the file's mapping; no alignment guarantee
  size_t nbytes = 0;
  std::string file;                 // path of the file that holds it, for error messages

  int64_t numel() const;
  std::string ShapeString() const;  // "[128256, 64]"
  std::string_view DTypeString() const;  // "BF16", "I32", ...
};

class SafetensorsFile {
 public:
  // Errors (kDataLoss unless noted), each naming the file and, where one is at fault, the
  // tensor: shorter than 8 bytes; header length past the end of the file; header not valid
  // JSON or not an object; a tensor entry without dtype/shape/data_offsets; a dtype other
  // than F32, F16, BF16, F8_E4M3 and I32 (kUnimplemented); negative dims; offsets reversed, past the end of the data, or a
  // size that disagrees with dtype x shape; two tensors' byte ranges overlapping.
  static StatusOr<SafetensorsFile> Open(const std::string& path);

  const std::string& path() const { return file_.path(); }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* Find(std::string_view name) const;

 private:
  MappedFile file_;
  std::vector<TensorInfo> tensors_;  // sorted by name
  std::map<std::string, std::string> metadata_;
};

}  // namespace strata
