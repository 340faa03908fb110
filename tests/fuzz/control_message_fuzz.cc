// Fuzz target: bytes as the control plane's protobuf messages (common/proto), through the
// checks each receiver runs before acting. As a CoordinatorMessage (what a worker receives):
// an Assignment through CheckAssignment and cluster::ReadPlacement, an OpenSequence through
// CheckOpenSequence, a Step through CheckStep, against a middle stage of the tiny model. As
// a WorkerMessage (what the coordinator receives): a Registration's pack through
// cluster::CheckSameModel. Thread-safety: libFuzzer's one input at a time.
#include <cstddef>
#include <cstdint>

#include "common/cluster/assignment_placement.h"
#include "common/cluster/pack_identity.h"
#include "common/model/config.h"
#include "common/proto/strata_control.pb.h"
#include "worker/control_checks.h"

namespace {

namespace v1 = strata::control::v1;

constexpr int64_t kModelLayers = 6;     // the tiny fixture's
constexpr int64_t kVocabSize = 128256;
constexpr size_t kLayerBytes = 1 << 20;

// Stage 1 of 3 over layers [2, 4), as the coordinator would assign it.
const v1::Assignment& Reference() {
  static const v1::Assignment a = [] {
    v1::Assignment r;
    r.set_epoch(1);
    r.set_stage(1);
    r.set_num_stages(3);
    r.set_first_layer(2);
    r.set_num_layers(2);
    r.set_gpu_layers(2);
    r.set_max_batch_tokens(64);
    r.set_max_seq_len(128);
    r.set_kv_slots(4);
    r.set_transport("ucx");
    return r;
  }();
  return a;
}

const strata::ModelConfig& Config() {
  static const strata::ModelConfig config = [] {
    strata::ModelConfig c;
    c.architecture = "LlamaForCausalLM";
    c.num_layers = kModelLayers;
    c.hidden_size = 64;
    c.vocab_size = kVocabSize;
    return c;
  }();
  return config;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int n = static_cast<int>(size);
  v1::CoordinatorMessage to_worker;
  if (to_worker.ParseFromArray(data, n)) {
    if (to_worker.has_assignment() &&
        strata::worker::CheckAssignment(to_worker.assignment(), kModelLayers).ok()) {
      (void)strata::cluster::ReadPlacement(to_worker.assignment(), kLayerBytes);
    }
    if (to_worker.has_open()) (void)strata::worker::CheckOpenSequence(to_worker.open(), Reference());
    if (to_worker.has_step()) {
      (void)strata::worker::CheckStep(to_worker.step(), Reference(), kVocabSize);
    }
  }
  v1::WorkerMessage to_coordinator;
  if (to_coordinator.ParseFromArray(data, n) && to_coordinator.has_registration()) {
    (void)strata::cluster::CheckSameModel(to_coordinator.registration().pack(), Config(), "bf16");
  }
  return 0;
}
