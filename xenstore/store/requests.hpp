// The request handlers, one per XS_* type (C xenstored's wire_funcs[] in
// tools/xenstored/core.c and the do_* functions it names). Each returns the
// reply payload, sent with the request's type, or throws XsError for an
// XS_ERROR reply.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "xenstore/store/node_ops.hpp"
#include "xenstore/store/state.hpp"
#include "xenstore/store/tree_view.hpp"

namespace pvsim::xenstore::store {

struct RequestContext {
    StoreState& state;
    ConnectionId id;
    Connection& connection;
    Caller caller;
    std::uint32_t tx_id;
    Transaction* transaction;             // the request's, nullptr outside one
    std::vector<WatchEvent> events;       // fired before the reply
    std::vector<std::string> own_events;  // to the requester after the reply
};

// The node operations of one request, on its transaction or the tree.
class NodeRequest {
  public:
    explicit NodeRequest(RequestContext& context);
    Operation& op() { return op_; }
    NodeView& view() { return op_.view; }

  private:
    TreeView tree_view_;
    Operation op_;
};

// The request's only argument as a node name; EINVAL if missing or invalid.
std::string path_arg(const RequestContext& context, std::string_view payload, bool allow_special);

// "OK\0", the reply of requests that answer nothing else (core.c: send_ack()).
std::string ok();

using Handler = std::string (*)(RequestContext& context, std::string_view payload);

// node_requests.cpp
std::string do_read(RequestContext& context, std::string_view payload);
std::string do_directory(RequestContext& context, std::string_view payload);
std::string do_directory_part(RequestContext& context, std::string_view payload);
std::string do_get_perms(RequestContext& context, std::string_view payload);
// node_changes.cpp
std::string do_write(RequestContext& context, std::string_view payload);
std::string do_mkdir(RequestContext& context, std::string_view payload);
std::string do_rm(RequestContext& context, std::string_view payload);
std::string do_set_perms(RequestContext& context, std::string_view payload);
// watch_requests.cpp
std::string do_watch(RequestContext& context, std::string_view payload);
std::string do_unwatch(RequestContext& context, std::string_view payload);
std::string do_reset_watches(RequestContext& context, std::string_view payload);
// transaction_requests.cpp
std::string do_transaction_start(RequestContext& context, std::string_view payload);
std::string do_transaction_end(RequestContext& context, std::string_view payload);
// domain_requests.cpp
std::string do_introduce(RequestContext& context, std::string_view payload);
std::string do_release(RequestContext& context, std::string_view payload);
std::string do_resume(RequestContext& context, std::string_view payload);
std::string do_set_target(RequestContext& context, std::string_view payload);
std::string do_get_domain_path(RequestContext& context, std::string_view payload);
std::string do_is_domain_introduced(RequestContext& context, std::string_view payload);
// control.cpp
std::string do_control(RequestContext& context, std::string_view payload);

}  // namespace pvsim::xenstore::store
