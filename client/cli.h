// The vitte-task command line: one function per subcommand, over the
// client library (and, for `run`, an embedded coordinator and worker).
#ifndef VITTE_CLIENT_CLI_H_
#define VITTE_CLIENT_CLI_H_

namespace vitte::task {

// Runs `vitte-task ARGS...`; returns the process exit code: 0 success, 1 the
// operation or the graph failed, 2 usage error.
int RunCli(int argc, char** argv);

}  // namespace vitte::task

#endif  // VITTE_CLIENT_CLI_H_
