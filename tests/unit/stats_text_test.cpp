// The stats file's text renderer (src/core/stats_text.cpp), from a stats
// tree built by hand: what each layer's keys read as.
#include <gtest/gtest.h>

#include <sstream>

#include "s3bd/core/stats.h"

namespace s3bd {
namespace {

std::string Render(const StatsJson& layer) {
  std::ostringstream os;
  RenderLayerText(os, layer);
  return os.str();
}

TEST(StatsText, CodecLayer) {
  StatsJson j;
  j["layer"] = "codec";
  j["ops"]["read"] = {{"ops", 2}, {"bytes", 8192}, {"errors", 0}, {"avg_ms", 0.5}};
  j["compression"] = "zstd:3";
  j["encryption"] = "aes-256-gcm-v1";
  j["encoded"] = {{"blocks", 3}, {"bytes_in", 12288}, {"bytes_out", 3000}, {"raw", 1}, {"deflate", 0},
                  {"zstd", 2}, {"seconds", 0.25}};
  j["decoded"] = {{"blocks", 2}, {"bytes_in", 2000}, {"bytes_out", 8192}, {"seconds", 0.125}};
  j["compression_ratio"] = 4.096;
  j["corrupt"] = 1;
  j["auth_failures"] = 2;
  const std::string text = Render(j);
  EXPECT_EQ(text.rfind("[codec]\n", 0), 0u) << text;
  EXPECT_NE(text.find("  read                2 ops             8192 bytes          0 errors      0.500 ms avg\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  compression       zstd:3 (ratio 4.10 of what was encoded)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  encryption        aes-256-gcm-v1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  encoded           3 blocks, 12288 bytes -> 3000 bytes (1 raw, 0 deflate, 2 zstd) in 0.250 s\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  decoded           2 blocks, 2000 bytes -> 8192 bytes in 0.125 s\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("  failed            1 corrupt, 2 failed authentication\n"), std::string::npos) << text;
}

TEST(StatsText, MapLayer) {
  StatsJson j;
  j["layer"] = "map";
  j["surveyed"] = true;
  j["survey"] = "done";
  j["survey_s"] = 1.25;
  j["surveyed_blocks"] = 1024;
  j["source"] = "cache-file";
  j["known_present"] = 10;
  j["known_absent"] = 1014;
  j["unknown"] = 0;
  j["reads_saved"] = 7;
  j["zeros_saved"] = 1000;
  const std::string text = Render(j);
  EXPECT_EQ(text.rfind("[map]\n", 0), 0u) << text;
  EXPECT_NE(text.find("  survey            done in 1.2 s (1024 blocks surveyed)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  source            cache-file\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  blocks            10 may hold data, 1014 known absent, 0 unknown\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("  requests saved    7 reads, 1000 zeros\n"), std::string::npos) << text;
  j["survey"] = "running";
  EXPECT_NE(Render(j).find("  survey            running (1024 blocks surveyed)\n"), std::string::npos) << Render(j);
}

// A layer the renderer does not know prints its name and operations only.
TEST(StatsText, UnknownLayerPrintsItsOps) {
  StatsJson j;
  j["layer"] = "newlayer";
  j["ops"]["write"] = {{"ops", 1}, {"bytes", 10}, {"errors", 1}, {"avg_ms", 2.0}};
  j["something"] = 5;
  EXPECT_EQ(Render(j),
            "[newlayer]\n  write               1 ops               10 bytes          1 errors      2.000 ms avg\n");
}

}  // namespace
}  // namespace s3bd
