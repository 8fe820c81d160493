// Counters, gauges and histograms for the daemons' /metrics, rendered in the
// Prometheus text exposition format (version 0.0.4). Plain C++: no HTTP, no
// gRPC (common/metrics_http.h serves a registry).
//
// Recording is lock-free (relaxed atomics), so that the coordinator's hot
// path (tens of thousands of task transitions a second, under its own
// mutex) never waits on a metrics lock. A labelled series is found or
// created under its family's mutex; hot paths look it up once and keep the
// pointer, which stays valid as long as the registry.
#ifndef VITTE_COMMON_METRICS_H_
#define VITTE_COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace vitte::task {

// A count that only goes up. Thread-safe.
class Counter {
 public:
  void Increment(uint64_t n = 1) {
    value_.fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down. Integral: every gauge we export counts
// something (tasks, slots, workers). Thread-safe.
class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Observations counted in buckets with fixed upper bounds (inclusive, as
// Prometheus's `le`), plus their sum. Thread-safe. A scrape that races with
// Observe may see the sum and the counts one observation apart; the counts
// are always consistent with each other (the count is their total).
class Histogram {
 public:
  // `bounds`: ascending, finite; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);

  const std::vector<double>& bounds() const { return bounds_; }
  // Observations <= bounds()[i] for each i, then the total (the +Inf
  // bucket): bounds().size() + 1 values, non-decreasing.
  std::vector<uint64_t> CumulativeCounts() const;
  uint64_t Count() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double> bounds_;
  // Per bucket, not cumulative: counts_[i] holds values in
  // (bounds_[i-1], bounds_[i]]; the last one values above every bound.
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// Bucket bounds for latencies, 100 µs to 60 s.
std::vector<double> LatencyBuckets();
// Bucket bounds for task run times, 10 ms to 4 h.
std::vector<double> DurationBuckets();
// Bucket bounds for sizes (rows, items), 1 to 1,000,000.
std::vector<double> SizeBuckets();

// What the registry needs of a family to render it.
class MetricFamilyBase {
 public:
  MetricFamilyBase(std::string name, std::string help, std::string type,
                   std::vector<std::string> label_names)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(std::move(type)),
        label_names_(std::move(label_names)) {}
  virtual ~MetricFamilyBase() = default;

  const std::string& name() const { return name_; }
  const std::string& type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Appends the family's # HELP and # TYPE lines, then its samples.
  void Render(std::string& out) const;

 protected:
  // Appends the sample lines of every series, sorted by label values.
  virtual void RenderSamples(std::string& out) const = 0;

 private:
  const std::string name_;
  const std::string help_;
  const std::string type_;
  const std::vector<std::string> label_names_;
};

// Series of one metric, one per combination of label values, created on
// first use. Thread-safe; references returned stay valid as long as the
// family (the registry) does.
template <typename Metric>
class MetricFamily : public MetricFamilyBase {
 public:
  using MetricFamilyBase::MetricFamilyBase;

  // The series with these label values (as many as label_names(); missing
  // ones are empty, extra ones ignored). Takes the family's lock: hot paths
  // keep the reference.
  Metric& WithLabels(std::vector<std::string> values);
  // The series without labels, for a family that has none.
  Metric& Get() { return WithLabels({}); }

 protected:
  // Makes a new series (histograms need their bounds).
  virtual std::unique_ptr<Metric> Make() const = 0;
  // Appends the lines of one series; `labels` is its rendered label list
  // without braces, e.g. `state="ready"` ("" without labels).
  virtual void RenderSeries(const Metric& metric, const std::string& labels,
                            std::string& out) const = 0;

 private:
  void RenderSamples(std::string& out) const override;

  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> series_
      ABSL_GUARDED_BY(mu_);
};

class CounterFamily final : public MetricFamily<Counter> {
 public:
  CounterFamily(std::string name, std::string help,
                std::vector<std::string> label_names)
      : MetricFamily(std::move(name), std::move(help), "counter",
                     std::move(label_names)) {}

 private:
  std::unique_ptr<Counter> Make() const override {
    return std::make_unique<Counter>();
  }
  void RenderSeries(const Counter& metric, const std::string& labels,
                    std::string& out) const override;
};

class GaugeFamily final : public MetricFamily<Gauge> {
 public:
  GaugeFamily(std::string name, std::string help,
              std::vector<std::string> label_names)
      : MetricFamily(std::move(name), std::move(help), "gauge",
                     std::move(label_names)) {}

 private:
  std::unique_ptr<Gauge> Make() const override {
    return std::make_unique<Gauge>();
  }
  void RenderSeries(const Gauge& metric, const std::string& labels,
                    std::string& out) const override;
};

class HistogramFamily final : public MetricFamily<Histogram> {
 public:
  HistogramFamily(std::string name, std::string help,
                  std::vector<std::string> label_names,
                  std::vector<double> bounds)
      : MetricFamily(std::move(name), std::move(help), "histogram",
                     std::move(label_names)),
        bounds_(std::move(bounds)) {}

  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::unique_ptr<Histogram> Make() const override {
    return std::make_unique<Histogram>(bounds_);
  }
  void RenderSeries(const Histogram& metric, const std::string& labels,
                    std::string& out) const override;

  const std::vector<double> bounds_;
};

// The metrics of one process, rendered in registration order. Thread-safe.
//
// Names must be valid Prometheus names and label names (checked: an invalid
// one, or a name registered again as another type or with other labels, is
// a programming error and aborts). Registering a name again with the same
// type and labels returns the existing family, so that a component
// recreated on the same registry (a coordinator restarted in a test) keeps
// counting.
class MetricsRegistry {
 public:
  static constexpr char kContentType[] =
      "text/plain; version=0.0.4; charset=utf-8";

  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  CounterFamily& AddCounterFamily(const std::string& name,
                                  const std::string& help,
                                  std::vector<std::string> label_names);
  GaugeFamily& AddGaugeFamily(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names);
  HistogramFamily& AddHistogramFamily(const std::string& name,
                                      const std::string& help,
                                      std::vector<std::string> label_names,
                                      std::vector<double> bounds);
  // Unlabelled metrics.
  Counter& AddCounter(const std::string& name, const std::string& help) {
    return AddCounterFamily(name, help, {}).Get();
  }
  Gauge& AddGauge(const std::string& name, const std::string& help) {
    return AddGaugeFamily(name, help, {}).Get();
  }
  Histogram& AddHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds) {
    return AddHistogramFamily(name, help, {}, std::move(bounds)).Get();
  }

  // `hook` runs at the start of every Render, to set gauges that are views
  // of some state (computed once per scrape rather than on every change).
  // Returns an id for RemoveScrapeHook. Hooks run one at a time, with no
  // lock of the registry's families held.
  uint64_t AddScrapeHook(absl::AnyInvocable<void()> hook);
  // Once it returns, the hook is not running and will not run again: its
  // owner may go. Must not be called from a hook.
  void RemoveScrapeHook(uint64_t id);

  // Runs the scrape hooks, then renders every family.
  std::string Render();

 private:
  // The family registered under `name`, checked against `type` and
  // `label_names`; nullptr if there is none.
  MetricFamilyBase* Find(const std::string& name, absl::string_view type,
                         const std::vector<std::string>& label_names)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The family registered under `name`, or the one `make` returns, once
  // `name` and `label_names` are checked.
  template <typename Family>
  Family& Add(const std::string& name, absl::string_view type,
              const std::vector<std::string>& label_names,
              absl::FunctionRef<std::unique_ptr<Family>()> make);

  absl::Mutex mu_;
  std::vector<std::unique_ptr<MetricFamilyBase>> families_ ABSL_GUARDED_BY(mu_);

  // Held while hooks run, so that RemoveScrapeHook waits for a running one.
  absl::Mutex hooks_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::map<uint64_t, absl::AnyInvocable<void()>> hooks_
      ABSL_GUARDED_BY(hooks_mu_);
  uint64_t last_hook_id_ ABSL_GUARDED_BY(hooks_mu_) = 0;
};

// Escapes a label value for the exposition format: backslash, double quote
// and newline become \\, \" and \n.
std::string EscapeLabelValue(absl::string_view value);

}  // namespace vitte::task

#endif  // VITTE_COMMON_METRICS_H_
