#include "worker/fork_exec.h"

#include <unistd.h>

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vitte::task {
namespace {

using ::testing::EndsWith;

TEST(FindProgramTest, LooksUpNamesWithoutSlashInPath) {
  absl::StatusOr<std::string> sh = FindProgram("sh");
  ASSERT_TRUE(sh.ok()) << sh.status();
  EXPECT_THAT(*sh, EndsWith("/sh"));
  EXPECT_EQ(access(sh->c_str(), X_OK), 0);
}

TEST(FindProgramTest, TakesPathsWithSlashAsGiven) {
  EXPECT_EQ(FindProgram("./x").value_or(""), "./x");
  EXPECT_EQ(FindProgram("/no/such/prog").value_or(""), "/no/such/prog");
}

TEST(FindProgramTest, MissingProgramIsNotFound) {
  absl::StatusOr<std::string> missing = FindProgram("vitte-no-such-program");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "cannot start \"vitte-no-such-program\": No such file or "
            "directory");
  EXPECT_FALSE(FindProgram("").ok());
}

TEST(LookUpRunAsUserTest, UnknownUserOrNotRootIsAnError) {
  absl::StatusOr<RunAsUser> user = LookUpRunAsUser("vitte-no-such-user");
  ASSERT_FALSE(user.ok());
  if (geteuid() == 0) {
    EXPECT_EQ(user.status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(user.status().message(), "no user \"vitte-no-such-user\"");
  } else {
    EXPECT_EQ(user.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(user.status().message()),
                ::testing::HasSubstr("only a worker running as root"));
  }
}

TEST(LookUpRunAsUserTest, FindsRootWithItsGroups) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  absl::StatusOr<RunAsUser> root = LookUpRunAsUser("root");
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->uid, 0u);
  EXPECT_EQ(root->gid, 0u);
  EXPECT_THAT(root->groups, ::testing::Contains(0u));
}

}  // namespace
}  // namespace vitte::task
