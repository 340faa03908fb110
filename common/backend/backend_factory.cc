// CreateBackend (see backend_factory.h). The CUDA backend is linked in, and
// STRATA_HAVE_CUDA defined, only when the build has CUDA.
#include "common/backend/backend_factory.h"

#include <charconv>
#include <string>

#include "common/backend/cpu/cpu_backend.h"
#if STRATA_HAVE_CUDA
#include "common/backend/cuda/create_cuda_backend.h"
#endif

namespace strata {
namespace {

// "cuda" -> 0, "cuda:N" -> N, anything else -> -1.
int ParseCudaDevice(std::string_view spec) {
  if (spec == "cuda") return 0;
  constexpr std::string_view kPrefix = "cuda:";
  if (spec.substr(0, kPrefix.size()) != kPrefix) return -1;
  const std::string_view digits = spec.substr(kPrefix.size());
  int device = -1;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), device);
  if (ec != std::errc() || end != digits.data() + digits.size()) return -1;
  return device;
}

}  // namespace

StatusOr<std::unique_ptr<Backend>> CreateBackend(std::string_view spec,
                                                 const BackendOptions& options) {
  if (spec == "cpu") {
    if (options.fp8_activations) {
      return InvalidArgument("--fp8-activations is a CUDA backend option (fp8 GEMMs); the cpu "
                             "backend multiplies fp8 weights in fp32: drop the flag");
    }
    return std::unique_ptr<Backend>(std::make_unique<CpuBackend>());
  }
  const int device = ParseCudaDevice(spec);
  if (device < 0) {
    return InvalidArgument("unknown backend '" + std::string(spec) +
                           "': expected cpu, cuda or cuda:N (N = device index)");
  }
#if STRATA_HAVE_CUDA
  return cuda::CreateCudaBackend(device, options.fp8_activations);
#else
  return Unimplemented(
      "this build has no CUDA backend: rebuild where nvcc is available (STRATA_CUDA=ON)");
#endif
}

}  // namespace strata
