// What the request handlers share.
#include "xenstore/store/requests.hpp"

#include <cerrno>

#include "xenstore/store/error.hpp"
#include "xenstore/store/path.hpp"
#include "xenstore/store/payload.hpp"

namespace pvsim::xenstore::store {

NodeRequest::NodeRequest(RequestContext& context)
    : tree_view_(context.state.tree, context.events),
      op_{context.transaction ? static_cast<NodeView&>(*context.transaction)
                              : static_cast<NodeView&>(tree_view_),
          context.caller, context.state} {}

std::string path_arg(const RequestContext& context, std::string_view payload, bool allow_special) {
    const auto arg = one_arg(payload);
    if (!arg) {
        throw XsError(EINVAL);
    }
    auto path = canonicalize(*arg, context.caller.domid, allow_special);
    if (!path) {
        throw XsError(EINVAL);
    }
    return std::move(*path);
}

std::string ok() {
    return std::string("OK\0", 3);
}

}  // namespace pvsim::xenstore::store
