#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace vitte::task {
namespace {

// Registration mistakes are programming errors found at start-up: the
// metric set is fixed at compile time, so there is nothing to recover.
[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "metrics: %s\n", message.c_str());
  std::abort();
}

bool ValidName(absl::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = absl::ascii_isalpha(c) || c == '_' || (allow_colon && c == ':') ||
              (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

// A sample value: the shortest text that reads back as the same double
// ("0.005", not "0.0050000000000000001"), in plain decimals for the usual
// magnitudes ("0.0001" rather than "1e-04", which is shorter but harder to
// read in a bucket bound), and Prometheus's spellings of the special values.
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  const double magnitude = std::fabs(v);
  const bool plain = v == 0 || (magnitude >= 1e-6 && magnitude < 1e15);
  char buf[64];  // enough for both forms in these ranges
  auto [end, ec] =
      plain ? std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed)
            : std::to_chars(buf, buf + sizeof(buf), v);
  if (ec != std::errc()) return absl::StrCat(v);  // cannot happen, see buf
  return std::string(buf, end);
}

// # HELP text escapes only backslash and newline.
std::string EscapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// `a="x",b="y"` for label names and values of equal length.
std::string FormatLabels(const std::vector<std::string>& names,
                         const std::vector<std::string>& values) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    absl::StrAppend(&out, names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  return out;
}

// `name{labels} value\n`, without braces when there are no labels.
void AppendSample(std::string& out, absl::string_view name,
                  absl::string_view labels, absl::string_view value) {
  out.append(name.data(), name.size());
  if (!labels.empty()) absl::StrAppend(&out, "{", labels, "}");
  absl::StrAppend(&out, " ", value, "\n");
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i + 1 < bounds_.size(); ++i) {
    if (!(bounds_[i] < bounds_[i + 1])) Die("histogram bounds not ascending");
  }
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double value) {
  // First bound >= value: buckets are inclusive of their upper bound. A NaN
  // compares false with everything and lands in +Inf.
  size_t i =
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

uint64_t Histogram::Count() const { return CumulativeCounts().back(); }

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
}

std::vector<double> DurationBuckets() {
  return {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 14400};
}

std::vector<double> SizeBuckets() {
  return {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10000, 100000, 1000000};
}

void MetricFamilyBase::Render(std::string& out) const {
  absl::StrAppend(&out, "# HELP ", name_, " ", EscapeHelp(help_), "\n");
  absl::StrAppend(&out, "# TYPE ", name_, " ", type_, "\n");
  RenderSamples(out);
}

template <typename Metric>
Metric& MetricFamily<Metric>::WithLabels(std::vector<std::string> values) {
  values.resize(label_names().size());
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = series_.find(values);
    if (it != series_.end()) return *it->second;
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Metric>& slot = series_[std::move(values)];
  if (slot == nullptr) slot = Make();
  return *slot;
}

template <typename Metric>
void MetricFamily<Metric>::RenderSamples(std::string& out) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [values, metric] : series_) {
    RenderSeries(*metric, FormatLabels(label_names(), values), out);
  }
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

void CounterFamily::RenderSeries(const Counter& metric,
                                 const std::string& labels,
                                 std::string& out) const {
  AppendSample(out, name(), labels, absl::StrCat(metric.Value()));
}

void GaugeFamily::RenderSeries(const Gauge& metric, const std::string& labels,
                               std::string& out) const {
  AppendSample(out, name(), labels, absl::StrCat(metric.Value()));
}

void HistogramFamily::RenderSeries(const Histogram& metric,
                                   const std::string& labels,
                                   std::string& out) const {
  // The counts are read once, so that _count equals the +Inf bucket.
  std::vector<uint64_t> cumulative = metric.CumulativeCounts();
  const std::string bucket = absl::StrCat(name(), "_bucket");
  const std::string sep = labels.empty() ? "" : ",";
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    std::string le = i < bounds_.size() ? FormatValue(bounds_[i]) : "+Inf";
    AppendSample(out, bucket, absl::StrCat(labels, sep, "le=\"", le, "\""),
                 absl::StrCat(cumulative[i]));
  }
  AppendSample(out, absl::StrCat(name(), "_sum"), labels,
               FormatValue(metric.Sum()));
  AppendSample(out, absl::StrCat(name(), "_count"), labels,
               absl::StrCat(cumulative.back()));
}

MetricFamilyBase* MetricsRegistry::Find(
    const std::string& name, absl::string_view type,
    const std::vector<std::string>& label_names) {
  for (const std::unique_ptr<MetricFamilyBase>& f : families_) {
    if (f->name() != name) continue;
    if (f->type() != type || f->label_names() != label_names) {
      Die(absl::StrCat("metric ", name,
                       " registered again as another type or with other "
                       "labels"));
    }
    return f.get();
  }
  return nullptr;
}

template <typename Family>
Family& MetricsRegistry::Add(
    const std::string& name, absl::string_view type,
    const std::vector<std::string>& label_names,
    absl::FunctionRef<std::unique_ptr<Family>()> make) {
  if (!ValidName(name, /*allow_colon=*/true)) {
    Die(absl::StrCat("invalid metric name \"", name, "\""));
  }
  for (const std::string& label : label_names) {
    // Names starting with __ are reserved; `le` is the histograms' own.
    if (!ValidName(label, /*allow_colon=*/false) || label.rfind("__", 0) == 0 ||
        label == "le") {
      Die(absl::StrCat("invalid label name \"", label, "\" of ", name));
    }
  }
  absl::MutexLock lock(&mu_);
  if (MetricFamilyBase* found = Find(name, type, label_names)) {
    return static_cast<Family&>(*found);
  }
  std::unique_ptr<Family> family = make();
  Family& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

CounterFamily& MetricsRegistry::AddCounterFamily(
    const std::string& name, const std::string& help,
    std::vector<std::string> label_names) {
  return Add<CounterFamily>(name, "counter", label_names, [&] {
    return std::make_unique<CounterFamily>(name, help, label_names);
  });
}

GaugeFamily& MetricsRegistry::AddGaugeFamily(
    const std::string& name, const std::string& help,
    std::vector<std::string> label_names) {
  return Add<GaugeFamily>(name, "gauge", label_names, [&] {
    return std::make_unique<GaugeFamily>(name, help, label_names);
  });
}

HistogramFamily& MetricsRegistry::AddHistogramFamily(
    const std::string& name, const std::string& help,
    std::vector<std::string> label_names, std::vector<double> bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i]))) {
      Die(absl::StrCat("histogram ", name, ": bounds not finite ascending"));
    }
  }
  HistogramFamily& family =
      Add<HistogramFamily>(name, "histogram", label_names, [&] {
        return std::make_unique<HistogramFamily>(name, help, label_names,
                                                 bounds);
      });
  if (family.bounds() != bounds) {
    Die(absl::StrCat("histogram ", name, " registered again, other bounds"));
  }
  return family;
}

uint64_t MetricsRegistry::AddScrapeHook(absl::AnyInvocable<void()> hook) {
  absl::MutexLock lock(&hooks_mu_);
  uint64_t id = ++last_hook_id_;
  hooks_[id] = std::move(hook);
  return id;
}

void MetricsRegistry::RemoveScrapeHook(uint64_t id) {
  absl::MutexLock lock(&hooks_mu_);
  hooks_.erase(id);
}

std::string MetricsRegistry::Render() {
  {
    absl::MutexLock lock(&hooks_mu_);
    for (auto& [id, hook] : hooks_) hook();
  }
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const std::unique_ptr<MetricFamilyBase>& f : families_) f->Render(out);
  return out;
}

}  // namespace vitte::task
