// s3bd's entry point.
#include "s3bd/cli/cli.h"

int main(int argc, char** argv) { return s3bd::RunCli(argc, argv); }
