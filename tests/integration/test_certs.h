// Certificates for the TLS tests, made at test time with Debian's openssl
// command (.ci/install-deps.sh installs it).
#ifndef VITTE_TESTS_INTEGRATION_TEST_CERTS_H_
#define VITTE_TESTS_INTEGRATION_TEST_CERTS_H_

#include <string>

namespace vitte::task::integration {

// Writes in `dir` (PEM files, valid two days): a CA (ca.pem, ca.key); a
// server certificate signed by it for IP:127.0.0.1 and DNS:localhost
// (server.pem, server.key); a client certificate signed by it (client.pem,
// client.key); and a second CA that signed neither (other-ca.pem). Records
// a fatal failure if openssl is missing or fails (check with
// ASSERT_NO_FATAL_FAILURE).
void MakeTestCertificates(const std::string& dir);

}  // namespace vitte::task::integration

#endif  // VITTE_TESTS_INTEGRATION_TEST_CERTS_H_
