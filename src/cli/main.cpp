// s3bd's entry point.
#include "s3bd/cli/cli.h"
#include "s3bd/s3/http_client.h"

int main(int argc, char** argv) {
  // libcurl's global state, once, before any thread exists.
  s3bd::s3::InitHttpGlobal();
  return s3bd::RunCli(argc, argv);
}
