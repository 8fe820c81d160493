#include "tests/integration/test_certs.h"

#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace vitte::task::integration {
namespace {

constexpr char kOpenssl[] = "/usr/bin/openssl";

class CertMaker {
 public:
  explicit CertMaker(std::string dir) : dir_(std::move(dir)) {}

  std::string Path(const std::string& name) const {
    return absl::StrCat(dir_, "/", name);
  }

  // Runs openssl with `args` (absolute paths), bounded.
  void Openssl(std::vector<std::string> args) {
    args.insert(args.begin(), kOpenssl);
    auto process =
        Process::Start(args, Path(absl::StrCat("openssl.", ++runs_)));
    ASSERT_TRUE(process.ok()) << process.status();
    absl::StatusOr<int> code = (*process)->WaitForExit(absl::Seconds(30));
    ASSERT_TRUE(code.ok()) << "openssl did not finish";
    ASSERT_EQ(*code, 0) << (*process)->LogsForDiagnosis();
  }

  // NAME.pem and NAME.key: a self-signed CA.
  void MakeCa(const std::string& name) {
    Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             Path(name + ".key"), "-out", Path(name + ".pem"), "-days", "2",
             "-subj", "/CN=vitte-test-" + name, "-addext",
             "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign"});
  }

  // NAME.pem and NAME.key, signed by ca.pem, with the extensions `ext`.
  void MakeLeaf(const std::string& name, const std::string& ext) {
    WriteFileOrFail(Path(name + ".ext"), ext);
    Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", Path(name + ".key"), "-out",
             Path(name + ".csr"), "-subj", "/CN=vitte-test-" + name});
    Openssl({"x509", "-req", "-in", Path(name + ".csr"), "-CA", Path("ca.pem"),
             "-CAkey", Path("ca.key"), "-set_serial", absl::StrCat(++serial_),
             "-days", "2", "-out", Path(name + ".pem"), "-extfile",
             Path(name + ".ext")});
  }

 private:
  const std::string dir_;
  int runs_ = 0;
  int serial_ = 1;
};

}  // namespace

void MakeTestCertificates(const std::string& dir) {
  ASSERT_EQ(access(kOpenssl, X_OK), 0)
      << kOpenssl << " is missing: .ci/install-deps.sh installs openssl";
  CertMaker maker(dir);
  ASSERT_NO_FATAL_FAILURE(maker.MakeCa("ca"));
  ASSERT_NO_FATAL_FAILURE(maker.MakeCa("other-ca"));
  ASSERT_NO_FATAL_FAILURE(maker.MakeLeaf(
      "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth\n"));
  ASSERT_NO_FATAL_FAILURE(
      maker.MakeLeaf("client", "extendedKeyUsage=clientAuth\n"));
}

}  // namespace vitte::task::integration
