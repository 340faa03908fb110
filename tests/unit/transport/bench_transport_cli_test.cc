// `strata bench-transport` end to end: both transports print sane JSON for a small shape, and
// bad flags fail with one line.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/run_process.h"

namespace strata::testing {
namespace {

ProcessResult Strata(std::vector<std::string> args) {
  args.insert(args.begin(), STRATA_CLI_PATH);
  return RunProcess(args);
}

TEST(CliBenchTransport, PrintsSaneJsonForEachTransport) {
  setenv("UCX_TLS", "tcp", 1);  // inherited by the child
  for (const char* transport : {"loopback", "ucx"}) {
    ProcessResult r = Strata({"bench-transport", "--transport", transport, "--rows", "8", "--cols",
                              "256", "--dtype", "fp32", "--iters", "30", "--warmup", "3",
                              "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("transport"), transport);
    EXPECT_EQ(j.at("iters"), 30);
    ASSERT_EQ(j.at("results").size(), 1u);
    const nlohmann::json& s = j.at("results")[0];
    EXPECT_EQ(s.at("bytes"), 8 * 256 * 4);
    EXPECT_EQ(s.at("verified"), true);
    const nlohmann::json& us = s.at("one_way_us");
    EXPECT_GT(us.at("min").get<double>(), 0);
    EXPECT_LE(us.at("min").get<double>(), us.at("p50").get<double>());
    EXPECT_LE(us.at("p50").get<double>(), us.at("p99").get<double>());
    EXPECT_LE(us.at("p99").get<double>(), us.at("max").get<double>());
    EXPECT_LE(us.at("min").get<double>(), us.at("mean").get<double>());
    EXPECT_LE(us.at("mean").get<double>(), us.at("max").get<double>());
    EXPECT_GT(s.at("gb_per_s").get<double>(), 0);
    EXPECT_EQ(s.at("ceiling").at("what"), "memcpy");
    EXPECT_GT(s.at("ceiling").at("gb_per_s").get<double>(), 0);
    EXPECT_FALSE(j.at("ceiling_note").get<std::string>().empty());
  }
}

TEST(CliBenchTransport, UnknownTransportIsAOneLineError) {
  ProcessResult r = Strata({"bench-transport", "--transport", "carrier-pigeon"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("--transport must be loopback, ucx, nccl or ucx-staged"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace strata::testing
