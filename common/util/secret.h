// Secrets (the cluster token, the API key): made from the system's entropy, compared without
// leaking them through timing.
// Thread-safety: functions without shared state.
#pragma once

#include <string>
#include <string_view>

namespace strata {

// True when `presented` equals `expected`. The time taken depends only on presented.size()
// (which the presenter knows), never on where the two first differ nor on the expected
// secret's length or content.
bool SecretsEqual(std::string_view presented, std::string_view expected);

// 32 bytes from std::random_device as 64 lowercase hexadecimal digits (one word, fit for a
// token file).
std::string RandomSecret();

}  // namespace strata
