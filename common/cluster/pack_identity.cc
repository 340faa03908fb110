// Pack identities (see pack_identity.h).
#include "common/cluster/pack_identity.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>

namespace strata::cluster {

std::string ConfigFingerprint(const ModelConfig& config) {
  const std::string json = ModelConfigToJson(config);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(XXH3_64bits(json.data(), json.size())));
  return hex;
}

control::v1::PackIdentity IdentityOf(const Pack& pack) {
  control::v1::PackIdentity id;
  id.set_config_fingerprint(ConfigFingerprint(pack.config()));
  id.set_num_layers(pack.config().num_layers);
  id.set_hidden_size(pack.config().hidden_size);
  id.set_vocab_size(pack.config().vocab_size);
  id.set_dtype(std::string(PackDTypeName(pack.dtype())));
  uint64_t layer_bytes = 0;
  for (int64_t l = 0; l < pack.config().num_layers; ++l) {
    layer_bytes = std::max<uint64_t>(layer_bytes, pack.layer_extent(l).bytes);
  }
  id.set_layer_bytes(layer_bytes);
  return id;
}

Status CheckSameModel(const control::v1::PackIdentity& theirs, const ModelConfig& config,
                      const std::string& dtype) {
  if (theirs.config_fingerprint() != ConfigFingerprint(config)) {
    return FailedPrecondition(
        "the worker's pack is of another model (" + std::to_string(theirs.num_layers()) +
        " layers, hidden " + std::to_string(theirs.hidden_size()) + ", config " +
        theirs.config_fingerprint() + ") than the coordinator's (" +
        std::to_string(config.num_layers) + " layers, hidden " +
        std::to_string(config.hidden_size) + ", config " + ConfigFingerprint(config) +
        "); pack the same checkpoint for every node");
  }
  if (!dtype.empty() && theirs.dtype() != dtype) {
    return FailedPrecondition("the worker's pack is " + theirs.dtype() + " but the cluster runs " +
                              dtype + "; pack every node with the same --dtype");
  }
  return OkStatus();
}

}  // namespace strata::cluster
