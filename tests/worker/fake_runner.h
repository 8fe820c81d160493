// A CommandRunner for Worker tests: runs nothing, holds every run until
// the test writes its output or finishes it.
#ifndef VITTE_TESTS_WORKER_FAKE_RUNNER_H_
#define VITTE_TESTS_WORKER_FAKE_RUNNER_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "worker/command_runner.h"

namespace vitte::task {

// Holds every started run until the test finishes it. Calls `done` on the
// test's thread, which is allowed: the Worker must not hold its lock.
class FakeRunner : public CommandRunner {
 public:
  void Start(uint64_t run_id, ProcessSpec spec, DoneCallback done) override {
    absl::MutexLock lock(&mu_);
    started_.push_back(run_id);
    specs_[run_id] = std::move(spec);
    done_[run_id] = std::move(done);
  }
  void Cancel(uint64_t run_id) override {
    DoneCallback done;
    {
      absl::MutexLock lock(&mu_);
      cancelled_.push_back(run_id);
      auto it = done_.find(run_id);
      if (it == done_.end()) return;
      done = std::move(it->second);
      done_.erase(it);
    }
    ProcessResult r;
    r.started = true;
    r.cancelled = true;
    std::move(done)(r);
  }
  int running() const override {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(done_.size());
  }

  // Hands `data` to run `id`'s output callback, as a process writing it.
  void Write(uint64_t id, OutputStream stream, const std::string& data) {
    std::function<void(OutputStream, absl::string_view)> out;
    {
      absl::MutexLock lock(&mu_);
      out = specs_.at(id).on_output;
    }
    out(stream, data);
  }
  // Ends run `id` with `exit_code`.
  void Finish(uint64_t id, int exit_code = 0) {
    DoneCallback done;
    {
      absl::MutexLock lock(&mu_);
      done = std::move(done_.at(id));
      done_.erase(id);
    }
    ProcessResult r;
    r.started = true;
    r.exit_code = exit_code;
    r.stdout_tail = "out";
    std::move(done)(r);
  }
  std::vector<uint64_t> started() const {
    absl::MutexLock lock(&mu_);
    return started_;
  }
  std::vector<uint64_t> cancelled() const {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }
  ProcessSpec spec(uint64_t id) const {
    absl::MutexLock lock(&mu_);
    return specs_.at(id);
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<uint64_t> started_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> cancelled_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, ProcessSpec> specs_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, DoneCallback> done_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vitte::task

#endif  // VITTE_TESTS_WORKER_FAKE_RUNNER_H_
