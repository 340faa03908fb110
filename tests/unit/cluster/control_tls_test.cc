// The control plane over TLS with real processes and certificates made at test time
// (tests/support/test_certificates.h): a coordinator with --tls-cert/--tls-key and workers
// with --tls-ca serve; with --tls-ca on the coordinator too (mutual TLS) workers need their
// own certificate; a worker that trusts another CA, or speaks plain text, never registers; the
// HTTP API over TLS (--http-tls-cert/--http-tls-key) serves HTTPS clients; and both binaries
// refuse missing, unreadable or mismatched certificate files at start-up with
// the flag and the path in the message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "tests/support/run_process.h"
#include "tests/support/test_certificates.h"
#include "tests/unit/cluster/cluster_harness.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using namespace std::chrono_literals;

const json kGreedy = {{"prompt", "The capital of France is"}, {"max_tokens", 4},
                      {"temperature", 0}};

class ControlTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setenv("UCX_TLS", "tcp", 1); }
  TempDir dir_{"control_tls"};
  TestCertificates certs_ = MakeTestCertificates(dir_);
};

TEST_F(ControlTlsTest, WorkersThatTrustTheCoordinatorsCertificateServe) {
  ClusterLayout layout;
  layout.coordinator_args = {"--tls-cert", certs_.server_cert, "--tls-key", certs_.server_key};
  layout.worker_args = {{"--tls-ca", certs_.ca}, {"--tls-ca", certs_.ca}};
  TestCluster cluster(layout);
  ASSERT_TRUE(cluster.WaitReady(120s));
  EXPECT_EQ(cluster.Complete(kGreedy).first, 200);
}

TEST_F(ControlTlsTest, MutualTlsAdmitsOnlyWorkersWithACertificate) {
  ClusterLayout layout;
  layout.workers = 1;
  layout.coordinator_args = {"--tls-cert", certs_.server_cert, "--tls-key", certs_.server_key,
                             "--tls-ca", certs_.ca};
  layout.worker_args = {{"--tls-ca", certs_.ca, "--tls-cert", certs_.client_cert, "--tls-key",
                         certs_.client_key}};
  TestCluster cluster(layout);
  ASSERT_TRUE(cluster.WaitReady(120s));
  EXPECT_EQ(cluster.Complete(kGreedy).first, 200);
}

TEST_F(ControlTlsTest, WorkersThatDoNotTrustItOrSpeakPlainTextNeverRegister) {
  for (const std::vector<std::string>& worker_args :
       {std::vector<std::string>{"--tls-ca", certs_.other_ca}, std::vector<std::string>{}}) {
    ClusterLayout layout;
    layout.workers = 1;
    layout.coordinator_args = {"--tls-cert", certs_.server_cert, "--tls-key", certs_.server_key};
    layout.worker_args = {worker_args};
    TestCluster cluster(layout);
    std::this_thread::sleep_for(8s);
    EXPECT_EQ(cluster.Field("workers_registered"), 0) << cluster.Logs();
    EXPECT_TRUE(cluster.children()[1].Running());  // it waits for a coordinator it can trust
    EXPECT_THAT(cli::LogTail(cluster.children()[1].log_path(), 20),
                HasSubstr("waiting for the coordinator"));
  }
}

TEST_F(ControlTlsTest, TheHttpApiOverTlsServesHttpsClientsAndTellsPlainOnesToUseHttps) {
  ClusterLayout layout;
  layout.workers = 1;
  layout.coordinator_args = {"--http-tls-cert", certs_.server_cert, "--http-tls-key",
                             certs_.server_key};
  TestCluster cluster(layout);
  httplib::SSLClient client("127.0.0.1", cluster.http_port());
  client.set_ca_cert_path(certs_.ca.c_str());
  client.enable_server_certificate_verification(true);
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  bool ready = false;
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    const httplib::Result r = client.Get("/ready");
    ready = r && r->status == 200;
    if (!ready) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(ready) << cluster.Logs();
  const httplib::Result r = client.Post("/v1/completions", kGreedy.dump(), "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["usage"]["completion_tokens"], 4);
  const auto [status, body] = cluster.Complete(kGreedy);  // plain HTTP
  EXPECT_EQ(status, 400);
}

TEST_F(ControlTlsTest, BadCertificateFilesAreStartUpErrorsNamingFlagAndPath) {
  const std::string token = dir_.File("token");
  {
    std::FILE* f = std::fopen(token.c_str(), "w");
    std::fputs("test-cluster-token\n", f);
    std::fclose(f);
  }
  const std::string missing = dir_.File("missing.pem");
  struct Case {
    const char* binary;
    std::vector<std::string> flags;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {STRATA_COORDINATOR_PATH, {"--tls-cert", missing, "--tls-key", certs_.server_key},
       "--tls-cert " + missing},
      {STRATA_COORDINATOR_PATH, {"--tls-cert", certs_.server_cert, "--tls-key", certs_.client_key},
       "--tls-key " + certs_.client_key + " is not the private key of --tls-cert"},
      {STRATA_COORDINATOR_PATH, {"--tls-cert", certs_.server_key, "--tls-key", certs_.server_key},
       "holds no PEM certificate"},
      {STRATA_COORDINATOR_PATH, {"--tls-cert", certs_.server_cert}, "--tls-cert needs --tls-key"},
      {STRATA_COORDINATOR_PATH,
       {"--http-tls-cert", certs_.server_cert, "--http-tls-key", certs_.client_key},
       "--http-tls-key " + certs_.client_key + " is not the private key of --http-tls-cert"},
      {STRATA_COORDINATOR_PATH, {"--http-tls-ca", certs_.ca}, "need --http-tls-cert"},
      {STRATA_WORKER_PATH, {"--tls-ca", missing}, "--tls-ca " + missing},
      {STRATA_WORKER_PATH, {"--tls-cert", certs_.client_cert, "--tls-key", certs_.client_key},
       "need --tls-ca"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {c.binary, "--model", FixturePackDir(), "--token-file", token};
    if (c.binary == std::string(STRATA_WORKER_PATH)) {
      argv.insert(argv.end(), {"--metrics-address", "127.0.0.1:0"});
    }
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    const ProcessResult r = RunProcess(argv);
    EXPECT_EQ(r.exit_code, 1) << c.expected << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.expected));
  }
}

}  // namespace
}  // namespace strata::testing
