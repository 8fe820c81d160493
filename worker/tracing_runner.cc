#include "worker/tracing_runner.h"

#include <cstdio>
#include <utility>

#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

namespace vitte::task {

TracingRunner::TracingRunner(CommandRunner& inner, std::string path)
    : inner_(inner), path_(std::move(path)) {}

TracingRunner::~TracingRunner() {
  absl::MutexLock lock(&mu_);
  FILE* out = std::fopen(path_.c_str(), "w");
  if (out == nullptr) {
    spdlog::error("cannot write the trace file \"{}\"", path_);
    return;
  }
  for (const Span& s : spans_) {
    std::fprintf(out, "%llu %lld %lld\n",
                 static_cast<unsigned long long>(s.run_id),
                 static_cast<long long>(s.start_us),
                 static_cast<long long>(s.end_us));
  }
  if (std::fclose(out) != 0) {
    spdlog::error("cannot write the trace file \"{}\"", path_);
  }
}

void TracingRunner::Start(uint64_t run_id, ProcessSpec spec,
                          DoneCallback done) {
  {
    absl::MutexLock lock(&mu_);
    started_[run_id] = absl::ToUnixMicros(absl::Now());
  }
  inner_.Start(run_id, std::move(spec),
               [this, run_id, done = std::move(done)](ProcessResult r) mutable {
                 {
                   absl::MutexLock lock(&mu_);
                   auto it = started_.find(run_id);
                   if (it != started_.end()) {
                     spans_.push_back({run_id, it->second,
                                       absl::ToUnixMicros(absl::Now())});
                     started_.erase(it);
                   }
                 }
                 std::move(done)(std::move(r));
               });
}

}  // namespace vitte::task
