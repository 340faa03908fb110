// The data plane's handshake: the first thing a sending stage says on a new link is a hello
// carrying the cluster token; the receiving stage accepts the link only when the token is its
// own (compared in constant time) and refuses it otherwise, so a process without the token
// can neither feed activations into a stage nor hold its link. Transports whose links are
// made through the control plane instead (NCCL: the receiver's communicator id reaches only
// the sender the coordinator names) do not use it.
// Thread-safety: values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/util/status.h"

namespace strata::transport {

// Hello wire layout (integers little-endian):
//   offset size field
//        0    4 magic "SHLO" (0x4f4c4853 read as little-endian u32)
//        4    2 hello version (kHelloVersion)
//        6    2 token bytes n
//        8    n the cluster token
inline constexpr uint32_t kHelloMagic = 0x4f4c4853;
inline constexpr uint16_t kHelloVersion = 1;
inline constexpr size_t kHelloFixedBytes = 8;
inline constexpr size_t kMaxHelloTokenBytes = 4096;
inline constexpr size_t kMaxHelloBytes = kHelloFixedBytes + kMaxHelloTokenBytes;

// The hello presenting `token`; kInvalidArgument when it is longer than kMaxHelloTokenBytes.
StatusOr<std::vector<std::byte>> EncodeHello(std::string_view token);

// OK when `hello` is a well-formed hello presenting `token`. Otherwise kFailedPrecondition
// (no token, a wrong token) or kInvalidArgument (not a hello, another version), with a
// message saying what the peer did wrong that never contains either token.
Status CheckHello(std::span<const std::byte> hello, std::string_view token);

}  // namespace strata::transport
