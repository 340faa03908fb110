// Activation links over NCCL point-to-point: device memory from GPU to GPU (NVLink, PCIe,
// InfiniBand/RoCE, or NCCL's socket transport), ordered with the backend's compute stream.
// Each link is a 2-rank communicator, rank 0 the sending stage, rank 1 the receiving one.
//
// Set-up: Listen makes the link's ncclUniqueId (NCCL's bootstrap root then runs in this, the
// receiving, process) and the resources of its receiving end; its address is
// "nccl:<GPU UUID, 32 hex digits>:<unique id, hex>", which the coordinator relays to the
// sending stage. Connect refuses an address whose GPU is its own (NCCL refuses two ranks of
// one communicator on one GPU, saying only "invalid usage"), then joins; the receiver's Open
// joins too, and both must run at once, each within the link timeout.
// Why the receiving stage makes the id: ncclGetUniqueId starts the bootstrap root in the
// calling process, so the coordinator would otherwise have to link NCCL and CUDA.
// Built only where CUDA and NCCL are (library strata_nccl).
// Thread-safety: as transport.h.
#pragma once

#include <memory>

#include "common/backend/backend.h"
#include "common/transport/transport.h"

namespace strata::transport {

// Links on `backend`'s GPU (the backend must outlive the transport and its links).
// kInvalidArgument for a backend without a CUDA device.
StatusOr<std::unique_ptr<Transport>> CreateNcclTransport(Backend& backend,
                                                         const LinkOptions& options);

}  // namespace strata::transport
