// Requests that change nodes: XS_WRITE, XS_MKDIR, XS_RM, XS_SET_PERMS
// (tools/xenstored/core.c: do_write(), do_mkdir(), do_rm(), do_set_perms()).
#include <cerrno>

#include "xenstore/store/error.hpp"
#include "xenstore/store/path.hpp"
#include "xenstore/store/payload.hpp"
#include "xenstore/store/requests.hpp"

namespace pvsim::xenstore::store {

// "<path>\0<value>": the value is every byte after the first nul, nuls
// included, and is not nul-terminated.
std::string do_write(RequestContext& context, std::string_view payload) {
    const std::size_t nul = payload.find('\0');
    if (nul == std::string_view::npos) {
        throw XsError(EINVAL);
    }
    const auto path = canonicalize(payload.substr(0, nul), context.caller.domid, false);
    if (!path) {
        throw XsError(EINVAL);
    }
    std::string value(payload.substr(nul + 1));

    NodeRequest request(context);
    if (const Node* node = find_node(request.op(), *path, kPermWrite)) {
        Node changed = *node;
        changed.value = std::move(value);
        check_node_size(request.op(), changed);
        write_node(request.op(), *path, std::move(changed));
    } else {
        create_node(request.op(), *path, std::move(value));
    }
    request.view().changed(*path, false, nullptr);
    return ok();
}

// An existing node is fine, and changes nothing.
std::string do_mkdir(RequestContext& context, std::string_view payload) {
    const std::string path = path_arg(context, payload, false);
    NodeRequest request(context);
    if (find_node(request.op(), path, kPermWrite) == nullptr) {
        create_node(request.op(), path, "");
        request.view().changed(path, false, nullptr);
    }
    return ok();
}

// Removing a missing node succeeds if its parent exists; "/" stays.
std::string do_rm(RequestContext& context, std::string_view payload) {
    const std::string path = path_arg(context, payload, false);
    NodeRequest request(context);
    if (find_node(request.op(), path, kPermWrite) == nullptr) {
        if (request.view().read(parent_of(path)) != nullptr) {
            return ok();
        }
        throw XsError(ENOENT);
    }
    if (path == "/") {
        throw XsError(EINVAL);
    }
    remove_node(request.op(), path);
    return ok();
}

// "<path>\0<perm>\0<perm>\0...": only the owner (or dom0) may, and only dom0
// may give the node away. Special paths allowed, so that the toolstack can
// let a guest hear @releaseDomain.
std::string do_set_perms(RequestContext& context, std::string_view payload) {
    const auto arguments = args(payload);
    if (arguments.size() < 2) {
        throw XsError(EINVAL);
    }
    const bool unprivileged = !context.caller.privileged();
    if (unprivileged && arguments.size() - 1 > context.state.quotas.node_permissions) {
        throw QuotaError(ENOSPC, "node-permissions", context.state.quotas.node_permissions);
    }
    xen::xs::Permissions perms;
    for (std::size_t i = 1; i < arguments.size(); ++i) {
        const auto perm = xen::xs::parse_permission(arguments[i]);
        if (!perm) {
            throw XsError(EINVAL);
        }
        perms.push_back(*perm);
    }
    const auto path = canonicalize(arguments[0], context.caller.domid, true);
    if (!path) {
        throw XsError(EINVAL);
    }

    NodeRequest request(context);
    const Node& node = get_node(request.op(), *path, kPermWrite | kPermOwner);
    if (unprivileged && perms.front().domid != node.owner()) {
        throw XsError(EPERM);
    }
    Node changed = node;
    const xen::xs::Permissions old_perms = changed.perms;
    changed.perms = std::move(perms);
    check_node_size(request.op(), changed);
    write_node(request.op(), *path, std::move(changed));
    request.view().changed(*path, false, &old_perms);
    return ok();
}

}  // namespace pvsim::xenstore::store
