// Fuzz target: config.json text through ParseModelConfig, and an accepted config's
// `quantization_config` through ParseHfQuantization (AWQ/GPTQ checkpoints). A config it
// accepts must survive the round trip the pack manifest relies on: ModelConfigToJson, parsed
// again, gives the same sizes (a mismatch aborts). Thread-safety: libFuzzer's one input at a
// time.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/model/config.h"
#include "common/model/config_quantization.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  strata::StatusOr<strata::ModelConfig> config = strata::ParseModelConfig(text, "fuzz");
  if (!config.ok()) return 0;
  strata::StatusOr<strata::ModelConfig> again =
      strata::ParseModelConfig(strata::ModelConfigToJson(*config), "round trip");
  if (!again.ok() || again->hidden_size != config->hidden_size ||
      again->num_layers != config->num_layers || again->vocab_size != config->vocab_size ||
      again->head_dim != config->head_dim || again->num_kv_heads != config->num_kv_heads) {
    std::abort();
  }
  (void)strata::ParseHfQuantization(text, "fuzz", *config);  // any input: a status, no crash
  return 0;
}
