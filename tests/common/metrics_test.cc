#include "common/metrics.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vitte::task {
namespace {

TEST(MetricsTest, CounterRendersHelpTypeAndValue) {
  MetricsRegistry registry;
  Counter& c = registry.AddCounter("jobs_total", "Jobs done.");
  c.Increment();
  c.Increment(41);
  EXPECT_EQ(registry.Render(),
            "# HELP jobs_total Jobs done.\n"
            "# TYPE jobs_total counter\n"
            "jobs_total 42\n");
}

TEST(MetricsTest, LabelledCounterRendersSeriesSortedByLabelValues) {
  MetricsRegistry registry;
  CounterFamily& f =
      registry.AddCounterFamily("rpcs_total", "RPCs.", {"method", "code"});
  f.WithLabels({"Submit", "OK"}).Increment(3);
  f.WithLabels({"Get", "NOT_FOUND"}).Increment();
  f.WithLabels({"Submit", "OK"}).Increment();  // the same series
  EXPECT_EQ(registry.Render(),
            "# HELP rpcs_total RPCs.\n"
            "# TYPE rpcs_total counter\n"
            "rpcs_total{method=\"Get\",code=\"NOT_FOUND\"} 1\n"
            "rpcs_total{method=\"Submit\",code=\"OK\"} 4\n");
}

TEST(MetricsTest, GaugeGoesUpAndDown) {
  MetricsRegistry registry;
  Gauge& g = registry.AddGauge("slots", "Slots.");
  g.Set(5);
  g.Add(-7);
  EXPECT_EQ(registry.Render(),
            "# HELP slots Slots.\n"
            "# TYPE slots gauge\n"
            "slots -2\n");
}

TEST(MetricsTest, HistogramRendersCumulativeBucketsSumAndCount) {
  MetricsRegistry registry;
  Histogram& h =
      registry.AddHistogram("latency_seconds", "Latency.", {0.005, 0.1, 1});
  h.Observe(0.005);  // on a bound: counted in that bucket (le is inclusive)
  h.Observe(0.05);
  h.Observe(0.25);
  h.Observe(7);  // above every bound: only +Inf
  EXPECT_EQ(registry.Render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{le=\"0.005\"} 1\n"
            "latency_seconds_bucket{le=\"0.1\"} 2\n"
            "latency_seconds_bucket{le=\"1\"} 3\n"
            "latency_seconds_bucket{le=\"+Inf\"} 4\n"
            "latency_seconds_sum 7.305\n"
            "latency_seconds_count 4\n");
  EXPECT_EQ(h.Count(), 4u);
}

TEST(MetricsTest, BoundsAndSumsReadAsPlainDecimals) {
  MetricsRegistry registry;
  Histogram& h = registry.AddHistogram("h", "H.", {0.0001, 1000000});
  h.Observe(1e-7);
  h.Observe(12345.678);
  EXPECT_EQ(registry.Render(),
            "# HELP h H.\n"
            "# TYPE h histogram\n"
            "h_bucket{le=\"0.0001\"} 1\n"
            "h_bucket{le=\"1000000\"} 2\n"
            "h_bucket{le=\"+Inf\"} 2\n"
            "h_sum 12345.6780001\n"
            "h_count 2\n");
}

TEST(MetricsTest, LabelledHistogramPutsLeAfterItsLabels) {
  MetricsRegistry registry;
  HistogramFamily& f =
      registry.AddHistogramFamily("run_seconds", "Run.", {"outcome"}, {1});
  f.WithLabels({"failed"}).Observe(2);
  EXPECT_EQ(registry.Render(),
            "# HELP run_seconds Run.\n"
            "# TYPE run_seconds histogram\n"
            "run_seconds_bucket{outcome=\"failed\",le=\"1\"} 0\n"
            "run_seconds_bucket{outcome=\"failed\",le=\"+Inf\"} 1\n"
            "run_seconds_sum{outcome=\"failed\"} 2\n"
            "run_seconds_count{outcome=\"failed\"} 1\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  registry.AddCounterFamily("odd_total", "Back\\slash\nand newline.", {"v"})
      .WithLabels({"a\\b\"c\nd"})
      .Increment();
  EXPECT_EQ(registry.Render(),
            "# HELP odd_total Back\\\\slash\\nand newline.\n"
            "# TYPE odd_total counter\n"
            "odd_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
}

TEST(MetricsTest, FamiliesRenderInRegistrationOrder) {
  MetricsRegistry registry;
  registry.AddGauge("b", "B.").Set(1);
  registry.AddGauge("a", "A.").Set(2);
  EXPECT_EQ(registry.Render(),
            "# HELP b B.\n# TYPE b gauge\nb 1\n"
            "# HELP a A.\n# TYPE a gauge\na 2\n");
}

TEST(MetricsTest, RegisteringAgainReturnsTheSameMetric) {
  MetricsRegistry registry;
  Counter& first = registry.AddCounter("n_total", "N.");
  first.Increment();
  Counter& again = registry.AddCounter("n_total", "N.");
  EXPECT_EQ(&first, &again);
  EXPECT_EQ(again.Value(), 1u);
}

TEST(MetricsDeathTest, RegisteringANameAsAnotherTypeAborts) {
  MetricsRegistry registry;
  registry.AddCounter("x", "X.");
  EXPECT_DEATH(registry.AddGauge("x", "X."), "registered again");
  EXPECT_DEATH(registry.AddCounter("bad-name", "X."), "invalid metric name");
  EXPECT_DEATH(registry.AddCounterFamily("y", "Y.", {"le"}),
               "invalid label name");
}

TEST(MetricsTest, ScrapeHooksSetGaugesBeforeRenderingUntilRemoved) {
  MetricsRegistry registry;
  Gauge& g = registry.AddGauge("depth", "Depth.");
  int calls = 0;
  uint64_t id = registry.AddScrapeHook([&] { g.Set(++calls * 10); });
  EXPECT_TRUE(absl::StrContains(registry.Render(), "\ndepth 10\n"));
  EXPECT_TRUE(absl::StrContains(registry.Render(), "\ndepth 20\n"));
  registry.RemoveScrapeHook(id);
  EXPECT_TRUE(absl::StrContains(registry.Render(), "\ndepth 20\n"));
  EXPECT_EQ(calls, 2);
}

TEST(MetricsTest, ConcurrentRecordingSumsCorrectly) {
  MetricsRegistry registry;
  Counter& c = registry.AddCounter("c_total", "C.");
  CounterFamily& f = registry.AddCounterFamily("f_total", "F.", {"k"});
  Histogram& h = registry.AddHistogram("h", "H.", {0.5});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Half the threads look the labelled series up every time, racing
      // on its creation.
      Counter& mine = f.WithLabels({t % 2 == 0 ? "even" : "odd"});
      for (int i = 0; i < kPerThread; ++i) {
        c.Increment();
        if (t < kThreads / 2) {
          f.WithLabels({"shared"}).Increment();
        } else {
          mine.Increment();
        }
        h.Observe(i % 2 == 0 ? 0.25 : 1.0);
      }
    });
  }
  // Scrapes while recording must not disturb it.
  for (int i = 0; i < 20; ++i) registry.Render();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(c.Value(), uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(f.WithLabels({"shared"}).Value(),
            uint64_t{kThreads / 2} * kPerThread);
  EXPECT_EQ(f.WithLabels({"even"}).Value() + f.WithLabels({"odd"}).Value(),
            uint64_t{kThreads / 2} * kPerThread);
  EXPECT_THAT(h.CumulativeCounts(),
              ::testing::ElementsAre(uint64_t{kThreads} * kPerThread / 2,
                                     uint64_t{kThreads} * kPerThread));
  // 0.25 and 1.0 add exactly in binary floating point.
  EXPECT_EQ(h.Sum(), kThreads * (kPerThread / 2) * 1.25);
}

}  // namespace
}  // namespace vitte::task
