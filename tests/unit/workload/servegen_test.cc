#include "sim/workload/servegen.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

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

// Every request of a source, drawn until its end.
std::vector<Request> drain(RequestSource& source) {
  std::vector<Request> requests;
  while (auto r = source.next()) requests.push_back(std::move(*r));
  return requests;
}

// A one-model servegen source over `path` with the default fallback lengths (512 / 128).
std::vector<Request> replay(const fs::path& path, uint64_t seed = 1) {
  const ModelCatalogue catalogue{{"m"}, {100000}};
  SourceSpec spec;
  spec.kind = "servegen";
  spec.model = "m";
  spec.path = path.string();
  auto source = make_source(spec, catalogue, RandomStreams(seed), 0);
  return drain(*source);
}

// The InputError message of reading a client whose dataset is `dataset`.
std::string dataset_error(const std::string& label, const std::string& dataset) {
  const auto trace = write_client("chunk-3-trace.csv", "0,1,1,Gamma,1,1\n", label);
  write_client("chunk-3-dataset.json", dataset, label);
  try {
    read_servegen_client(trace);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
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
                        RandomStreams(5), "/0", 0, 1);
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

// {100: 0.25, 200: 0.75} has mean 175 and standard deviation 43.3: over ~30,000 requests the
// sample mean is within 2 tokens (8 standard errors), and no value outside the support appears.
TEST(ServeGenDataset, LengthsComeOnlyFromThePmfSupportAndConvergeToItsMean) {
  const auto trace = write_client("chunk-1-trace.csv", "0,50,1,Gamma,1,0.02\n", "dataset_pmf");
  write_client("chunk-1-dataset.json",
               R"({"0": {"input_tokens": "{100: 0.25, 200: 0.75}", "output_tokens": "{10: 0.5, 30: 0.5}",
                         "reason_ratio": "{0.0: 0.5, 0.5: 0.5}"}})",
               "dataset_pmf");
  const auto requests = replay(trace);
  ASSERT_GT(requests.size(), 25000u);
  double input_sum = 0, output_sum = 0;
  for (const Request& r : requests) {
    ASSERT_TRUE(r.input_tokens == 100 || r.input_tokens == 200) << r.input_tokens;
    ASSERT_TRUE(r.output_tokens == 10 || r.output_tokens == 30) << r.output_tokens;
    input_sum += static_cast<double>(r.input_tokens);
    output_sum += static_cast<double>(r.output_tokens);
  }
  const auto n = static_cast<double>(requests.size());
  EXPECT_NEAR(input_sum / n, 175, 2);
  EXPECT_NEAR(output_sum / n, 20, 0.5);
}

// Windows start at 0 and 21600 (6 h); the one at 43200 has no data ("{}"), so arrivals after it
// keep the 21600 window's lengths.
TEST(ServeGenDataset, EachArrivalDrawsFromTheDatasetWindowContainingIt) {
  const auto trace = write_client(
      "chunk-2-trace.csv", "21000,2,1,Gamma,1,0.5\n21600,2,1,Gamma,1,0.5\n43200,2,1,Gamma,1,0.5\n", "dataset_windows");
  write_client("chunk-2-dataset.json",
               R"({"0": {"input_tokens": "{100: 1.0}", "output_tokens": "{10: 1.0}", "reason_ratio": "{0.5: 1.0}"},
                   "21600": {"input_tokens": "{300: 1.0}", "output_tokens": "{30: 1.0}", "reason_ratio": "{}"},
                   "43200": {"input_tokens": "{}", "output_tokens": "{}", "reason_ratio": "{}"}})",
               "dataset_windows");
  int before = 0, after = 0;
  for (const Request& r : replay(trace)) {
    const bool second_window = r.arrival >= Time::from_seconds(21600);
    EXPECT_EQ(r.input_tokens, second_window ? 300 : 100) << r.arrival.seconds();
    EXPECT_EQ(r.output_tokens, second_window ? 30 : 10) << r.arrival.seconds();
    ++(second_window ? after : before);
  }
  EXPECT_GT(before, 800);
  EXPECT_GT(after, 1600);
}

// Arrivals before the first window with data (here the first window, "0", has none) take the
// first window that has data rather than the source's fallback lengths.
TEST(ServeGenDataset, ArrivalsBeforeTheFirstWindowWithDataTakeThatWindow) {
  const auto trace = write_client("chunk-4-trace.csv", "0,2,1,Gamma,1,0.5\n", "dataset_first");
  write_client("chunk-4-dataset.json",
               R"({"0": {"input_tokens": "{}", "output_tokens": "{}"},
                   "21600": {"input_tokens": "{300: 1.0}", "output_tokens": "{30: 1.0}"}})",
               "dataset_first");
  const auto requests = replay(trace);
  ASSERT_GT(requests.size(), 800u);
  for (const Request& r : requests) {
    EXPECT_EQ(r.input_tokens, 300);
    EXPECT_EQ(r.output_tokens, 30);
  }
}

// chunk-1 has a dataset; chunk-2 has none and chunk-3's has no data: validation warns once
// naming 2 of 3 clients and the folder, and their requests take the source's 512 / 128.
TEST(ServeGenDataset, ClientsWithoutLengthsFallBackAndValidationWarnsOnceWithTheirCount) {
  const std::string label = "dataset_fallback";
  write_client("chunk-1-trace.csv", "0,5,1,Gamma,1,0.2\n", label);
  write_client("chunk-1-dataset.json", R"({"0": {"input_tokens": "{100: 1}", "output_tokens": "{10: 1}"}})", label);
  write_client("chunk-2-trace.csv", "0,5,1,Gamma,1,0.2\n", label);
  write_client("chunk-3-trace.csv", "0,5,1,Gamma,1,0.2\n", label);
  write_client("chunk-3-dataset.json", R"({"0": {"input_tokens": "{}", "output_tokens": "{}"}})", label);
  const ModelCatalogue catalogue{{"with", "without"}, {4096, 4096}};
  SourceSpec spec;
  spec.kind = "servegen";
  spec.path = folder_for(label).string();
  spec.assign = "map";
  spec.model_map = {{"chunk-1-trace", "with"}, {"chunk-2-trace", "without"}, {"chunk-3-trace", "without"}};
  spec.duration_s = 100;
  const auto warnings = validate_source(spec, catalogue, "/", "workload.sources[0]");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0],
              ::testing::HasSubstr("workload.sources[0]: 2 of 3 ServeGen clients in " + folder_for(label).string()));
  auto source = make_source(spec, catalogue, RandomStreams(1), 0);
  int with = 0, without = 0;
  for (const Request& r : drain(*source)) {
    const bool own = r.model.index() == 0;
    EXPECT_EQ(r.input_tokens, own ? 100 : 512);
    EXPECT_EQ(r.output_tokens, own ? 10 : 128);
    ++(own ? with : without);
  }
  EXPECT_GT(with, 300);
  EXPECT_GT(without, 600);
}

TEST(ServeGenDataset, AFolderWhoseClientsAllHaveLengthsGivesNoWarning) {
  const std::string label = "dataset_all";
  write_client("chunk-1-trace.csv", "0,5,1,Gamma,1,0.2\n", label);
  write_client("chunk-1-dataset.json", R"({"0": {"input_tokens": "{100: 1}", "output_tokens": "{10: 1}"}})", label);
  const ModelCatalogue catalogue{{"m"}, {4096}};
  SourceSpec spec;
  spec.kind = "servegen";
  spec.model = "m";
  spec.path = folder_for(label).string();
  EXPECT_TRUE(validate_source(spec, catalogue, "/", "workload.sources[0]").empty());
}

TEST(ServeGenDataset, MalformedDatasetsNameTheFileTheWindowAndWhatWasExpected) {
  using ::testing::HasSubstr;
  const std::string window = R"("21600": {"input_tokens": "{1: 1}", )";
  const auto with_output = [&](const std::string& label, const std::string& output) {
    return dataset_error(label, "{" + window + R"("output_tokens": )" + output + "}}");
  };
  const std::string prefix = "chunk-3-dataset.json: window \"21600\", field output_tokens: ";
  EXPECT_THAT(with_output("bad_number", "{\"x\": 1}"), HasSubstr(prefix + "expected a string holding a dict"));
  EXPECT_THAT(with_output("bad_literal", R"("[1, 2]")"), HasSubstr(prefix + "expected a string holding a dict"));
  EXPECT_THAT(with_output("bad_entry", R"("{10: 0.5, 20 0.5}")"),
              HasSubstr(prefix + "entry \"20 0.5\": expected value: probability"));
  EXPECT_THAT(with_output("bad_value", R"("{10: 0.5, ten: 0.5}")"), HasSubstr(prefix + "entry \"ten: 0.5\""));
  EXPECT_THAT(with_output("fraction", R"("{10.5: 1}")"), HasSubstr(prefix + "entry \"10.5: 1\": expected a whole"));
  EXPECT_THAT(with_output("negative", R"("{10: 1.5, 20: -0.5}")"), HasSubstr("expected a probability >= 0"));
  EXPECT_THAT(with_output("sum", R"("{10: 0.5, 20: 0.4}")"), HasSubstr(prefix + "the probabilities sum to 0.9"));
  EXPECT_THAT(with_output("half_empty", R"("{}")"), HasSubstr(prefix + "empty in a window"));
  EXPECT_THAT(dataset_error("missing", "{" + window.substr(0, window.size() - 2) + "}}"),
              HasSubstr("window \"21600\", field output_tokens: missing"));
  EXPECT_THAT(dataset_error("unknown", "{" + window + R"("output_tokens": "{1: 1}", "think": "{1: 1}"}})"),
              HasSubstr("window \"21600\", field think: unknown field; expected input_tokens, output_tokens"));
  EXPECT_THAT(dataset_error("ratio", "{" + window + R"("output_tokens": "{1: 1}", "reason_ratio": "{2: 1}"}})"),
              HasSubstr("field reason_ratio: entry \"2: 1\": expected a ratio in [0, 1]"));
  EXPECT_THAT(dataset_error("key", R"({"six hours": {}})"), HasSubstr("window \"six hours\": expected the window's"));
  EXPECT_THAT(dataset_error("syntax", R"({"0": )"), HasSubstr("chunk-3-dataset.json: not valid JSON"));
}

TEST(ServeGenDataset, TheSameSeedDrawsTheSameLengthsAndAnotherSeedOthers) {
  const fs::path folder = fs::path(SLSIM_SOURCE_DIR) / "tests/testdata/servegen-multimodal";
  const auto lengths = [&](uint64_t seed) {
    std::vector<std::pair<int64_t, int64_t>> out;
    for (const Request& r : replay(folder, seed)) out.emplace_back(r.input_tokens, r.output_tokens);
    return out;
  };
  EXPECT_EQ(lengths(3), lengths(3));
  EXPECT_NE(lengths(3), lengths(4));
}

// The fixture's prompt: 100 text tokens, 2 images of 50 or 70 tokens each, no audio, and a
// 1000-token video with probability 0.25: 200, 220 or 240, plus 1000 a quarter of the time.
TEST(ServeGenDataset, AMultimodalPromptAddsTheTokensOfEachAttachedItem) {
  const auto requests = replay(fs::path(SLSIM_SOURCE_DIR) / "tests/testdata/servegen-multimodal");
  ASSERT_GT(requests.size(), 10000u);
  std::set<int64_t> inputs;
  int with_video = 0;
  for (const Request& r : requests) {
    inputs.insert(r.input_tokens);
    with_video += r.input_tokens > 1000 ? 1 : 0;
    EXPECT_EQ(r.output_tokens, 30);
  }
  EXPECT_EQ(inputs, (std::set<int64_t>{200, 220, 240, 1200, 1220, 1240}));
  EXPECT_NEAR(static_cast<double>(with_video) / static_cast<double>(requests.size()), 0.25, 0.02);
}

TEST(ServeGenDataset, BundledDeepSeekR1DayHas73ClientsEachWithLengths) {
  const fs::path folder = fs::path(SLSIM_SOURCE_DIR) / "traces/servegen/reason/deepseek-r1";
  const auto clients = read_servegen(folder);
  ASSERT_EQ(clients.size(), 73u);
  for (const auto& c : clients) {
    EXPECT_EQ(c.windows.size(), 144u) << c.id;
    EXPECT_FALSE(c.lengths.empty()) << c.id;
  }
  EXPECT_EQ(check_servegen_datasets(folder).without_lengths, 0);
}

}  // namespace slsim
