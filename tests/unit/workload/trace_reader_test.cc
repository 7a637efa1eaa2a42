#include "sim/workload/azure_trace.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sim/core/errors.h"

namespace slsim {
namespace fs = std::filesystem;

namespace {
fs::path write_trace(const std::string& name, const std::string& body) {
  const fs::path path = fs::temp_directory_path() / ("slsim_test_" + name + ".csv");
  std::ofstream(path) << body;
  return path;
}
std::string error_of(const fs::path& path) {
  try {
    AzureTraceReader reader(path.string(), 0);
    while (reader.next()) {
    }
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(ParseDatetime, ReadsFractionalSecondsToTheNanosecond) {
  EXPECT_EQ(parse_datetime_ns("1970-01-01 00:00:01.5"), 1'500'000'000);
  EXPECT_EQ(parse_datetime_ns("1970-01-02 00:00:00"), int64_t{86400} * 1'000'000'000);
  const auto a = parse_datetime_ns("2023-11-16 18:17:03.9799600");
  const auto b = parse_datetime_ns("2023-11-16 18:17:04.0319600");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*b - *a, 52'000'000);
  EXPECT_EQ(parse_datetime_ns("2024-03-01 00:00:00").value() - parse_datetime_ns("2024-02-28 00:00:00").value(),
            int64_t{2} * 86400 * 1'000'000'000);  // leap year
}

TEST(ParseDatetime, RefusesMalformedText) {
  EXPECT_FALSE(parse_datetime_ns("2023-11-16"));
  EXPECT_FALSE(parse_datetime_ns("2023-13-16 18:17:03"));
  EXPECT_FALSE(parse_datetime_ns("2023-11-16 18:17:03."));
  EXPECT_FALSE(parse_datetime_ns("2023-11-16 18:17:0x"));
}

TEST(AzureTraceReader, ArrivalsAreRelativeToTheFirstRequest) {
  const auto path = write_trace("ok", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                      "2023-11-16 18:17:03.5,100,10\n"
                                      "2023-11-16 18:17:04.0,200,20\n");
  AzureTraceReader reader(path.string(), 3);
  const auto a = reader.next();
  const auto b = reader.next();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->arrival, Time::zero());
  EXPECT_EQ(b->arrival, Time::from_ms(500));
  EXPECT_EQ(b->input_tokens, 200);
  EXPECT_EQ(b->output_tokens, 20);
  EXPECT_EQ(b->model, 3u);
  EXPECT_FALSE(reader.next());
}

TEST(AzureTraceReader, MalformedLineNamesFileLineAndField) {
  const auto path = write_trace("bad", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                       "2023-11-16 18:17:03.5,100,10\n"
                                       "2023-11-16 18:17:04.0,abc,20\n");
  EXPECT_EQ(error_of(path), path.string() + ":3: field ContextTokens: expected a positive integer");
}

TEST(AzureTraceReader, WrongFieldCountAndBadTimestampAreNamed) {
  const auto fields = write_trace("fields", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.5,100\n");
  EXPECT_THAT(error_of(fields), testing::HasSubstr(":2: expected 3 comma-separated fields"));
  const auto time = write_trace("time", "TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,1\n");
  EXPECT_THAT(error_of(time), testing::HasSubstr(":2: field TIMESTAMP"));
}

TEST(AzureTraceReader, UnsortedRowsAreAnError) {
  const auto path = write_trace("unsorted", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                            "2023-11-16 18:17:04.0,100,10\n"
                                            "2023-11-16 18:17:03.0,100,10\n");
  EXPECT_THAT(error_of(path), testing::HasSubstr(":3: field TIMESTAMP: earlier than the previous row"));
}

TEST(AzureTraceReader, WrongHeaderAndMissingFileAreNamed) {
  const auto path = write_trace("header", "time,in,out\n");
  EXPECT_THAT(error_of(path), testing::HasSubstr(":1: expected the header"));
  EXPECT_THAT(error_of("/nonexistent/trace.csv"), testing::HasSubstr("/nonexistent/trace.csv: cannot open"));
}

TEST(AzureTraceReader, BundledTracesParseCompletelyAndInOrder) {
  for (const char* name : {"code", "conv"}) {
    const fs::path path = fs::path(SLSIM_SOURCE_DIR) / "traces/azure-llm-2023" /
                          (std::string("AzureLLMInferenceTrace_") + name + ".csv");
    AzureTraceReader reader(path.string(), 0);
    int64_t n = 0;
    Time last;
    while (auto r = reader.next()) {
      ASSERT_GE(r->arrival, last);
      last = r->arrival;
      ++n;
    }
    EXPECT_EQ(n, std::string(name) == "code" ? 8819 : 19366);
    EXPECT_NEAR(last.seconds(), std::string(name) == "code" ? 3435.9 : 3501.7, 0.1);
  }
}

}  // namespace slsim
