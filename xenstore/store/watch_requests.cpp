// XS_WATCH, XS_UNWATCH, XS_RESET_WATCHES (tools/xenstored/watch.c:
// do_watch(), do_unwatch(); domain.c: do_reset_watches()).
#include <algorithm>
#include <cerrno>

#include "xenstore/store/error.hpp"
#include "xenstore/store/path.hpp"
#include "xenstore/store/payload.hpp"
#include "xenstore/store/requests.hpp"

namespace pvsim::xenstore::store {
namespace {

struct WatchArgs {
    std::string node;
    std::string_view token;
    bool relative;
};

// "<path>\0<token>\0", exactly two strings; the path may be special.
WatchArgs watch_args(const RequestContext& context, std::string_view payload) {
    const auto arguments = args(payload);
    if (arguments.size() != 2) {
        throw XsError(EINVAL);
    }
    auto node = canonicalize(arguments[0], context.caller.domid, true);
    if (!node) {
        throw XsError(EINVAL);
    }
    return {std::move(*node), arguments[1], is_relative(arguments[0])};
}

}  // namespace

// Replies OK, then fires the new watch once (watch.c: "We fire once up
// front: simplifies clients and restart").
std::string do_watch(RequestContext& context, std::string_view payload) {
    WatchArgs request = watch_args(context, payload);
    auto& watches = context.connection.watches;
    if (std::any_of(watches.begin(), watches.end(), [&](const Watch& watch) {
            return watch.node == request.node && watch.token == request.token;
        })) {
        throw XsError(EEXIST);
    }
    // watch.c refuses once the count already exceeds the quota, letting one
    // more in than the quota says; pvsim stops at the quota.
    if (!context.caller.privileged() && watches.size() >= context.state.quotas.watches) {
        throw QuotaError(E2BIG, "watches", context.state.quotas.watches);
    }
    const std::size_t prefix = request.relative ? domain_path(context.caller.domid).size() + 1 : 0;
    Watch added{std::move(request.node), std::string(request.token), prefix};
    const std::size_t hard = context.state.quotas.memory_hard;
    if (!context.caller.privileged() && hard != 0 &&
        context.state.memory_of(context.caller.domid) + watch_memory(added) >= hard) {
        throw QuotaError(ENOMEM, "memory", hard);
    }
    const Watch& watch = watches.emplace_back(std::move(added));
    context.own_events.push_back(event_payload(watch, watch.node));
    return ok();
}

std::string do_unwatch(RequestContext& context, std::string_view payload) {
    const WatchArgs request = watch_args(context, payload);
    auto& watches = context.connection.watches;
    const auto it = std::find_if(watches.begin(), watches.end(), [&](const Watch& watch) {
        return watch.node == request.node && watch.token == request.token;
    });
    if (it == watches.end()) {
        throw XsError(ENOENT);
    }
    watches.erase(it);
    return ok();
}

// Drops the connection's watches and its transactions, as a guest does after
// kexec (Linux xenbus: xs_reset_watches()).
std::string do_reset_watches(RequestContext& context, std::string_view) {
    context.connection.watches.clear();
    context.connection.transactions.clear();
    context.transaction = nullptr;
    return ok();
}

}  // namespace pvsim::xenstore::store
