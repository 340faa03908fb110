// Certificates for TLS tests, made at test time with the openssl command (never committed): a
// CA, a server certificate for 127.0.0.1 and a client certificate, both signed by the CA, and
// a second CA that signed neither. EC P-256 keys, valid for a day.
// Thread-safety: one call per directory.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "tests/support/run_process.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {

struct TestCertificates {
  std::string ca;            // the CA's certificate (PEM file path)
  std::string server_cert;   // CN and subjectAltName 127.0.0.1, signed by `ca`
  std::string server_key;
  std::string client_cert;   // CN strata-test-worker, signed by `ca`
  std::string client_key;
  std::string other_ca;      // a CA that signed none of them
};

// Writes the files into `dir`; a failure of openssl fails the test.
inline TestCertificates MakeTestCertificates(const TempDir& dir) {
  TestCertificates c;
  c.ca = dir.File("ca.pem");
  c.server_cert = dir.File("server.pem");
  c.server_key = dir.File("server.key");
  c.client_cert = dir.File("client.pem");
  c.client_key = dir.File("client.key");
  c.other_ca = dir.File("other-ca.pem");
  const std::string d = dir.File("");
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string script =
      "set -e; cd '" + d + "'\n"
      "openssl req -x509 " + key + " -keyout ca.key -out ca.pem -days 1 -subj /CN=strata-test-ca\n"
      "openssl req -x509 " + key + " -keyout other-ca.key -out other-ca.pem -days 1 "
      "-subj /CN=strata-other-ca\n"
      "printf 'subjectAltName=IP:127.0.0.1\\n' > server.ext\n"
      "openssl req " + key + " -keyout server.key -out server.csr -subj /CN=127.0.0.1\n"
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile server.ext -out server.pem\n"
      "openssl req " + key + " -keyout client.key -out client.csr -subj /CN=strata-test-worker\n"
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
      "-out client.pem\n";
  const ProcessResult r = RunProcess({"/bin/sh", "-c", script});
  EXPECT_EQ(r.exit_code, 0) << "openssl failed (install it: scripts/deps.sh)\n" << r.err;
  return c;
}

}  // namespace strata::testing
