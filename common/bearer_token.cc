#include "common/bearer_token.h"

#include <sys/stat.h>

#include <cstdlib>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "grpcpp/support/client_interceptor.h"

namespace vitte::task {
namespace {

class BearerInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit BearerInterceptor(const std::string& header) : header_(header) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::
                PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", header_);
    }
    methods->Proceed();
  }

 private:
  const std::string& header_;  // owned by the factory, which outlives calls
};

class BearerFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerFactory(std::string token)
      : header_(absl::StrCat("Bearer ", token)) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* /*info*/) override {
    return new BearerInterceptor(header_);  // gRPC takes ownership
  }

 private:
  const std::string header_;
};

absl::StatusOr<std::string> ReadTokenFile(const std::string& path,
                                          absl::string_view what) {
  absl::StatusOr<std::string> content = ReadFile(path);
  if (!content.ok()) {
    return absl::Status(content.status().code(),
                        absl::StrCat(what, ": ", content.status().message()));
  }
  std::string token(absl::StripAsciiWhitespace(*content));
  if (token.empty() || token.find_first_of(" \t\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": \"", path,
        "\" must hold one token (as printed by vitte-taskd token create)"));
  }
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    std::cerr << "warning: " << what << " \"" << path
              << "\" may be read by other users (chmod 600 it)\n";
  }
  return token;
}

}  // namespace

void AddTokenFileFlag(FlagParser& flags, std::string& path, bool env_defaults) {
  flags.AddString(
      "token-file", &path,
      absl::StrCat("file holding the bearer token to present (for a daemon "
                   "run with --auth tokens)",
                   env_defaults ? "; default $VITTE_TOKEN_FILE, else the "
                                  "token in $VITTE_TOKEN"
                                : ""));
}

absl::StatusOr<std::string> LoadClientToken(const std::string& path,
                                            bool use_env) {
  if (!path.empty()) return ReadTokenFile(path, "--token-file");
  if (!use_env) return std::string();
  if (const char* file = std::getenv("VITTE_TOKEN_FILE");
      file != nullptr && *file != '\0') {
    return ReadTokenFile(file, "$VITTE_TOKEN_FILE");
  }
  if (const char* token = std::getenv("VITTE_TOKEN"); token != nullptr) {
    return std::string(absl::StripAsciiWhitespace(token));
  }
  return std::string();
}

std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>
BearerTokenInterceptor(std::string token) {
  return std::make_unique<BearerFactory>(std::move(token));
}

}  // namespace vitte::task
