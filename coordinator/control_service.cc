// Coordinator.Session (see control_service.h).
#include "coordinator/control_service.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "common/cluster/protocol.h"
#include "common/util/secret.h"

namespace strata::coordinator {

namespace pb = control::v1;
using Stream = grpc::ServerReaderWriter<pb::CoordinatorMessage, pb::WorkerMessage>;

namespace {

// One worker's stream: Send queues, a writer thread writes in order. Finish writes what is
// queued (unless a write failed), stops the writer and makes later Sends and Closes no-ops,
// so the Cluster may hold the connection past the handler's return.
class StreamConnection final : public WorkerConnection {
 public:
  StreamConnection(grpc::ServerContext* context, Stream* stream)
      : context_(context), stream_(stream), writer_([this] { WriteLoop(); }) {}
  ~StreamConnection() override { Finish(); }

  void Send(const pb::CoordinatorMessage& message) override {
    std::lock_guard lock(mu_);
    if (finishing_) return;
    queue_.push_back(message);
    cv_.notify_all();
  }

  void Close() override {
    std::lock_guard lock(mu_);
    if (!finishing_) context_->TryCancel();
  }

  void Finish() {
    {
      std::lock_guard lock(mu_);
      if (finishing_) return;
      finishing_ = true;
      cv_.notify_all();
    }
    writer_.join();
  }

 private:
  void WriteLoop() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return finishing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // finishing with nothing left
      const pb::CoordinatorMessage message = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      const bool written = stream_->Write(message);
      lock.lock();
      if (!written) {
        queue_.clear();  // the stream is gone; its reader reports the end
        if (finishing_) return;
      }
    }
  }

  grpc::ServerContext* const context_;
  Stream* const stream_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<pb::CoordinatorMessage> queue_;
  bool finishing_ = false;
  std::thread writer_;  // last: starts after the fields it uses
};

// Cancels the stream unless Met() is called within the timeout (one short-lived thread per
// session being set up).
class RegistrationDeadline {
 public:
  RegistrationDeadline(grpc::ServerContext* context, std::chrono::milliseconds timeout)
      : thread_([this, context, timeout] {
          std::unique_lock lock(mu_);
          if (!cv_.wait_for(lock, timeout, [&] { return met_; })) {
            expired_ = true;
            context->TryCancel();
          }
        }) {}
  ~RegistrationDeadline() { Met(); }

  // Stops the clock; true if it had already run out.
  bool Met() {
    {
      std::lock_guard lock(mu_);
      met_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    return expired_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool met_ = false;
  bool expired_ = false;
  std::thread thread_;  // last: starts after the fields it uses
};

grpc::Status Refuse(Stream* stream, grpc::StatusCode code, const std::string& reason) {
  pb::CoordinatorMessage refused;
  refused.mutable_refused()->set_reason(reason);
  stream->Write(refused);
  return grpc::Status(code, reason);
}

}  // namespace

ControlService::ControlService(Cluster& cluster, std::string cluster_token,
                               std::chrono::milliseconds registration_timeout)
    : cluster_(cluster),
      cluster_token_(std::move(cluster_token)),
      registration_timeout_(registration_timeout) {}

grpc::Status ControlService::Session(grpc::ServerContext* context, Stream* stream) {
  const std::string peer = context->peer();
  pb::WorkerMessage first;
  bool read = false;
  {
    RegistrationDeadline deadline(context, registration_timeout_);
    read = stream->Read(&first);
    if (deadline.Met()) {
      spdlog::warn("control peer {} sent no Registration within {} ms; closed", peer,
                   registration_timeout_.count());
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          "no Registration within " +
                              std::to_string(registration_timeout_.count()) + " ms");
    }
  }
  if (!read) return grpc::Status(grpc::StatusCode::CANCELLED, "no registration");
  if (!first.has_registration()) {
    spdlog::warn("control peer {} did not register first; refused", peer);
    return Refuse(stream, grpc::StatusCode::FAILED_PRECONDITION,
                  "the first message of a session must be Registration");
  }
  const pb::Registration& registration = first.registration();
  const std::string name = registration.capabilities().name().substr(0, 256);
  if (registration.protocol_version() != cluster::kProtocolVersion) {
    const std::string reason =
        "protocol version " + std::to_string(registration.protocol_version()) +
        ", coordinator speaks " + std::to_string(cluster::kProtocolVersion) +
        ": upgrade the worker and the coordinator to the same Strata release";
    spdlog::warn("worker '{}' at {} refused: {}", name, peer, reason);
    return Refuse(stream, grpc::StatusCode::FAILED_PRECONDITION, reason);
  }
  if (!SecretsEqual(registration.cluster_token(), cluster_token_)) {
    const std::string reason =
        "wrong cluster token: give the worker the same --token-file as the coordinator";
    spdlog::warn("worker '{}' at {} refused: {}", name, peer, reason);
    return Refuse(stream, grpc::StatusCode::PERMISSION_DENIED, reason);
  }

  auto connection = std::make_shared<StreamConnection>(context, stream);
  const StatusOr<std::string> worker_id = cluster_.Register(registration, connection);
  if (!worker_id.ok()) {
    spdlog::warn("worker '{}' at {} refused: {}", name, peer, worker_id.status().message());
    connection->Finish();
    return Refuse(stream, grpc::StatusCode::FAILED_PRECONDITION, worker_id.status().message());
  }
  pb::WorkerMessage message;
  while (stream->Read(&message)) cluster_.OnMessage(*worker_id, message);
  cluster_.OnStreamEnded(*worker_id, context->IsCancelled() ? "its control stream was cancelled"
                                                             : "its control stream ended");
  connection->Finish();
  return grpc::Status::OK;
}

}  // namespace strata::coordinator
