// MergedSource over hand-made sources. Each request's `model` names the source it came from
// and its input_tokens its position there, so the merged order can be read off directly.

#include <gtest/gtest.h>

#include "sim/workload/source.h"

namespace slsim {
namespace {

class ListSource final : public RequestSource {
 public:
  ListSource(uint32_t tag, std::vector<double> arrivals_s, int64_t skipped = 0) : tag_(tag), skipped_(skipped) {
    for (const double s : arrivals_s) {
      Request r;
      r.id = RequestId(1000);  // the merge numbers requests itself
      r.model = tag_;
      r.arrival = Time::from_seconds(s);
      r.input_tokens = static_cast<int64_t>(requests_.size());
      requests_.push_back(r);
    }
  }
  std::optional<Request> next() override {
    if (next_ == requests_.size()) return std::nullopt;
    return requests_[next_++];
  }
  int64_t skipped_lines() const override { return skipped_; }

 private:
  ModelId tag_;
  int64_t skipped_;
  std::vector<Request> requests_;
  size_t next_ = 0;
};

// Ids as plain numbers, so that expected values read as a table.
struct Pulled {
  uint64_t id;
  uint32_t source;
  int64_t position;
  double arrival_s;
  bool operator==(const Pulled&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Pulled& p) {
  return out << "{id " << p.id << ", source " << p.source << " #" << p.position << ", at " << p.arrival_s << " s}";
}

template <class... Sources>
std::vector<std::unique_ptr<RequestSource>> sources(Sources... s) {
  std::vector<std::unique_ptr<RequestSource>> v;
  (v.push_back(std::make_unique<ListSource>(std::move(s))), ...);
  return v;
}

std::vector<Pulled> drain(MergedSource& merged) {
  std::vector<Pulled> out;
  while (auto r = merged.next())
    out.push_back({r->id.value(), r->model.value(), r->input_tokens, r->arrival.seconds()});
  return out;
}

TEST(MergedSource, InterleavesSourcesInArrivalOrderAndNumbersRequestsByThatOrder) {
  MergedSource merged(sources(ListSource(0, {1, 4, 6}), ListSource(1, {2, 3, 7}), ListSource(2, {5})));
  const std::vector<Pulled> expected{{0, 0, 0, 1}, {1, 1, 0, 2}, {2, 1, 1, 3}, {3, 0, 1, 4},
                                     {4, 2, 0, 5}, {5, 0, 2, 6}, {6, 1, 2, 7}};
  EXPECT_EQ(drain(merged), expected);
}

TEST(MergedSource, SimultaneousArrivalsComeInTheOrderTheSourcesWereListed) {
  // Arrival ties break by the sources' order in the config, not by anything in the requests:
  // source tagged 5 is listed first, so its request at 2 s precedes tag 3's, though 3 < 5.
  // Within one source, its own order is kept.
  MergedSource merged(sources(ListSource(5, {2, 2}), ListSource(3, {1, 2}), ListSource(4, {2})));
  const std::vector<Pulled> expected{{0, 3, 0, 1}, {1, 5, 0, 2}, {2, 5, 1, 2}, {3, 3, 1, 2}, {4, 4, 0, 2}};
  EXPECT_EQ(drain(merged), expected);
}

TEST(MergedSource, ContinuesWithTheOthersOnceOneSourceRunsOut) {
  MergedSource merged(sources(ListSource(0, {1}), ListSource(1, {0.5, 2, 3})));
  const std::vector<Pulled> expected{{0, 1, 0, 0.5}, {1, 0, 0, 1}, {2, 1, 1, 2}, {3, 1, 2, 3}};
  EXPECT_EQ(drain(merged), expected);
  // Once every source is exhausted it stays exhausted.
  EXPECT_FALSE(merged.next());
  EXPECT_FALSE(merged.next());
}

TEST(MergedSource, EmptySourcesContributeNothing) {
  MergedSource none({});
  EXPECT_FALSE(none.next());
  MergedSource only_empty(sources(ListSource(0, {}), ListSource(1, {})));
  EXPECT_FALSE(only_empty.next());
  MergedSource some_empty(sources(ListSource(0, {}), ListSource(1, {4, 9}), ListSource(2, {})));
  const std::vector<Pulled> expected{{0, 1, 0, 4}, {1, 1, 1, 9}};
  EXPECT_EQ(drain(some_empty), expected);
}

TEST(MergedSource, SkippedLinesAreSummedOverSources) {
  MergedSource merged(sources(ListSource(0, {1}, 2), ListSource(1, {}, 0), ListSource(2, {3}, 5)));
  EXPECT_EQ(merged.skipped_lines(), 7);
}

}  // namespace
}  // namespace slsim
