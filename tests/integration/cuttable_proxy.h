// A TCP proxy on loopback whose connections a test can cut: a broken
// connection with both ends alive (a network that fails, not a process).
#ifndef VITTE_TESTS_INTEGRATION_CUTTABLE_PROXY_H_
#define VITTE_TESTS_INTEGRATION_CUTTABLE_PROXY_H_

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace vitte::task::integration {

// Forwards every connection accepted on 127.0.0.1:port() to
// 127.0.0.1:`target_port`, on threads of its own. Thread-safe; destruction
// closes everything and joins its threads.
class CuttableProxy {
 public:
  // Listens on a free port; records a test failure if it cannot.
  explicit CuttableProxy(int target_port);
  ~CuttableProxy();
  CuttableProxy(const CuttableProxy&) = delete;
  CuttableProxy& operator=(const CuttableProxy&) = delete;

  // 0 if the proxy could not listen.
  int port() const { return port_; }
  // Connections accepted and forwarded so far.
  int connections() const { return connections_; }

  // Breaks every open connection (both sides see an EOF or a reset); new
  // ones are still accepted and forwarded.
  void Cut();

 private:
  void AcceptLoop();
  // Copies bytes both ways between `a` and `b` until either side ends, then
  // closes both.
  void Pump(int a, int b);

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_ = false;
  std::atomic<int> connections_ = 0;
  std::thread acceptor_;
  // Touched by the acceptor thread only, then by the destructor once that
  // thread has ended.
  std::vector<std::thread> pumps_;
  std::mutex mu_;
  std::vector<int> open_fds_;  // guarded by mu_; both ends of every pump
};

}  // namespace vitte::task::integration

#endif  // VITTE_TESTS_INTEGRATION_CUTTABLE_PROXY_H_
