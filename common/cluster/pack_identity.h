// The identity of a pack as the control plane carries it (PackIdentity in
// strata_control.proto): a fingerprint of the model config plus the sizes the plan depends
// on, so the coordinator refuses a worker serving another model.
// Thread-safety: functions without shared state.
#pragma once

#include <string>

#include "common/model/config.h"
#include "common/proto/strata_control.pb.h"
#include "common/storage/pack.h"
#include "common/util/status.h"

namespace strata::cluster {

// xxh3 of the canonical config JSON, as 16 hex digits.
std::string ConfigFingerprint(const ModelConfig& config);

control::v1::PackIdentity IdentityOf(const Pack& pack);

// OK when `theirs` serves the model `config` (and, when `dtype` is not empty, that dtype);
// else kFailedPrecondition saying what differs.
Status CheckSameModel(const control::v1::PackIdentity& theirs, const ModelConfig& config,
                      const std::string& dtype);

}  // namespace strata::cluster
