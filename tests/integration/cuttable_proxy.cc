#include "tests/integration/cuttable_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "gtest/gtest.h"

namespace vitte::task::integration {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

}  // namespace

CuttableProxy::CuttableProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(0);
  if (listen_fd_ < 0 ||
      bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 16) != 0) {
    ADD_FAILURE() << "proxy: cannot listen: " << strerror(errno);
    return;
  }
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

CuttableProxy::~CuttableProxy() {
  stopping_ = true;
  Cut();
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  for (std::thread& t : pumps_) t.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void CuttableProxy::Cut() {
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
}

void CuttableProxy::AcceptLoop() {
  // Polls with a timeout so that it notices stopping_.
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = Loopback(target_port_);
    if (upstream < 0 || connect(upstream, reinterpret_cast<sockaddr*>(&addr),
                                sizeof(addr)) != 0) {
      close(client);
      if (upstream >= 0) close(upstream);
      continue;
    }
    ++connections_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_fds_.push_back(client);
      open_fds_.push_back(upstream);
    }
    pumps_.emplace_back([this, client, upstream] { Pump(client, upstream); });
  }
}

void CuttableProxy::Pump(int a, int b) {
  char buf[16384];
  bool done = false;
  while (!done && !stopping_) {
    pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    if (poll(p, 2, 50) < 0) break;
    for (int i = 0; i < 2 && !done; ++i) {
      if (p[i].revents == 0) continue;
      ssize_t n = read(p[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        done = true;
        break;
      }
      const int to = i == 0 ? b : a;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, n - off);
        if (w <= 0) {
          done = true;
          break;
        }
        off += w;
      }
    }
  }
  // Under mu_, so that Cut() never shuts down a descriptor number that was
  // closed and reused meanwhile.
  std::lock_guard<std::mutex> lock(mu_);
  std::erase(open_fds_, a);
  std::erase(open_fds_, b);
  close(a);
  close(b);
}

}  // namespace vitte::task::integration
