// The gRPC side of the control plane: Coordinator.Session, one handler thread per worker
// stream (the synchronous API). A stream that sends no Registration within the registration
// timeout is cancelled, so a stray or stalled client cannot hold a handler thread. The
// handler checks the Registration's protocol version
// (Refused + FAILED_PRECONDITION) and cluster token (Refused + PERMISSION_DENIED; the token
// is never echoed), hands the worker to the Cluster (which checks the model), then reads
// messages into it until the stream ends. Writes go through a per-stream queue drained by
// one writer thread, so the Cluster never blocks on a slow worker.
// Thread-safety: gRPC calls Session from its threads; the service holds no mutable state.
#pragma once

#include <chrono>
#include <string>

#include "common/proto/strata_control.grpc.pb.h"
#include "coordinator/cluster.h"

namespace strata::coordinator {

class ControlService final : public control::v1::Coordinator::Service {
 public:
  ControlService(Cluster& cluster, std::string cluster_token,
                 std::chrono::milliseconds registration_timeout);

  grpc::Status Session(grpc::ServerContext* context,
                       grpc::ServerReaderWriter<control::v1::CoordinatorMessage,
                                                control::v1::WorkerMessage>* stream) override;

 private:
  Cluster& cluster_;
  const std::string cluster_token_;
  const std::chrono::milliseconds registration_timeout_;
};

}  // namespace strata::coordinator
