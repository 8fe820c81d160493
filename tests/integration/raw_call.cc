#include "tests/integration/raw_call.h"

#include <chrono>
#include <cstdint>
#include <memory>

#include <grpcpp/generic/generic_stub.h>

namespace vitte::task::integration {
namespace {

void* Tag(intptr_t n) { return reinterpret_cast<void*>(n); }

// Waits for the one operation in flight on `cq`; false if it failed. The
// call's deadline bounds the wait.
bool Await(grpc::CompletionQueue& cq) {
  void* tag = nullptr;
  bool ok = false;
  if (!cq.Next(&tag, &ok)) return false;
  return ok;
}

void Drain(grpc::CompletionQueue& cq) {
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

std::string Bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

// What one call needs: a channel to the daemon, a stub, a context with the
// 10 s deadline, a completion queue.
struct CallSetUp {
  CallSetUp(const std::string& address, const RawMetadata& metadata)
      : channel(grpc::CreateChannel(address,
                                    grpc::InsecureChannelCredentials())),
        stub(channel) {
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    for (const auto& [key, value] : metadata) ctx.AddMetadata(key, value);
  }
  std::shared_ptr<grpc::Channel> channel;
  grpc::GenericStub stub;
  grpc::ClientContext ctx;
  grpc::CompletionQueue cq;
};

}  // namespace

RawReply RawUnary(const std::string& address, const std::string& method,
                  const std::string& payload, const RawMetadata& metadata) {
  CallSetUp c(address, metadata);
  grpc::Slice slice(payload);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  RawReply reply;
  {
    auto call = c.stub.PrepareUnaryCall(&c.ctx, method, request, &c.cq);
    call->StartCall();
    call->Finish(&response, &reply.status, Tag(1));
    Await(c.cq);
  }
  Drain(c.cq);
  if (reply.status.ok()) reply.messages.push_back(Bytes(response));
  return reply;
}

RawReply RawStream(const std::string& address, const std::string& method,
                   const std::vector<std::string>& messages, bool half_close,
                   const RawMetadata& metadata) {
  CallSetUp c(address, metadata);
  grpc::CompletionQueue& cq = c.cq;
  RawReply reply;
  {
    auto call = c.stub.PrepareCall(&c.ctx, method, &cq);
    call->StartCall(Tag(1));
    if (Await(cq)) {
      bool written = true;
      for (const std::string& m : messages) {
        grpc::Slice slice(m);
        grpc::ByteBuffer buffer(&slice, 1);
        call->Write(buffer, Tag(2));
        if (!(written = Await(cq))) break;
      }
      if (written && half_close) {
        call->WritesDone(Tag(3));
        Await(cq);
      }
      grpc::ByteBuffer in;
      while (true) {
        call->Read(&in, Tag(4));
        if (!Await(cq)) break;
        reply.messages.push_back(Bytes(in));
      }
    }
    call->Finish(&reply.status, Tag(5));
    Await(cq);
  }
  Drain(cq);
  return reply;
}

}  // namespace vitte::task::integration
