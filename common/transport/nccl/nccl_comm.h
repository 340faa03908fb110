// Internal to nccl/: the 2-rank NCCL communicator under one link (rank 0 the sending stage,
// rank 1 the receiving one), its unique id as text, and the bounded waits on it.
//
// The communicator is non-blocking: every host wait polls (an event, or NCCL's progress) and
// NCCL's async error up to its deadline, and on a timeout or a peer's error aborts the
// communicator (ncclCommAbort, which ends its pending operations) and returns kUnavailable
// instead of hanging. A device fault, not a peer's, stops the process (device_check.h).
// Thread-safety: one thread at a time per communicator (NCCL serialises operations on it).
#pragma once

#include <nccl.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "common/backend/backend.h"
#include "common/util/status.h"

namespace strata::transport {

// A fresh ncclUniqueId (NCCL's bootstrap root then runs in this process) as
// 2 * NCCL_UNIQUE_ID_BYTES hex digits.
StatusOr<std::string> CreateNcclUniqueIdHex();
std::string NcclUniqueIdToHex(const ncclUniqueId& id);
StatusOr<ncclUniqueId> NcclUniqueIdFromHex(std::string_view hex);

class NcclComm {
 public:
  // Joins the link's communicator `id_hex` as `rank` (0 or 1) on the backend's device, which
  // it makes current on the calling thread, then exchanges a byte with the peer on `stream`
  // through `scratch` (2 bytes of device memory): P2P connections are made by the first send
  // and receive, so none is left for the first message or a receiver's short poll. The peer
  // must join within `timeout`.
  static StatusOr<std::unique_ptr<NcclComm>> Join(Backend& backend, std::string_view id_hex,
                                                  int rank, BackendStream& stream,
                                                  std::byte* scratch,
                                                  std::chrono::milliseconds timeout);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  ncclComm_t get() const { return comm_; }
  int peer() const { return 1 - rank_; }
  int device() const { return device_; }

  // Checks an NCCL call's result; a non-blocking call in progress is waited for (up to
  // `deadline`). Any failure aborts the communicator and is returned as kUnavailable.
  Status Settle(ncclResult_t result, const char* what,
                std::chrono::steady_clock::time_point deadline);
  // Waits until `event` completed, polling NCCL's async error; aborts on error or deadline.
  Status WaitEvent(BackendEvent& event, const char* what,
                   std::chrono::steady_clock::time_point deadline);
  // Like WaitEvent, but the deadline passing is not an error: false, and nothing aborted.
  StatusOr<bool> PollEvent(BackendEvent& event, const char* what,
                           std::chrono::steady_clock::time_point deadline);
  // Aborts the communicator (its pending operations end) and records `why`; returns the
  // first error recorded.
  Status Abort(Status why);
  // The error that aborted the communicator, or OK.
  const Status& failed() const { return failed_; }

 private:
  NcclComm(Backend& backend, int rank) : backend_(backend), rank_(rank) {}
  Status ConnectPeer(BackendStream& stream, std::byte* scratch,
                     std::chrono::steady_clock::time_point deadline);
  // Polls `done` until it returns true (true), the deadline passes (false), or NCCL reports
  // an error (aborts).
  template <typename Done>
  StatusOr<bool> Poll(Done&& done, const char* what,
                      std::chrono::steady_clock::time_point deadline);
  // Poll, with the deadline passing an error: aborts.
  template <typename Done>
  Status Wait(Done&& done, const char* what, std::chrono::steady_clock::time_point deadline);

  Backend& backend_;
  const int rank_;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  Status failed_;
};

}  // namespace strata::transport
