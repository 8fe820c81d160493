// vitte-task: the command line client.
#include "client/cli.h"

int main(int argc, char** argv) { return vitte::task::RunCli(argc, argv); }
