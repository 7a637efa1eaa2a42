#include "sim/workload/servegen.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "sim/core/errors.h"
#include "sim/workload/factory.h"
#include "tests/unique_temp_dir.h"

namespace slsim {
namespace fs = std::filesystem;

namespace {
// One unique folder per label for the whole test run.
fs::path folder_for(const std::string& label) {
  static std::map<std::string, fs::path> folders;
  fs::path& folder = folders[label];
  if (folder.empty()) folder = testing_support::unique_temp_dir(label);
  return folder;
}
fs::path write_client(const std::string& name, const std::string& body, const std::string& folder = "servegen") {
  const fs::path dir = folder_for(folder);
  std::ofstream(dir / name, std::ios::binary) << body;
  return dir / name;
}
}  // namespace

// Per window: the rate (count / 600 s) within 4 standard errors (a renewal process's count
// has variance ≈ rate·T·cv²), the gap CV within 5 %, nothing in an empty window.
TEST(ServeGen, EachWindowReproducesItsRateAndCv) {
  const auto file = write_client("chunk-7-trace.csv",
                                 "0,50,2,Gamma,0.25,0.08\r\n"
                                 "600,0,0,,0,0\r\n"
                                 "1200,20,1.5,Weibull,0.7,0.04\r\n"
                                 "1800,30,0.5,Gamma,4,0.008\r\n");
  const ModelCatalogue catalogue{{"m"}, {4096}};
  SourceSpec spec;
  spec.kind = "servegen";
  spec.model = "m";
  ModelAssigner assigner(spec, catalogue, RandomStream(1), "s");
  ServeGenSource source(read_servegen(file), catalogue, assigner, LengthSampler(spec, "", RandomStream(2)),
                        RandomStreams(5), "arrivals/0", 0, 1);
  std::vector<std::vector<double>> windows(4);
  while (auto r = source.next())
    windows[static_cast<size_t>(r->arrival.seconds() / 600)].push_back(r->arrival.seconds());
  const double rates[] = {50, 0, 20, 30}, cvs[] = {2, 0, 1.5, 0.5};
  for (size_t w = 0; w < 4; ++w) {
    SCOPED_TRACE(w);
    const double n = static_cast<double>(windows[w].size());
    EXPECT_NEAR(n / 600, rates[w], 4 * std::sqrt(rates[w] * cvs[w] * cvs[w] / 600) + 1e-9);
    if (rates[w] == 0) continue;
    double sum = 0, sum2 = 0;
    for (size_t i = 1; i < windows[w].size(); ++i) {
      const double gap = windows[w][i] - windows[w][i - 1];
      sum += gap;
      sum2 += gap * gap;
    }
    const double mean = sum / (n - 1);
    EXPECT_NEAR(std::sqrt(sum2 / (n - 1) - mean * mean) / mean, cvs[w], 0.05 * cvs[w]);
  }
}

TEST(ServeGen, ClientsAreMergedInTimeOrderAndMappedToModelsById) {
  write_client("chunk-1-trace.csv", "0,5,1,Gamma,1,0.2\n", "servegen_merge");
  write_client("chunk-2-trace.csv", "0,5,1,Weibull,1,0.2\n", "servegen_merge");
  const ModelCatalogue catalogue{{"x", "y"}, {4096, 4096}};
  SourceSpec spec;
  spec.kind = "servegen";
  spec.path = folder_for("servegen_merge").string();
  spec.assign = "map";
  spec.model_map = {{"chunk-1-trace", "y"}, {"chunk-2-trace", "x"}};
  spec.duration_s = 100;
  const auto source = make_source(spec, catalogue, RandomStreams(1), 0);
  Time last;
  int per_model[2] = {0, 0};
  while (auto r = source->next()) {
    EXPECT_GE(r->arrival, last);
    last = r->arrival;
    ++per_model[r->model.index()];
  }
  EXPECT_LT(last.seconds(), 100);
  EXPECT_NEAR(per_model[0], 500, 100);  // 5/s for 100 s each
  EXPECT_NEAR(per_model[1], 500, 100);
}

TEST(ServeGen, StartSkipsEarlierWindowsWithoutGeneratingThem) {
  const auto file =
      write_client("chunk-9-trace.csv", "0,1000,1,Gamma,1,0.001\n600,2,1,Gamma,1,0.5\n", "servegen_start");
  const ModelCatalogue catalogue{{"m"}, {4096}};
  SourceSpec spec;
  spec.kind = "servegen";
  spec.model = "m";
  spec.path = file.string();
  spec.start_s = 600;
  const auto source = make_source(spec, catalogue, RandomStreams(1), 0);
  int n = 0;
  while (auto r = source->next()) ++n;
  EXPECT_NEAR(n, 1200, 150);
}

TEST(ServeGen, BundledMLargeHas162ClientsOf2016Windows) {
  const auto clients = read_servegen(fs::path(SLSIM_SOURCE_DIR) / "traces/servegen/m-large");
  ASSERT_EQ(clients.size(), 162u);
  EXPECT_EQ(clients[0].id, "chunk-0-trace");
  EXPECT_EQ(clients[1].id, "chunk-1-trace");
  EXPECT_EQ(clients[2].id, "chunk-2-trace");
  for (const auto& c : clients) EXPECT_EQ(c.windows.size(), 2016u) << c.id;
}

TEST(ServeGen, BadLinesNameFileLineAndField) {
  const auto file = write_client("bad-trace.csv", "0,1,1,Gamma,1,1\n600,x,1,Gamma,1,1\n", "servegen_bad");
  try {
    read_servegen_client(file);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("bad-trace.csv:2: field rate_req_per_s"));
  }
}

}  // namespace slsim
