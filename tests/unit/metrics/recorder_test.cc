// MetricsRecorder fed a hand-made history through its observer hooks; every figure below is
// worked out from that history. Definitions (DESIGN.md): TTFT = first token − arrival,
// E2E = last token − arrival, TPOT = (last token − first token) / (output tokens − 1), the mean
// time per output token after the first (none for a one-token answer). A request meets its SLO
// when TTFT ≤ slo_ttft_s and its TPOT, if it has one, ≤ slo_tpot_s; attainment is the share of
// all arrived requests that did, goodput how many did per simulated second.
//
// Two models, a and b; two servers of 2 GPUs: s0 at $3.60 per GPU-hour (0.001 $/GPU-s) and s1
// at $7.20 (0.002 $/GPU-s). SLO: TTFT 1 s, TPOT 0.1 s. The run ends at 10 s.
//
//   request  model  arrival  first   last    out  TTFT  TPOT         E2E   SLO
//   0        a      0        0.5     1.0     11   0.5   0.5/10=0.05  1.0   met
//   1        a      1        3.0     3.45    10   2.0   0.45/9=0.05  2.45  missed (TTFT), cold
//   2        b      0        0.2     0.2     1    0.2   —            0.2   met (no TPOT)
//   3        b      2        2.5     4.5     5    0.5   2/4=0.5      2.5   missed (TPOT)
//   4        b      3        rejected ("model fits no server")
//   5        a      4        never finishes
//
// Instances:
//   0: model a, s0, 2 GPUs: loading 1.5–2.5, busy 2.5–3.5, idle 3.5–5.5, then released
//      → loading 2, busy 2, idle 4 GPU-s; 8 GPU-s × 0.001 = $0.008
//   1: model b, s1, 1 GPU: loading 2–2.5, idle 2.5–3, busy 3–4.5, migrating 4.5 until the end
//      → loading 0.5, idle 0.5, busy 1.5, migrating 5.5 GPU-s; 8 GPU-s × 0.002 = $0.016
// The cluster's 4 GPUs over 10 s are 40 GPU-s, of which 16 are held: 24 are free.
// Reserved billing charges all of them: 20 GPU-s × 0.001 + 20 × 0.002 = $0.06.

#include "sim/metrics/recorder.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/unit/metrics/test_temp_dir.h"

namespace slsim {
namespace {

constexpr ModelId a(0), b(1);
constexpr double kTolerance = 1e-9;
Time at_s(double s) { return Time::from_seconds(s); }

Request request(uint64_t id, ModelId model, double arrival_s, int64_t output_tokens) {
  Request r;
  r.id = RequestId(id);
  r.model = model;
  r.arrival = at_s(arrival_s);
  r.input_tokens = 100;
  r.output_tokens = output_tokens;
  return r;
}

RequestOutcome outcome(const Request& r, double first_s, double last_s, uint32_t server) {
  RequestOutcome o;
  o.request = r;
  o.first_token = at_s(first_s);
  o.finished = at_s(last_s);
  o.server = ServerId(server);
  return o;
}

void transition(MetricsRecorder& m, uint32_t instance, ModelId model, uint32_t server, int64_t gpus, InstanceState from,
                InstanceState to, double now_s) {
  m.on_instance(InstanceTransition{InstanceId(instance), model, ServerId(server), gpus, from, to, at_s(now_s)});
}

// Replays the history in the header, in time order.
void replay(MetricsRecorder& m) {
  using S = InstanceState;
  const Request r0 = request(0, a, 0, 11), r1 = request(1, a, 1, 10), r2 = request(2, b, 0, 1),
                r3 = request(3, b, 2, 5), r4 = request(4, b, 3, 8), r5 = request(5, a, 4, 8);
  m.on_arrival(r0);
  m.on_arrival(r2);
  m.on_finished(outcome(r2, 0.2, 0.2, 1));
  m.on_finished(outcome(r0, 0.5, 1.0, 0));
  m.on_arrival(r1);
  transition(m, 0, a, 0, 2, S::released, S::loading, 1.5);
  m.on_arrival(r3);
  transition(m, 1, b, 1, 1, S::released, S::loading, 2);
  transition(m, 0, a, 0, 2, S::loading, S::busy, 2.5);
  m.on_load(InstanceId(0), a, ServerId(0), Tier::dram, at_s(1));
  transition(m, 1, b, 1, 1, S::loading, S::idle, 2.5);
  m.on_load(InstanceId(1), b, ServerId(1), Tier::remote, at_s(0.5));
  m.on_arrival(r4);
  m.on_rejected(r4, "model fits no server");
  transition(m, 1, b, 1, 1, S::idle, S::busy, 3);
  RequestOutcome cold = outcome(r1, 3.0, 3.45, 0);
  cold.cold_start = true;
  cold.cold_start_wait = at_s(1.5);
  cold.queue_wait = at_s(0.5);
  cold.load_wait = at_s(1);
  cold.load_tier = Tier::dram;
  cold.preloaded = true;
  cold.migrated = 2;
  m.on_finished(cold);
  transition(m, 0, a, 0, 2, S::busy, S::idle, 3.5);
  m.on_arrival(r5);
  m.on_finished(outcome(r3, 2.5, 4.5, 1));
  transition(m, 1, b, 1, 1, S::busy, S::migrating, 4.5);
  transition(m, 0, a, 0, 2, S::idle, S::released, 5.5);
}

MetricsParams slo(std::string billing = "serverless") {
  MetricsParams p;
  p.slo_ttft_s = 1;
  p.slo_tpot_s = 0.1;
  p.billing = std::move(billing);
  return p;
}

Json summarize(const std::string& billing = "serverless") {
  MetricsRecorder m({"a", "b"}, {"s0", "s1"}, nullptr);
  m.configure(slo(billing), {{2, 3.6}, {2, 7.2}});
  replay(m);
  return m.summary(at_s(10));
}

double number(const Json& j) { return j.get<double>(); }

TEST(MetricsRecorder, CountsRequestsByOutcomePerModelAndOverall) {
  const Json s = summarize();
  const Json& ma = s["models"]["a"];
  const Json& mb = s["models"]["b"];
  EXPECT_EQ(ma["requests"], 3);
  EXPECT_EQ(ma["completed"], 2);
  EXPECT_EQ(ma["rejected"], 0);
  EXPECT_EQ(ma["unfinished"], 1);  // request 5
  EXPECT_EQ(ma["cold_starts"], 1);
  EXPECT_EQ(ma["preloaded_requests"], 1);
  EXPECT_EQ(ma["cold_starts_by_tier"]["dram"], 1);
  EXPECT_EQ(ma["loads_by_tier"]["dram"], 1);
  EXPECT_EQ(mb["requests"], 3);
  EXPECT_EQ(mb["completed"], 2);
  EXPECT_EQ(mb["rejected"], 1);
  EXPECT_EQ(mb["unfinished"], 0);
  EXPECT_EQ(mb["cold_starts"], 0);
  EXPECT_EQ(mb["rejections"]["model fits no server"], 1);
  EXPECT_EQ(mb["loads_by_tier"]["remote"], 1);
  EXPECT_EQ(s["requests"], 6);
  EXPECT_EQ(s["completed"], 4);
  EXPECT_EQ(s["rejected"], 1);
  EXPECT_EQ(s["unfinished"], 1);
  EXPECT_EQ(s["cold_starts"], 1);
  EXPECT_EQ(s["rejections"]["model fits no server"], 1);
  EXPECT_EQ(s["loads_by_tier"]["dram"], 1);
  EXPECT_EQ(s["loads_by_tier"]["remote"], 1);
  EXPECT_EQ(s["loads_by_tier"]["ssd"], 0);
}

TEST(MetricsRecorder, LatenciesFollowTheTtftTpotAndE2eDefinitions) {
  const Json s = summarize();
  const Json& ma = s["models"]["a"];
  const Json& mb = s["models"]["b"];
  // Model a: TTFT 0.5 and 2 (mean 1.25); TPOT 0.05 twice; E2E 1 and 2.45 (mean 1.725).
  EXPECT_NEAR(number(ma["ttft_s"]["mean"]), 1.25, kTolerance);
  EXPECT_NEAR(number(ma["ttft_s"]["max"]), 2, kTolerance);
  EXPECT_NEAR(number(ma["tpot_s"]["mean"]), 0.05, kTolerance);
  EXPECT_NEAR(number(ma["tpot_s"]["max"]), 0.05, kTolerance);
  EXPECT_NEAR(number(ma["e2e_s"]["mean"]), 1.725, kTolerance);
  EXPECT_NEAR(number(ma["e2e_s"]["max"]), 2.45, kTolerance);
  EXPECT_NEAR(number(ma["cold_start_s"]["max"]), 1.5, kTolerance);
  EXPECT_NEAR(number(ma["load_s"]["max"]), 1, kTolerance);
  // Model b: the one-token answer has no TPOT, so b's TPOT is request 3's alone.
  EXPECT_NEAR(number(mb["ttft_s"]["mean"]), 0.35, kTolerance);
  EXPECT_NEAR(number(mb["tpot_s"]["mean"]), 0.5, kTolerance);
  EXPECT_NEAR(number(mb["tpot_s"]["p50"]), 0.5, kTolerance);  // one sample: every percentile is it
  EXPECT_NEAR(number(mb["e2e_s"]["max"]), 2.5, kTolerance);
  EXPECT_TRUE(mb["cold_start_s"]["mean"].is_null());  // no cold start: no distribution
  // Overall: three TPOTs, 0.05, 0.05 and 0.5, mean 0.2; four TTFTs summing to 3.2, mean 0.8.
  EXPECT_NEAR(number(s["tpot_s"]["mean"]), 0.2, kTolerance);
  EXPECT_NEAR(number(s["tpot_s"]["max"]), 0.5, kTolerance);
  EXPECT_NEAR(number(s["ttft_s"]["mean"]), 0.8, kTolerance);
  EXPECT_NEAR(number(s["e2e_s"]["max"]), 2.5, kTolerance);
}

TEST(MetricsRecorder, SloAttainmentCountsEveryArrivalAndGoodputIsPerSimulatedSecond) {
  const Json s = summarize();
  // One request of each model met the SLO, out of three arrivals each (the rejected and the
  // unfinished ones count against it).
  for (const char* model : {"a", "b"}) {
    const Json& m = s["models"][model];
    EXPECT_EQ(m["slo"]["within"], 1) << model;
    EXPECT_NEAR(number(m["slo"]["attainment"]), 1.0 / 3, kTolerance) << model;
    EXPECT_NEAR(number(m["slo"]["goodput_per_s"]), 0.1, kTolerance) << model;
  }
  EXPECT_EQ(s["slo"]["within"], 2);
  EXPECT_NEAR(number(s["slo"]["attainment"]), 2.0 / 6, kTolerance);
  EXPECT_NEAR(number(s["slo"]["goodput_per_s"]), 0.2, kTolerance);
  EXPECT_EQ(number(s["slo"]["ttft_s"]), 1);
  EXPECT_EQ(number(s["slo"]["tpot_s"]), 0.1);
}

TEST(MetricsRecorder, GpuSecondsAreIntegratedByInstanceStateAndOpenIntervalsCloseAtTheEnd) {
  const Json s = summarize();
  const Json& ga = s["models"]["a"]["gpu_seconds"];
  const Json& gb = s["models"]["b"]["gpu_seconds"];
  EXPECT_NEAR(number(ga["loading"]), 2, kTolerance);
  EXPECT_NEAR(number(ga["busy"]), 2, kTolerance);
  EXPECT_NEAR(number(ga["idle"]), 4, kTolerance);
  EXPECT_NEAR(number(ga["migrating"]), 0, kTolerance);
  EXPECT_NEAR(number(gb["loading"]), 0.5, kTolerance);
  EXPECT_NEAR(number(gb["idle"]), 0.5, kTolerance);
  EXPECT_NEAR(number(gb["busy"]), 1.5, kTolerance);
  EXPECT_NEAR(number(gb["migrating"]), 5.5, kTolerance);  // still migrating at 10 s
  const Json& g = s["gpu_seconds"];
  EXPECT_NEAR(number(g["loading"]), 2.5, kTolerance);
  EXPECT_NEAR(number(g["idle"]), 4.5, kTolerance);
  EXPECT_NEAR(number(g["busy"]), 3.5, kTolerance);
  EXPECT_NEAR(number(g["migrating"]), 5.5, kTolerance);
  EXPECT_NEAR(number(g["free"]), 24, kTolerance);
}

TEST(MetricsRecorder, ServerlessBillingChargesHeldGpuSecondsAndReservedChargesTheWholeCluster) {
  const Json serverless = summarize("serverless");
  EXPECT_NEAR(number(serverless["models"]["a"]["usd"]), 0.008, kTolerance);
  EXPECT_NEAR(number(serverless["models"]["b"]["usd"]), 0.016, kTolerance);
  EXPECT_EQ(serverless["cost"]["billing"], "serverless");
  EXPECT_NEAR(number(serverless["cost"]["usd"]), 0.024, kTolerance);
  EXPECT_NEAR(number(serverless["cost"]["reserved_usd"]), 0.06, kTolerance);
  EXPECT_NEAR(number(serverless["cost"]["reserved_gpu_seconds"]), 40, kTolerance);
  const Json reserved = summarize("reserved");
  EXPECT_NEAR(number(reserved["cost"]["usd"]), 0.06, kTolerance);
  EXPECT_NEAR(number(reserved["cost"]["serverless_usd"]), 0.024, kTolerance);
}

TEST(MetricsRecorder, WritesOneRequestsCsvRowPerFinishedRequestInFinishingOrder) {
  testing::TempDir dir;
  OutputFile csv(dir.path() / "requests.csv");
  MetricsRecorder m({"a", "b"}, {"s0", "s1"}, &csv);
  m.configure(slo(), {{2, 3.6}, {2, 7.2}});
  replay(m);
  csv.commit();
  std::ifstream in(dir.path() / "requests.csv");
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(in, line)) rows.push_back(line);
  // A one-token answer leaves tpot_s empty; a warm request has no queue/load split or tier.
  const std::vector<std::string> expected{
      "id,model,arrival_s,input_tokens,output_tokens,ttft_s,tpot_s,e2e_s,cold_start,cold_start_s,server,"
      "queue_s,load_s,load_tier,preloaded,migrated",
      "2,b,0.000000,100,1,0.200000,,0.200000,0,0.000000,s1,0.000000,0.000000,,0,0",
      "0,a,0.000000,100,11,0.500000,0.050000,1.000000,0,0.000000,s0,0.000000,0.000000,,0,0",
      "1,a,1.000000,100,10,2.000000,0.050000,2.450000,1,1.500000,s0,0.500000,1.000000,dram,1,2",
      "3,b,2.000000,100,5,0.500000,0.500000,2.500000,0,0.000000,s1,0.000000,0.000000,,0,0"};
  EXPECT_EQ(rows, expected);
}

}  // namespace
}  // namespace slsim
