// Connections and request dispatch (tools/xenstored/core.c:
// process_message() and wire_funcs[]).
#include "xenstore/store/xenstore.hpp"

#include <cerrno>
#include <new>
#include <stdexcept>
#include <string>

#include <spdlog/spdlog.h>

#include "xenstore/store/domains.hpp"
#include "xenstore/store/error.hpp"
#include "xenstore/store/requests.hpp"
#include "xenstore/store/state.hpp"

namespace pvsim::xenstore::store {
namespace {

using xen::xs::MessageType;

struct Dispatch {
    Handler handler;
    bool privileged_only;      // core.c: XS_FLAG_PRIV
    bool ignores_transaction;  // core.c: XS_FLAG_NOTID
};

// nullptr for types with no handler (XS_WATCH_EVENT, XS_ERROR, the removed
// XS_RESTRICT, unknown numbers): answered ENOSYS.
const Dispatch* dispatch_for(std::uint32_t type) {
    static const Dispatch control{do_control, true, false};
    static const Dispatch directory{do_directory, false, false};
    static const Dispatch read{do_read, false, false};
    static const Dispatch get_perms{do_get_perms, false, false};
    static const Dispatch watch{do_watch, false, true};
    static const Dispatch unwatch{do_unwatch, false, true};
    static const Dispatch transaction_start{do_transaction_start, false, false};
    static const Dispatch transaction_end{do_transaction_end, false, false};
    static const Dispatch introduce{do_introduce, true, false};
    static const Dispatch release{do_release, true, false};
    static const Dispatch get_domain_path{do_get_domain_path, false, false};
    static const Dispatch write{do_write, false, false};
    static const Dispatch mkdir{do_mkdir, false, false};
    static const Dispatch rm{do_rm, false, false};
    static const Dispatch set_perms{do_set_perms, false, false};
    static const Dispatch is_domain_introduced{do_is_domain_introduced, true, false};
    static const Dispatch resume{do_resume, true, false};
    static const Dispatch set_target{do_set_target, true, false};
    static const Dispatch reset_watches{do_reset_watches, false, false};
    static const Dispatch directory_part{do_directory_part, false, false};

    switch (static_cast<MessageType>(type)) {
        case MessageType::control:
            return &control;
        case MessageType::directory:
            return &directory;
        case MessageType::read:
            return &read;
        case MessageType::get_perms:
            return &get_perms;
        case MessageType::watch:
            return &watch;
        case MessageType::unwatch:
            return &unwatch;
        case MessageType::transaction_start:
            return &transaction_start;
        case MessageType::transaction_end:
            return &transaction_end;
        case MessageType::introduce:
            return &introduce;
        case MessageType::release:
            return &release;
        case MessageType::get_domain_path:
            return &get_domain_path;
        case MessageType::write:
            return &write;
        case MessageType::mkdir:
            return &mkdir;
        case MessageType::rm:
            return &rm;
        case MessageType::set_perms:
            return &set_perms;
        case MessageType::is_domain_introduced:
            return &is_domain_introduced;
        case MessageType::resume:
            return &resume;
        case MessageType::set_target:
            return &set_target;
        case MessageType::reset_watches:
            return &reset_watches;
        case MessageType::directory_part:
            return &directory_part;
        case MessageType::watch_event:
        case MessageType::error:
        case MessageType::type_count:
        case MessageType::invalid:
            break;
    }
    return nullptr;
}

// Runs the request; the reply payload, or throws XsError.
std::string run(RequestContext& context, std::uint32_t type, std::string_view payload) {
    const Dispatch* dispatch = dispatch_for(type);
    if (dispatch == nullptr) {
        throw XsError(ENOSYS);
    }
    if (dispatch->privileged_only && !context.caller.privileged()) {
        throw XsError(EACCES);
    }
    if (!dispatch->ignores_transaction && context.tx_id != 0) {
        auto& transactions = context.connection.transactions;
        const auto it = transactions.find(context.tx_id);
        if (it == transactions.end()) {
            throw XsError(ENOENT);  // transaction.c: transaction_lookup()
        }
        context.transaction = it->second.get();
    }
    std::string reply = dispatch->handler(context, payload);
    if (reply.size() > xen::xs::kPayloadMax) {
        throw XsError(E2BIG);  // core.c: send_reply()
    }
    return reply;
}

}  // namespace

struct Xenstore::State : StoreState {
    using StoreState::StoreState;
};

Xenstore::Xenstore(const Quotas& quotas, Outbox& outbox, DomainHooks& hooks)
    : state_(std::make_unique<State>(quotas, outbox, hooks)) {}

Xenstore::~Xenstore() = default;

void Xenstore::connect(ConnectionId connection, xen::DomId domid) {
    if (!state_->connections.try_emplace(connection, Connection{domid, {}, {}, 1, {}}).second) {
        throw std::invalid_argument("xenstore connection " + std::to_string(connection) +
                                    " is already connected");
    }
}

void Xenstore::disconnect(ConnectionId connection) {
    state_->connections.erase(connection);
}

void Xenstore::handle(ConnectionId connection, const xen::xs::MessageHeader& header,
                      std::string_view payload) {
    if (header.len != payload.size() || payload.size() > xen::xs::kPayloadMax) {
        throw std::invalid_argument("xenstore request of " + std::to_string(payload.size()) +
                                    " bytes with header len " + std::to_string(header.len) +
                                    " (at most " + std::to_string(xen::xs::kPayloadMax) + ")");
    }
    const auto it = state_->connections.find(connection);
    if (it == state_->connections.end()) {
        spdlog::debug("xenstore: request {} on dropped connection {} ignored",
                      xen::xs::name(static_cast<MessageType>(header.type)), connection);
        return;
    }
    RequestContext context{.state = *state_,
                           .id = connection,
                           .connection = it->second,
                           .caller = state_->caller_of(it->second),
                           .tx_id = header.tx_id,
                           .transaction = nullptr,
                           .events = {},
                           .own_events = {}};
    std::string reply;
    int error = 0;
    try {
        reply = run(context, header.type, payload);
    } catch (const QuotaError& e) {
        error = e.errnum();
        // C xenstored answers and says nothing; a guest that fills its store
        // is named here, once per connection and quota at warning level (a
        // guest retrying must not fill the log), then at debug.
        const bool first = it->second.reported.insert(e.quota()).second;
        const std::string whose = e.charged() ? "dom " + std::to_string(*e.charged()) + " is at its"
                                              : std::string("at its");
        spdlog::log(first ? spdlog::level::warn : spdlog::level::debug,
                    "xenstore: dom {} (connection {}): {} refused with {}: {} {} quota of {}",
                    context.caller.domid, connection,
                    xen::xs::name(static_cast<MessageType>(header.type)),
                    xen::xs::error_name(error), whose, e.quota(), e.limit());
    } catch (const XsError& e) {
        error = e.errnum();
    } catch (const std::bad_alloc&) {
        error = ENOMEM;
    }
    for (const WatchEvent& event : context.events) {
        state_->fire(event);
    }
    // The caller's watches and transactions count against it; the nodes
    // written or removed against their owners, who may be other domains.
    std::set<xen::DomId> charged = state_->tree.take_charged();
    charged.insert(context.caller.domid);
    for (const xen::DomId domid : charged) {
        state_->note_memory(domid);
    }
    if (error == ENOSYS && dispatch_for(header.type) == nullptr) {
        // core.c: process_message(), eprintf("Client unknown operation %i").
        const bool first = it->second.reported.insert("unknown request type").second;
        spdlog::log(first ? spdlog::level::warn : spdlog::level::debug,
                    "xenstore: dom {} (connection {}): unknown request type {}: ENOSYS",
                    context.caller.domid, connection, header.type);
    }
    if (error != 0) {
        spdlog::debug("xenstore: connection {} (domain {}): {}: {}", connection,
                      context.caller.domid, xen::xs::name(static_cast<MessageType>(header.type)),
                      xen::xs::error_name(error));
        std::string name(xen::xs::error_name(error));
        name += '\0';
        state_->send(connection, static_cast<std::uint32_t>(MessageType::error), header.req_id,
                     header.tx_id, name);
        return;
    }
    state_->send(connection, header.type, header.req_id, header.tx_id, reply);
    for (const std::string& event : context.own_events) {
        state_->send_event(connection, event);
    }
}

void Xenstore::domain_gone(xen::DomId domid) {
    if (domid == 0) {
        spdlog::warn("xenstore: dom0 reported gone; ignored");
        return;
    }
    forget_domain(*state_, domid);
}

bool Xenstore::introduced(xen::DomId domid) const {
    return state_->introduced.contains(domid);
}

const Quotas& Xenstore::quotas() const {
    return state_->quotas;
}

}  // namespace pvsim::xenstore::store
