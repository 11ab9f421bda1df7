// Domain requests: XS_INTRODUCE, XS_RELEASE, XS_RESUME, XS_SET_TARGET,
// XS_GET_DOMAIN_PATH, XS_IS_DOMAIN_INTRODUCED (tools/xenstored/domain.c).
#include <cerrno>
#include <limits>

#include "xenstore/store/domains.hpp"
#include "xenstore/store/error.hpp"
#include "xenstore/store/path.hpp"
#include "xenstore/store/payload.hpp"
#include "xenstore/store/requests.hpp"

namespace pvsim::xenstore::store {
namespace {

std::optional<xen::DomId> parse_domid(std::string_view text) {
    const auto value = parse_decimal(text, std::numeric_limits<xen::DomId>::max());
    if (!value) {
        return std::nullopt;
    }
    return static_cast<xen::DomId>(*value);
}

// domain.c: onearg_domain() and find_connected_domain(): an introduced
// domain other than dom0.
xen::DomId introduced_domain_arg(const RequestContext& context, std::string_view payload) {
    const auto arg = one_arg(payload);
    const auto domid = arg ? parse_domid(*arg) : std::nullopt;
    if (!domid || *domid == 0) {
        throw XsError(EINVAL);
    }
    if (!context.state.introduced.contains(*domid)) {
        throw XsError(ENOENT);
    }
    return *domid;
}

}  // namespace

// "<domid>\0<gfn>\0<port>\0". The daemon maps the ring and binds the port
// (DomainHooks::introduce); @introduceDomain fires for a new domain. A domain
// introduced again keeps its connection but loses that connection's watches
// and transactions, and gets its event channel re-bound (domain.c:
// introduce_domain(), domain_conn_reset()). dom0 is never introduced this
// way: pvsim's dom0 speaks over the socket.
std::string do_introduce(RequestContext& context, std::string_view payload) {
    const auto arguments = args(payload);
    if (arguments.size() < 3) {
        throw XsError(EINVAL);
    }
    const auto domid = parse_domid(arguments[0]);
    const auto gfn = parse_decimal(arguments[1], std::numeric_limits<std::uint64_t>::max());
    const auto port = parse_decimal(arguments[2], std::numeric_limits<xen::EvtchnPort>::max());
    if (!domid || *domid == 0 || *domid >= xen::kDomidFirstReserved || !gfn || !port ||
        *port == 0) {
        throw XsError(EINVAL);
    }
    StoreState& state = context.state;
    const auto evtchn = static_cast<xen::EvtchnPort>(*port);
    if (state.introduced.contains(*domid)) {
        if (const int error = state.hooks.reintroduce(*domid, evtchn); error != 0) {
            throw XsError(error);
        }
        for (auto& [id, connection] : state.connections) {
            if (connection.domid == *domid) {
                connection.watches.clear();
                connection.transactions.clear();
            }
        }
        return ok();
    }
    if (const int error = state.hooks.introduce(*domid, *gfn, evtchn); error != 0) {
        throw XsError(error);
    }
    state.introduced.insert(*domid);
    context.events.push_back(
        capture_event(state.tree, std::string(kIntroduceDomain), true, std::nullopt));
    return ok();
}

// "<domid>\0": see forget_domain().
std::string do_release(RequestContext& context, std::string_view payload) {
    forget_domain(context.state, introduced_domain_arg(context, payload));
    return ok();
}

// "<domid>\0": C xenstored clears its note that the domain shut down, which
// pvsim does not keep.
std::string do_resume(RequestContext& context, std::string_view payload) {
    introduced_domain_arg(context, payload);
    return ok();
}

// "<domid>\0<target>\0": `domid` (a device model's stub domain) gets the
// access `target` has (domain.c: do_set_target()).
std::string do_set_target(RequestContext& context, std::string_view payload) {
    const auto arguments = args(payload);
    if (arguments.size() < 2) {
        throw XsError(EINVAL);
    }
    const auto domid = parse_domid(arguments[0]);
    const auto target = parse_domid(arguments[1]);
    if (!domid || !target) {
        throw XsError(EINVAL);
    }
    if (!context.state.introduced.contains(*domid) || !context.state.introduced.contains(*target)) {
        throw XsError(ENOENT);
    }
    context.state.targets[*domid] = *target;
    return ok();
}

std::string do_get_domain_path(RequestContext&, std::string_view payload) {
    const auto arg = one_arg(payload);
    const auto domid = arg ? parse_domid(*arg) : std::nullopt;
    if (!domid) {
        throw XsError(EINVAL);
    }
    std::string reply = domain_path(*domid);
    reply += '\0';
    return reply;
}

// "T\0" or "F\0"; DOMID_SELF is always introduced.
std::string do_is_domain_introduced(RequestContext& context, std::string_view payload) {
    const auto arg = one_arg(payload);
    const auto domid = arg ? parse_domid(*arg) : std::nullopt;
    if (!domid) {
        throw XsError(EINVAL);
    }
    const bool yes = *domid == xen::kDomidSelf || context.state.introduced.contains(*domid);
    return std::string(yes ? "T" : "F") + '\0';
}

}  // namespace pvsim::xenstore::store
