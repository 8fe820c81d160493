// The server side of WatchGraph and FollowEvents: one reactor streams what
// Coordinator::Follow delivers to one client.
#ifndef VITTE_COORDINATOR_EVENT_STREAM_H_
#define VITTE_COORDINATOR_EVENT_STREAM_H_

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "coordinator/auth.h"
#include "coordinator/coordinator.h"
#include "coordinator/rpc_metrics.h"

namespace vitte::task {

enum class EventFraming {
  // WatchGraph: one GraphEvent per message.
  kOnePerMessage,
  // FollowEvents: EventBatch messages, as many events as are queued, up to
  // a size limit.
  kBatches,
};

struct FollowTarget {
  GraphId graph_id = 0;  // 0: every graph
  uint64_t after = 0;
};

// Starts following `target` for `caller` (or finishes at once with the
// error of a target that did not parse, or of a caller refused). Ends with
// UNAUTHENTICATED if the caller's token is revoked while it lasts (see
// Authenticator::WatchCall). Counts the call in `rpc` under `method` when
// it ends. Deletes itself when the call is done; `auth` must outlive it.
grpc::ServerWriteReactor<grpc::ByteBuffer>* NewEventStream(
    Coordinator& coordinator, Authenticator& auth,
    const absl::StatusOr<Caller>& caller, absl::StatusOr<FollowTarget> target,
    EventFraming framing, RpcMetrics& rpc, absl::string_view method);

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_EVENT_STREAM_H_
