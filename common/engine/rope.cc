// RopeInvFreq (see rope.h).
#include "common/engine/rope.h"

#include <cmath>
#include <numbers>

namespace strata {

std::vector<float> RopeInvFreq(const ModelConfig& config) {
  const int64_t dim = config.head_dim;
  std::vector<float> inv_freq(static_cast<size_t>(dim / 2));
  const float base = static_cast<float>(config.rope_theta);
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    inv_freq[static_cast<size_t>(i)] = 1.0f / std::pow(base, exponent);
  }
  const RopeScaling& s = config.rope_scaling;
  if (s.type != RopeScaling::Type::kLlama3) return inv_freq;

  const double old_context = static_cast<double>(s.original_max_position_embeddings);
  const double low_freq_wavelen = old_context / s.low_freq_factor;
  const double high_freq_wavelen = old_context / s.high_freq_factor;
  for (float& f : inv_freq) {
    const double wavelen = 2.0 * std::numbers::pi / f;
    if (wavelen > low_freq_wavelen) {
      f = static_cast<float>(f / s.factor);  // low frequency: fully scaled
    } else if (wavelen >= high_freq_wavelen) {
      // medium frequency: interpolate between scaled and unscaled
      const double smooth =
          (old_context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      f = static_cast<float>((1.0 - smooth) * f / s.factor + smooth * f);
    }
  }
  return inv_freq;
}

}  // namespace strata
