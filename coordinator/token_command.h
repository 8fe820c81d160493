// `vitte-taskd token create|list|revoke`: managing a daemon's tokens in its
// database, whether the daemon runs or not.
#ifndef VITTE_COORDINATOR_TOKEN_COMMAND_H_
#define VITTE_COORDINATOR_TOKEN_COMMAND_H_

#include <iosfwd>

namespace vitte::task {

// Runs `vitte-taskd token ...`: argv[0] is the program and argv[1]
// "token". Writes results to `out` (a new token's text alone on its line,
// so that `> file` keeps exactly it) and messages to `err`. Returns the
// exit code: 0, 1 when the command failed, 2 for bad usage.
int RunTokenCommand(int argc, char** argv, std::ostream& out,
                    std::ostream& err);

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_TOKEN_COMMAND_H_
