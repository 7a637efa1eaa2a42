#include "sim/core/fields.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace slsim {
namespace {

struct Inner {
  double rate_gbytes_per_s = 1.5;
  template <class V>
  void visit(V& v) {
    v.field("rate_gbytes_per_s", rate_gbytes_per_s, "a rate", positive());
  }
};

struct Nic {
  double nic_gbytes_per_s = 1;
  template <class V>
  void visit(V& v) {
    v.field("nic_gbytes_per_s", nic_gbytes_per_s, "a NIC");
  }
};

struct Outer {
  int64_t count = 2;
  std::string mode = "a";
  bool flag = false;
  std::vector<Inner> items;
  Inner inner;
  template <class V>
  void visit(V& v) {
    v.field("count", count, "a count", at_least(1));
    v.choice("mode", mode, "a mode", {"a", "b"});
    v.field("flag", flag, "a flag");
    v.list("items", items, "items");
    v.object("inner", inner, "inner");
  }
};

enum class Shade : uint8_t { light, dark };
constexpr EnumNames<Shade, 2> kShadeNames{{{Shade::light, "light"}, {Shade::dark, "dark"}}};

struct Painted {
  Shade shade = Shade::dark;
  template <class V>
  void visit(V& v) {
    v.choice("shade", shade, "a shade", kShadeNames);
  }
};

std::string error_of(const char* text) {
  Outer o;
  try {
    JsonReader::read_struct(Json::parse(text), "", o);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Fields, ReadsValuesAndKeepsDefaultsForMissingKeys) {
  Outer o;
  JsonReader::read_struct(Json::parse(R"({"count": 5, "items": [{"rate_gbytes_per_s": 3}]})"), "", o);
  EXPECT_EQ(o.count, 5);
  EXPECT_EQ(o.mode, "a");
  ASSERT_EQ(o.items.size(), 1u);
  EXPECT_EQ(o.items[0].rate_gbytes_per_s, 3);
  EXPECT_EQ(o.inner.rate_gbytes_per_s, 1.5);
}

TEST(Fields, UnknownKeyNamesItsPath) {
  EXPECT_THAT(error_of(R"({"inner": {"rate_gbs": 1}})"), testing::StartsWith("inner.rate_gbs: unknown key"));
}

TEST(Fields, RenamedKeyIsRefusedNamingItsNewNameAndPath) {
  Nic nic;
  try {
    JsonReader::read_struct(Json::parse(R"({"nic_gbps": 50})"), "servers[2]", nic);
    FAIL() << "the old key was accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "servers[2].nic_gbps: `nic_gbps` was renamed `nic_gbytes_per_s` (gigabytes per second)");
  }
}

TEST(Fields, RenamedKeyWhereItsNewNameIsNotReadIsAnUnknownKey) {
  // Outer reads no `nic_gbytes_per_s`, so pointing at it would send the user to another wrong key.
  EXPECT_THAT(error_of(R"({"nic_gbps": 50})"), testing::StartsWith("nic_gbps: unknown key; expected one of: count"));
}

TEST(Fields, WrongTypeNamesPathAndExpectation) {
  EXPECT_EQ(error_of(R"({"count": "three"})"), "count: expected an integer >= 1, got the string \"three\"");
  EXPECT_EQ(error_of(R"({"flag": 1})"), "flag: expected true or false, got the number 1");
  EXPECT_THAT(error_of(R"({"items": [{}, {"rate_gbytes_per_s": "x"}]})"),
              testing::StartsWith("items[1].rate_gbytes_per_s: expected a number > 0"));
}

TEST(Fields, OutOfRangeValueIsRefused) {
  EXPECT_THAT(error_of(R"({"count": 0})"), testing::StartsWith("count: expected an integer >= 1, got 0"));
  EXPECT_THAT(error_of(R"({"inner": {"rate_gbytes_per_s": 0}})"),
              testing::StartsWith("inner.rate_gbytes_per_s: expected a number > 0"));
  EXPECT_THAT(error_of(R"({"count": 1.5})"), testing::StartsWith("count: expected an integer"));
}

TEST(Fields, AnIntegerValuedFloatIsAnIntegerAndAFractionNamesItsPath) {
  Outer o;
  JsonReader::read_struct(Json::parse(R"({"count": 63.0})"), "", o);
  EXPECT_EQ(o.count, 63);
  EXPECT_THAT(error_of(R"({"items": [{}], "count": 63.5})"), testing::StartsWith("count: expected an integer >= 1"));
}

TEST(Fields, UnknownChoiceListsTheChoices) {
  EXPECT_EQ(error_of(R"({"mode": "c"})"), "mode: unknown value \"c\"; expected one of a, b");
}

TEST(Fields, WriterRoundTripsEveryField) {
  Outer o;
  o.count = 9;
  o.items.push_back(Inner{4});
  const Json j = JsonWriter::to_json(o);
  Outer back;
  JsonReader::read_struct(j, "", back);
  EXPECT_EQ(back.count, 9);
  EXPECT_EQ(back.items.at(0).rate_gbytes_per_s, 4);
  EXPECT_EQ(JsonWriter::to_json(back), j);
}

TEST(Fields, DescriberListsNamesTypesAndDefaults) {
  Outer o;
  const Json d = FieldDescriber::describe(o);
  ASSERT_EQ(d.size(), 5u);
  EXPECT_EQ(d[0]["name"], "count");
  EXPECT_EQ(d[0]["type"], "an integer >= 1");
  EXPECT_EQ(d[0]["default"], 2);
}

TEST(Fields, EnumChoiceReadsItsNameAndWritesItBack) {
  Painted p;
  JsonReader::read_struct(Json::parse(R"({"shade": "light"})"), "", p);
  EXPECT_EQ(p.shade, Shade::light);
  EXPECT_EQ(JsonWriter::to_json(p), Json::parse(R"({"shade": "light"})"));
  Painted unset;
  JsonReader::read_struct(Json::parse("{}"), "", unset);
  EXPECT_EQ(unset.shade, Shade::dark);
}

TEST(Fields, UnknownEnumNameIsRefusedWithItsPathAndTheNames) {
  Painted p;
  try {
    JsonReader::read_struct(Json::parse(R"({"shade": "grey"})"), "paint", p);
    FAIL() << "an unknown name was accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "paint.shade: unknown value \"grey\"; expected one of light, dark");
  }
  EXPECT_THROW(JsonReader::read_struct(Json::parse(R"({"shade": 1})"), "", p), ConfigError);
}

TEST(Fields, DescriberListsAnEnumsNamesAndItsDefaultName) {
  Painted p;
  const Json d = FieldDescriber::describe(p);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["type"], "light|dark");
  EXPECT_EQ(d[0]["default"], "dark");
}

}  // namespace slsim

namespace slsim {
namespace {
struct Sized {
  double wait_s = 0;
  int64_t size_bytes = 0;
  double link_gbytes_per_s = 1;
  int64_t count = 0;
  template <class V>
  void visit(V& v) {
    v.field("wait_s", wait_s, "seconds", at_least(0));
    v.field("size_bytes", size_bytes, "bytes", at_least(0));
    v.field("link_gbytes_per_s", link_gbytes_per_s, "GB/s", positive());
    v.field("count", count, "a count");
  }
};
std::string read_error(const std::string& text) {
  Sized s;
  try {
    JsonReader::read_struct(Json::parse(text), "p", s);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
std::string parse_error(const std::string& text) {
  try {
    parse_json(text, "f.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(FieldUnits, SecondsAndBytesFieldsAreBoundedByTheirUnit) {
  EXPECT_EQ(read_error(R"({"wait_s": 1e9, "size_bytes": 9007199254740992})"), "");
  EXPECT_THAT(read_error(R"({"wait_s": 1.5e9})"), ::testing::HasSubstr("p.wait_s: expected a number in [0, "));
  EXPECT_THAT(read_error(R"({"size_bytes": 9007199254740994})"), ::testing::HasSubstr("p.size_bytes: expected"));
}

TEST(FieldUnits, ARatePerSecondIsNotBoundedAsATime) {
  // `_gbytes_per_s` and `rate_per_s` end in `_s` but are rates: 2e9 is beyond the time bound (1e9 s) only.
  EXPECT_EQ(read_error(R"({"link_gbytes_per_s": 2e9})"), "");
}

TEST(FieldUnits, AnIntegerBeyondInt64IsRefusedNotWrappedToANegative) {
  // 2^64 - 1 read through int64 once became -1.
  EXPECT_THAT(read_error(R"({"count": 18446744073709551615})"), ::testing::HasSubstr("p.count: expected an integer"));
}

TEST(ParseJson, RefusesARepeatedKeyWithItsPath) {
  EXPECT_THAT(parse_error(R"({"a": [{"b": 1}, {"c": {"d": 1, "d": 2}}]})"),
              ::testing::HasSubstr("f.json: a[1].c.d: the key appears twice"));
  EXPECT_EQ(parse_error(R"({"a": {"d": 1}, "b": {"d": 2}})"), "");
}

TEST(ParseJson, RefusesNestingDeeperThanTheLimitInsteadOfOverflowingTheStack) {
  const std::string deep = std::string(70000, '[') + std::string(70000, ']');
  EXPECT_THAT(parse_error(deep), ::testing::HasSubstr("nested deeper than 128 levels"));
  const std::string fine = std::string(100, '[') + std::string(100, ']');
  EXPECT_EQ(parse_error(fine), "");
}

TEST(ParseJson, ANumberBeyondADoubleIsASyntaxError) { EXPECT_THROW(parse_json("1e400", "x"), JsonSyntaxError); }

}  // namespace slsim
