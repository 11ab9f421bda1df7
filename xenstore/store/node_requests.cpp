// Requests that read nodes: XS_READ, XS_DIRECTORY, XS_DIRECTORY_PART,
// XS_GET_PERMS (tools/xenstored/core.c: do_read(), send_directory(),
// send_directory_part(), do_get_perms()).
#include <cerrno>
#include <limits>

#include "xenstore/store/error.hpp"
#include "xenstore/store/path.hpp"
#include "xenstore/store/payload.hpp"
#include "xenstore/store/requests.hpp"

namespace pvsim::xenstore::store {

std::string do_read(RequestContext& context, std::string_view payload) {
    const std::string path = path_arg(context, payload, false);
    NodeRequest request(context);
    return get_node(request.op(), path, kPermRead).value;
}

std::string do_directory(RequestContext& context, std::string_view payload) {
    const std::string path = path_arg(context, payload, false);
    NodeRequest request(context);
    // Longer than kPayloadMax: E2BIG from Xenstore::handle(), and
    // libxenstore falls back to XS_DIRECTORY_PART.
    return children_list(get_node(request.op(), path, kPermRead));
}

// Reply: "<generation>\0" then as many whole child names (each
// nul-terminated) from byte `offset` of the child list as fit, and one more
// nul once the list's end is reached. libxenstore's xs_directory_part()
// restarts from offset 0 if the generation changed between parts.
std::string do_directory_part(RequestContext& context, std::string_view payload) {
    const auto arguments = args(payload);
    if (arguments.size() != 2) {
        throw XsError(EINVAL);
    }
    const auto path = canonicalize(arguments[0], context.caller.domid, false);
    const auto offset = parse_decimal(arguments[1], std::numeric_limits<std::uint32_t>::max());
    if (!path || !offset) {
        throw XsError(EINVAL);
    }
    NodeRequest request(context);
    const Node& node = get_node(request.op(), *path, kPermRead);

    std::string reply = std::to_string(node.generation);
    reply += '\0';
    const std::string children = children_list(node);
    const std::size_t off = *offset;
    if (off >= children.size()) {
        reply += '\0';
        return reply;
    }
    const std::size_t max_len = xen::xs::kPayloadMax - reply.size() - 1;
    std::size_t len = 0;
    while (true) {
        const std::size_t start = off + len;
        const std::size_t name_len = children.find('\0', start) - start;
        if (len + name_len >= max_len) {
            break;
        }
        len += name_len + 1;
        if (off + len == children.size()) {
            break;
        }
    }
    reply.append(children, off, len);
    if (off + len == children.size()) {
        reply += '\0';
    }
    return reply;
}

std::string do_get_perms(RequestContext& context, std::string_view payload) {
    const std::string path = path_arg(context, payload, true);
    NodeRequest request(context);
    return xen::xs::format_permissions(get_node(request.op(), path, kPermRead).perms);
}

}  // namespace pvsim::xenstore::store
