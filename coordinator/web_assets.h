// The dashboard's files (coordinator/web/), compiled into vitte-taskd so
// that the daemon serves them with nothing to install and nothing fetched
// from elsewhere. The definitions are generated at build time by
// coordinator/embed_assets.cmake.
#ifndef VITTE_COORDINATOR_WEB_ASSETS_H_
#define VITTE_COORDINATOR_WEB_ASSETS_H_

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace vitte::task {

struct WebAsset {
  // Path under coordinator/web/, e.g. "app.js".
  absl::string_view name;
  absl::string_view content;
};

// Every file, sorted by name. The memory is static.
absl::Span<const WebAsset> WebAssets();

}  // namespace vitte::task

#endif  // VITTE_COORDINATOR_WEB_ASSETS_H_
