#include "sim/workload/trace_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sim/core/errors.h"
#include "tests/unique_temp_dir.h"

namespace slsim {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

namespace {
fs::path write_trace(const std::string& name, const std::string& body) {
  const fs::path path = testing_support::unique_temp_dir("trace") / name;
  std::ofstream(path, std::ios::binary) << body;
  return path;
}
TraceMapping azure() { return preset_mapping("azure-llm-2023"); }
std::string error_of(const fs::path& path, const TraceMapping& mapping = azure(), int64_t max_skipped = 0) {
  try {
    TraceReader reader(path.string(), mapping, max_skipped);
    while (reader.next()) {
    }
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
constexpr int64_t kSecond = 1'000'000'000;
}  // namespace

TEST(ParseDatetime, ReadsFractionalSecondsToTheNanosecond) {
  EXPECT_EQ(parse_datetime_ns("1970-01-01 00:00:01.5"), 1'500'000'000);
  EXPECT_EQ(parse_datetime_ns("1970-01-02 00:00:00"), 86400 * kSecond);
  const auto a = parse_datetime_ns("2023-11-16 18:17:03.9799600");
  const auto b = parse_datetime_ns("2023-11-16 18:17:04.0319600");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*b - *a, 52'000'000);
  EXPECT_EQ(parse_datetime_ns("2024-03-01 00:00:00").value() - parse_datetime_ns("2024-02-28 00:00:00").value(),
            2 * 86400 * kSecond);  // leap year
}

// Found by fuzzing (tests/fuzz/trace_reader_fuzz.cc): year 4046 overflowed the nanosecond count.
TEST(ParseDatetime, YearsBeyondSixtyFourBitNanosecondsAreRejectedNotOverflowed) {
  EXPECT_EQ(parse_datetime_ns("4046-11-16 18:17:04.0310690"), std::nullopt);
  EXPECT_EQ(parse_datetime_ns("1677-01-01 00:00:00"), std::nullopt);
  EXPECT_TRUE(parse_datetime_ns("2261-12-31 23:59:59").has_value());
}

TEST(ParseDatetime, FractionDigitsBeyondNanosecondsAreDroppedAndATSeparatorIsAccepted) {
  EXPECT_EQ(parse_datetime_ns("1970-01-01 00:00:00.1234567899"), 123'456'789);
  EXPECT_EQ(parse_datetime_ns("1970-01-01T00:00:02.000000001"), 2 * kSecond + 1);
  EXPECT_EQ(parse_datetime_ns("1999-12-31 23:59:59").value() + kSecond, parse_datetime_ns("2000-01-01 00:00:00"));
}

TEST(ParseDatetime, CustomFormatsReadTheirFieldsInAnyOrder) {
  EXPECT_EQ(parse_datetime_ns("02/01/1970 00:00:03.25", "%d/%m/%Y %H:%M:%S.%f"), 86400 * kSecond + 3'250'000'000);
  EXPECT_EQ(parse_datetime_ns("19700101-000001", "%Y%m%d-%H%M%S"), kSecond);
  EXPECT_EQ(parse_datetime_ns("100% 1970-01-01 00:00:00", "100%% %Y-%m-%d %H:%M:%S"), 0);
}

TEST(ParseDatetime, RefusesMalformedText) {
  EXPECT_FALSE(parse_datetime_ns("2023-11-16"));
  EXPECT_FALSE(parse_datetime_ns("2023-13-16 18:17:03"));
  EXPECT_FALSE(parse_datetime_ns("2023-11-16 24:00:00"));
  EXPECT_FALSE(parse_datetime_ns("2023-11-16 18:17:03."));
  EXPECT_FALSE(parse_datetime_ns("2023-11-16 18:17:0x"));
  EXPECT_FALSE(parse_datetime_ns("2023-11-16 18:17:03.5 UTC"));
}

// Found by fuzzing (tests/fuzz/trace_reader_fuzz.cc): 23,369,799,600 s overflowed the
// nanosecond count (signed overflow, reported by UBSan).
TEST(ParseTime, TimesBeyondSixtyFourBitNanosecondsAreRejectedNotOverflowed) {
  EXPECT_EQ(parse_time_ns("23369799600", time_unit_ns("s")), std::nullopt);
  EXPECT_EQ(parse_time_ns("-23369799600.5", time_unit_ns("s")), std::nullopt);
  EXPECT_EQ(parse_time_ns("9223372036.854775808", time_unit_ns("s")), std::nullopt);  // the fraction tips it over
  EXPECT_EQ(parse_time_ns("9223372036.854775807", time_unit_ns("s")), INT64_MAX);
  EXPECT_EQ(parse_time_ns("2.4e10", time_unit_ns("s")), std::nullopt);
  EXPECT_EQ(parse_time_ns("9223372036854775807", time_unit_ns("ns")), INT64_MAX);
  EXPECT_EQ(parse_time_ns("9223372035", time_unit_ns("s")), 9'223'372'035 * kSecond);
}

TEST(ParseTime, NumbersInEachUnitAreExactToTheNanosecond) {
  EXPECT_EQ(parse_time_ns("1.5", time_unit_ns("s")), 1'500'000'000);
  EXPECT_EQ(parse_time_ns("1700000000.123456789", time_unit_ns("s")), 1'700'000'000 * kSecond + 123'456'789);
  EXPECT_EQ(parse_time_ns("250", time_unit_ns("ms")), 250'000'000);
  EXPECT_EQ(parse_time_ns("0.5", time_unit_ns("us")), 500);
  EXPECT_EQ(parse_time_ns("42", time_unit_ns("ns")), 42);
  EXPECT_EQ(parse_time_ns(".25", time_unit_ns("s")), 250'000'000);
  EXPECT_EQ(parse_time_ns("1e3", time_unit_ns("ms")), kSecond);
  EXPECT_EQ(parse_time_ns("-2", time_unit_ns("s")), -2 * kSecond);
  EXPECT_FALSE(parse_time_ns("", time_unit_ns("s")));
  EXPECT_FALSE(parse_time_ns("1.2.3", time_unit_ns("s")));
  EXPECT_FALSE(parse_time_ns("12s", time_unit_ns("s")));
  EXPECT_THROW(time_unit_ns("min"), InputError);
}

TEST(TraceReader, AzureArrivalsAreRelativeToTheFirstRequest) {
  const auto path = write_trace("ok.csv",
                                "TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
                                "2023-11-16 18:17:03.5,100,10\r\n"
                                "2023-11-16 18:17:04.0,200,20");  // no final newline
  TraceReader reader(path.string(), azure());
  const TraceRecord* a = reader.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->time_ns, 0);
  const TraceRecord* b = reader.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->time_ns, 500'000'000);
  EXPECT_EQ(b->input_tokens, 200);
  EXPECT_EQ(b->output_tokens, 20);
  EXPECT_FALSE(reader.next());
}

TEST(TraceReader, AbsoluteTimesAreKeptWhenNotRelative) {
  TraceMapping m;
  m.relative = false;
  const auto path = write_trace("abs.csv", "arrival_s,input_tokens,output_tokens\n5,1,1\n");
  TraceReader reader(path.string(), m);
  EXPECT_EQ(reader.next()->time_ns, 5 * kSecond);
}

TEST(TraceReader, HeaderlessCsvMapsFieldsByColumnIndex) {
  TraceMapping m;
  m.header = false;
  m.time_field = "2";
  m.time_unit = "ms";
  m.input_field = "0";
  m.output_field = "1";
  m.model_field = "3";
  const auto path = write_trace("noheader.csv", "7,3,1000,fn-a\n8,4,1500,\"fn,b\"\n");
  TraceReader reader(path.string(), m);
  const TraceRecord* a = reader.next();
  EXPECT_EQ(a->input_tokens, 7);
  EXPECT_EQ(a->model_id, "fn-a");
  const TraceRecord* b = reader.next();
  EXPECT_EQ(b->time_ns, 500'000'000);
  EXPECT_EQ(b->output_tokens, 4);
  EXPECT_EQ(b->model_id, "fn,b");  // quoted comma
}

TEST(TraceReader, JsonlWithItsOwnFieldNamesReadsSamplesBeamAndPrefixBlocks) {
  TraceMapping m;
  m.time_field = "ts_us";
  m.time_unit = "us";
  m.input_field = "prompt_len";
  m.output_field = "gen_len";
  m.model_field = "app";
  m.samples_field = "n";
  m.beam_field = "beam";
  m.prefix_field = "blocks";
  const auto path = write_trace(
      "ok.jsonl",
      R"({"ts_us": 1000, "prompt_len": 12, "gen_len": 3, "app": "chat", "n": 2, "beam": 1, "blocks": [4, 5, 6], "extra": {"a": [1, "}"]}})"
      "\n"
      R"({"extra": null, "blocks": [], "beam": 4, "n": 1, "app": 17, "gen_len": 5, "prompt_len": 9, "ts_us": 3500})"
      "\n");
  TraceReader reader(path.string(), m);
  const TraceRecord* a = reader.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->model_id, "chat");
  EXPECT_EQ(a->samples, 2);
  EXPECT_EQ(a->prefix_blocks, (std::vector<uint64_t>{4, 5, 6}));
  const TraceRecord* b = reader.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->time_ns, 2'500'000);
  EXPECT_EQ(b->model_id, "17");
  EXPECT_EQ(b->beam_width, 4);
  EXPECT_TRUE(b->prefix_blocks.empty());
}

TEST(TraceReader, MalformedLineNamesFileLineAndField) {
  const auto path = write_trace("bad.csv",
                                "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                "2023-11-16 18:17:03.5,100,10\n"
                                "2023-11-16 18:17:04.0,abc,20\n");
  EXPECT_EQ(error_of(path), path.string() + ":3: field ContextTokens: expected a positive integer, got \"abc\"");
}

TEST(TraceReader, SkippingEveryLineIsAnErrorNotAnEmptyTrace) {
  const auto path = write_trace("all_bad.csv", "arrival_s,input_tokens,output_tokens\n0,x,1\n1,y,1\n");
  // Two bad lines under an allowance of 5: both are skipped, and then nothing was read.
  EXPECT_THAT(error_of(path, TraceMapping{}, 5), HasSubstr("every line was bad (2 skipped)"));
  const auto one_good = write_trace("one_good.csv", "arrival_s,input_tokens,output_tokens\n0,x,1\n1,2,1\n");
  EXPECT_EQ(error_of(one_good, TraceMapping{}, 5), "");
}

TEST(TraceReader, IntegerValuedFloatsAreCountsAndFractionsAreErrorsNamingTheLine) {
  const auto path = write_trace("floats.csv",
                                "arrival_s,input_tokens,output_tokens\n"
                                "0,63.0,1e2\n"
                                "1,63.5,10\n");
  TraceReader reader(path.string(), TraceMapping{}, 0);
  const TraceRecord* r = reader.next();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->input_tokens, 63);
  EXPECT_EQ(r->output_tokens, 100);
  EXPECT_EQ(error_of(path, TraceMapping{}),
            path.string() + ":3: field input_tokens: expected a positive integer, got \"63.5\"");
  const auto zero = write_trace("zero.csv", "arrival_s,input_tokens,output_tokens\n0,0.0,1\n");
  EXPECT_THAT(error_of(zero, TraceMapping{}), HasSubstr(":2: field input_tokens: expected a positive integer"));
}

TEST(TraceReader, MissingFieldsAndBadTimestampAreNamed) {
  const auto fields = write_trace("fields.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.5,100\n");
  EXPECT_THAT(error_of(fields), HasSubstr(":2: field GeneratedTokens: missing (the line has 2 fields)"));
  const auto time = write_trace("time.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,1\n");
  EXPECT_THAT(error_of(time),
              HasSubstr(":2: field TIMESTAMP: expected a datetime like %Y-%m-%d %H:%M:%S.%f, got \"yesterday\""));
  TraceMapping m;
  m.time_field = "t";
  const auto jsonl = write_trace("missing.jsonl", "{\"t\": 1, \"input_tokens\": 1}\n");
  EXPECT_THAT(error_of(jsonl, m), HasSubstr("missing.jsonl:1: field output_tokens: missing"));
}

TEST(TraceReader, UnsortedRowsAreAnErrorEvenWhenSkippingBadLines) {
  const auto path = write_trace("unsorted.csv",
                                "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                "2023-11-16 18:17:04.0,100,10\n"
                                "2023-11-16 18:17:03.0,100,10\n");
  EXPECT_THAT(error_of(path, azure(), 5), HasSubstr(":3: field TIMESTAMP: earlier than the previous row"));
}

TEST(TraceReader, SkipBadToleratesUpToNLinesAndCountsThem) {
  const auto path = write_trace("skip.csv",
                                "arrival_s,input_tokens,output_tokens\n"
                                "0,1,1\nx,1,1\n1,0,1\n2,1,1\n3,1\n");
  TraceMapping m;
  TraceReader reader(path.string(), m, 3);
  int64_t good = 0;
  while (reader.next()) ++good;
  EXPECT_EQ(good, 2);
  EXPECT_EQ(reader.skipped(), 3);
  EXPECT_THAT(
      error_of(path, m, 2),
      HasSubstr(
          "skip.csv:6: field output_tokens: missing (the line has 2 fields) (more than the 2 bad lines allowed)"));
}

TEST(TraceReader, WrongHeaderAndMissingFileAreNamed) {
  const auto path = write_trace("header.csv", "time,in,out\n");
  EXPECT_THAT(error_of(path), HasSubstr(":1: no column \"TIMESTAMP\" in the header (columns: time, in, out)"));
  EXPECT_THAT(error_of("/nonexistent/trace.csv"), HasSubstr("/nonexistent/trace.csv: cannot open"));
  TraceMapping m;
  m.header = false;
  EXPECT_THAT(error_of(path, m), HasSubstr("field \"arrival_s\" must be a column index"));
}

TEST(TraceReader, LinesLongerThanTheReadBufferAreRead) {
  std::string blocks;
  for (int i = 0; i < 300000; ++i) blocks += std::to_string(i) + " ";
  const auto path =
      write_trace("long.csv", "arrival_s,input_tokens,output_tokens,blocks\n0,1,1," + blocks + "\n1,2,2,7\n");
  TraceMapping m;
  m.prefix_field = "blocks";
  TraceReader reader(path.string(), m);
  EXPECT_EQ(reader.next()->prefix_blocks.size(), 300000u);
  EXPECT_EQ(reader.next()->prefix_blocks, std::vector<uint64_t>{7});
  EXPECT_FALSE(reader.next());
}

TEST(TraceReader, BundledTracesParseCompletelyAndInOrder) {
  for (const char* name : {"code", "conv"}) {
    const fs::path path =
        fs::path(SLSIM_SOURCE_DIR) / "traces/azure-llm-2023" / (std::string("AzureLLMInferenceTrace_") + name + ".csv");
    TraceReader reader(path.string(), azure());
    int64_t n = 0;
    int64_t last = 0;
    while (const TraceRecord* r = reader.next()) {
      ASSERT_GE(r->time_ns, last);
      last = r->time_ns;
      ++n;
    }
    EXPECT_EQ(n, std::string(name) == "code" ? 8819 : 19366);
    EXPECT_NEAR(last * 1e-9, std::string(name) == "code" ? 3435.9 : 3501.7, 0.1);
  }
}

}  // namespace slsim

namespace slsim {

TEST(TraceReaderInput, AByteOrderMarkBeforeTheHeaderIsIgnored) {
  const auto path =
      write_trace("bom.csv", "\xEF\xBB\xBFTIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.5,100,10\n");
  TraceReader reader(path.string(), azure());
  const TraceRecord* r = reader.next();
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->input_tokens, 100);
}

TEST(TraceReaderInput, ALineWithMoreFieldsThanTheHeaderIsAnErrorNamingTheLine) {
  const auto path = write_trace("extra.csv",
                                "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                "2023-11-16 18:17:03.5,100,10\n2023-11-16 18:17:04.5,100,10,7\n");
  EXPECT_THAT(error_of(path), HasSubstr(":3: the line has 4 fields, more than the header's 3"));
}

// A model id with a comma and a quote must come back whole through the canonical CSV.
TEST(TraceReaderInput, TheCanonicalRowReadsBackToTheSameRecord) {
  TraceRecord record;
  record.time_ns = 1'000'000'005;
  record.input_tokens = 7;
  record.output_tokens = 3;
  record.samples = 2;
  record.beam_width = 1;
  const std::string model = "a,\"b\"";
  record.model_id = model;
  record.prefix_blocks = {4, 5};
  const auto path = write_trace("round_trip.csv", canonical_trace_header(false) + canonical_trace_row(record, false));
  TraceMapping canonical;
  canonical.model_field = "model";
  canonical.samples_field = "samples";
  canonical.beam_field = "beam_width";
  canonical.prefix_field = "prefix_blocks";
  canonical.relative = false;
  TraceReader reader(path.string(), canonical);
  const TraceRecord* back = reader.next();
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->time_ns, record.time_ns);
  EXPECT_EQ(back->model_id, model);
  EXPECT_EQ(back->samples, 2);
  EXPECT_EQ(back->prefix_blocks, record.prefix_blocks);
}

// The declared size of the prefix ids travels in its own column and reads back.
TEST(TraceReaderInput, TheCanonicalRowKeepsThePrefixBlockSize) {
  TraceRecord record;
  record.input_tokens = 1000;
  record.output_tokens = 3;
  record.prefix_blocks = {4, 5};
  record.prefix_block_tokens = 512;
  const std::string text = canonical_trace_header(true) + canonical_trace_row(record, true);
  EXPECT_EQ(text,
            "arrival_s,model,input_tokens,output_tokens,samples,beam_width,prefix_blocks,prefix_block_tokens\n"
            "0.000000000,,1000,3,1,1,4 5,512\n");
  TraceMapping canonical;
  canonical.prefix_field = "prefix_blocks";
  canonical.prefix_block_tokens_field = "prefix_block_tokens";
  TraceReader reader(write_trace("sized.csv", text).string(), canonical);
  const TraceRecord* back = reader.next();
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->prefix_block_tokens, 512);
  EXPECT_EQ(back->prefix_blocks, record.prefix_blocks);
}

// An empty cell keeps the mapping's size; rows that disagree are an error naming the line.
TEST(TraceReaderInput, PrefixBlockSizesMustAgreeAcrossRows) {
  TraceMapping canonical;
  canonical.prefix_field = "prefix_blocks";
  canonical.prefix_block_tokens = 16;
  canonical.prefix_block_tokens_field = "prefix_block_tokens";
  const auto path = write_trace("mixed.csv",
                                "arrival_s,input_tokens,output_tokens,prefix_blocks,prefix_block_tokens\n"
                                "0,10,1,1,\n1,10,1,2,512\n2,10,1,3,256\n");
  TraceReader reader(path.string(), canonical);
  EXPECT_EQ(reader.next()->prefix_block_tokens, 16);
  EXPECT_EQ(reader.next()->prefix_block_tokens, 512);
  EXPECT_THAT([&] { reader.next(); },
              testing::ThrowsMessage<TraceError>(HasSubstr(":4: field prefix_block_tokens: 256 differs from the 512")));
}

// Arrivals are bounded as every seconds field is (kMaxSeconds = 10^9 s): 10^9 s itself is read,
// one nanosecond more is refused; the bound applies after the times are made relative, in CSV
// and JSONL alike, and the error names the file and the line.
TEST(TraceReaderInput, ArrivalsBeyondTheTimeBoundOrNegativeAreErrorsNamingTheLine) {
  TraceMapping absolute;
  absolute.relative = false;
  const auto at_bound = write_trace("bound.csv", "arrival_s,input_tokens,output_tokens\n1000000000,1,1\n");
  TraceReader reader(at_bound.string(), absolute);
  EXPECT_EQ(reader.next()->time_ns, 1'000'000'000 * kSecond);
  const auto beyond =
      write_trace("beyond.csv", "arrival_s,input_tokens,output_tokens\n1,1,1\n1000000000.000000001,1,1\n");
  EXPECT_EQ(error_of(beyond, absolute),
            beyond.string() +
                ":3: field arrival_s: arrival at 1000000000.000000001 s is beyond the simulated time bound of 1e+09 s "
                "(are the trace's times in a smaller unit? see mapping.time_unit)");
  // Relative to the first request: 10^9 + 1 s after an arrival at 1 s is 10^9 s, within the bound.
  TraceReader relative(beyond.string(), TraceMapping{});
  EXPECT_EQ(relative.next()->time_ns, 0);
  EXPECT_EQ(relative.next()->time_ns, 1'000'000'000 * kSecond - kSecond + 1);
  const auto negative =
      write_trace("negative.jsonl", "{\"arrival_s\": -0.5, \"input_tokens\": 1, \"output_tokens\": 1}\n");
  EXPECT_THAT(error_of(negative, absolute),
              HasSubstr("negative.jsonl:1: field arrival_s: arrival at -0.500000000 s is negative"));
  const auto not_a_number = write_trace("nan.csv", "arrival_s,input_tokens,output_tokens\nnan,1,1\n");
  EXPECT_THAT(error_of(not_a_number, absolute), HasSubstr("nan.csv:2: field arrival_s: expected a number of s"));
  // --skip-bad skips an out-of-bound line like any other bad line.
  TraceReader skipping(beyond.string(), absolute, 1);
  EXPECT_TRUE(skipping.next());
  EXPECT_FALSE(skipping.next());
  EXPECT_EQ(skipping.skipped(), 1);
}

}  // namespace slsim
