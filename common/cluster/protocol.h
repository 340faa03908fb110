// Constants of the control protocol (common/proto/strata_control.proto) that both sides
// must agree on. Thread-safety: constants.
#pragma once

#include <chrono>
#include <cstdint>

namespace strata::cluster {

// Bump on any change to strata_control.proto or to the meaning of a field that an older
// peer would misread; a worker of another version is refused at registration.
// 2: Connect goes to every stage (the last too), for links whose ends join together (NCCL).
// 3: an Assignment carries the whole placement (spread pinned bytes, GPU prefixes, slots,
//    ring, embedding home) instead of prefetch distances; Capabilities.gpu_bytes excludes
//    the workspace.
// 4: sampled tokens may carry log-probabilities (Sampling.logprobs, SampledToken.logprob).
// 5: a stopping worker sends Leaving and waits for Shutdown (an older coordinator would drop
//    Leaving, and the worker would wait out its drain timeout).
// 6: speculative decoding (the Assignment's draft model, OpenSequence.draft_context, token
//    trees and kept nodes in SeqWork, StepResult.speculative); StepFailed.link_fault.
inline constexpr uint32_t kProtocolVersion = 6;
// The most alternatives a sampled token's log-probabilities list (OpenAI's top_logprobs cap).
inline constexpr int32_t kMaxTopLogprobs = 20;

// How often workers send Heartbeat, and how many may be missed before the worker is lost.
inline constexpr std::chrono::milliseconds kHeartbeatInterval{1000};
inline constexpr int kMissedHeartbeatsForLoss = 5;

// gRPC (HTTP/2) keepalive on the control stream, both ends: a ping every kKeepaliveInterval,
// the connection closed when one goes unanswered for kKeepaliveTimeout, so a dead peer or a
// cut link ends the stream within their sum even where no TCP reset ever arrives (the worker
// then reconnects; the coordinator, which would also miss the heartbeats, loses the worker).
inline constexpr std::chrono::milliseconds kKeepaliveInterval{2000};
inline constexpr std::chrono::milliseconds kKeepaliveTimeout{3000};

}  // namespace strata::cluster
