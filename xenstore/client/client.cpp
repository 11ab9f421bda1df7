#include "xenstore/client/client.hpp"

#include <charconv>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "common/xen/xs_wire.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "xenstore/client/ring_transport.hpp"
#include "xenstore/client/socket_transport.hpp"

namespace pvsim::xenstore::client {
namespace {

using xen::xs::MessageType;

// Each field nul-terminated, as libxenstore sends its iovecs ("path\0",
// "path\0token\0").
std::string fields(std::initializer_list<std::string_view> parts) {
    std::string payload;
    for (std::string_view part : parts) {
        payload += part;
        payload += '\0';
    }
    return payload;
}

// "a\0b\0" -> {a, b}; a last field without its nul counts too.
std::vector<std::string> split_fields(std::string_view payload) {
    std::vector<std::string> result;
    while (!payload.empty()) {
        const std::size_t end = payload.find('\0');
        result.emplace_back(payload.substr(0, end));
        if (end == std::string_view::npos) {
            break;
        }
        payload.remove_prefix(end + 1);
    }
    return result;
}

// Replies that carry one string carry its nul ("OK\0", a domain path).
std::string without_nul(std::string text) {
    if (!text.empty() && text.back() == '\0') {
        text.pop_back();
    }
    return text;
}

std::string decimal(std::uint64_t value) {
    return std::to_string(value);
}

}  // namespace

// NodeOperations

Connection& NodeOperations::connection() const {
    if (!connection_) {
        throw std::logic_error(tx_id_ != 0
                                   ? "xenstore transaction " + decimal(tx_id_) + " has ended"
                                   : std::string("xenstore client has no connection"));
    }
    return *connection_;
}

std::string NodeOperations::call(MessageType type, std::string_view payload,
                                 std::string_view subject) {
    return connection().call(type, tx_id_, payload, subject);
}

std::string NodeOperations::read(std::string_view path) {
    // The value comes as it was written, without a nul.
    return call(MessageType::read, fields({path}), path);
}

std::optional<std::string> NodeOperations::try_read(std::string_view path) {
    try {
        return read(path);
    } catch (const Error& e) {
        if (e.errnum() == ENOENT) {
            return std::nullopt;
        }
        throw;
    }
}

void NodeOperations::write(std::string_view path, std::string_view value) {
    // "path\0" then the value's bytes, without a nul (xs_write).
    std::string payload = fields({path});
    payload += value;
    call(MessageType::write, payload, path);
}

void NodeOperations::mkdir(std::string_view path) {
    call(MessageType::mkdir, fields({path}), path);
}

void NodeOperations::rm(std::string_view path) {
    call(MessageType::rm, fields({path}), path);
}

std::vector<std::string> NodeOperations::directory(std::string_view path) {
    try {
        return split_fields(call(MessageType::directory, fields({path}), path));
    } catch (const Error& e) {
        if (e.errnum() != E2BIG) {
            throw;
        }
    }
    // xs_directory_part: ask for the names from byte `offset` of the list
    // on; each part is "<generation>\0" then whole names, and the last one
    // ends with an empty name. A generation that moves means the node
    // changed between parts: start again.
    std::string names;
    std::string generation;
    for (std::size_t offset = 0;;) {
        std::string part;
        try {
            part = call(MessageType::directory_part, fields({path, decimal(offset)}), path);
        } catch (const Error& e) {
            if (e.errnum() != ENOSYS) {
                throw;
            }
            throw Error(MessageType::directory, path, E2BIG, "E2BIG",
                        "too many children, and xenstored has no XS_DIRECTORY_PART");
        }
        const std::size_t generation_end = part.find('\0');
        // Even the part of an empty directory has its end mark, so a part
        // with nothing after the generation would make no progress.
        if (generation_end == std::string::npos || generation_end + 1 == part.size()) {
            throw Error(MessageType::directory_part, path, EPROTO, "EPROTO",
                        "a part without names or end mark");
        }
        const std::string_view part_generation(part.data(), generation_end);
        if (offset == 0) {
            generation = part_generation;
        } else if (part_generation != generation) {
            names.clear();
            offset = 0;
            continue;
        }
        names.append(part, generation_end + 1);
        offset = names.size();
        if (names.size() <= 1 || names[names.size() - 2] == '\0') {
            break;
        }
    }
    if (names.size() <= 1) {
        return {};
    }
    names.pop_back();  // the empty name that marks the end
    return split_fields(names);
}

xen::xs::Permissions NodeOperations::get_perms(std::string_view path) {
    const std::string reply = call(MessageType::get_perms, fields({path}), path);
    std::optional<xen::xs::Permissions> permissions = xen::xs::parse_permissions(reply);
    if (!permissions) {
        throw Error(MessageType::get_perms, path, EPROTO, "EPROTO",
                    "malformed permissions in the reply");
    }
    return std::move(*permissions);
}

void NodeOperations::set_perms(std::string_view path, const xen::xs::Permissions& permissions) {
    call(MessageType::set_perms, fields({path}) + xen::xs::format_permissions(permissions), path);
}

// Transaction

Transaction::Transaction(Transaction&& other) noexcept : NodeOperations(std::move(other)) {}

Transaction& Transaction::operator=(Transaction&& other) noexcept {
    if (this != &other) {
        if (active()) {
            try {
                abort();
            } catch (...) {
                // Ended either way on this side; xenstored drops it with the
                // connection at the latest.
            }
        }
        NodeOperations::operator=(std::move(other));
    }
    return *this;
}

Transaction::~Transaction() {
    if (active()) {
        try {
            abort();
        } catch (const std::exception& e) {
            spdlog::debug("xenstore transaction {} abort failed: {}", tx_id_, e.what());
        }
    }
}

void Transaction::end(bool commit) {
    Connection& conn = connection();
    // Ended on this side whatever the answer: xenstored forgets the
    // transaction on EAGAIN too.
    const std::shared_ptr<Connection> keep = std::move(connection_);
    conn.call(MessageType::transaction_end, tx_id_, fields({commit ? "T" : "F"}), decimal(tx_id_));
}

bool Transaction::commit() {
    try {
        end(true);
        return true;
    } catch (const Error& e) {
        if (e.errnum() == EAGAIN) {
            return false;
        }
        throw;
    }
}

void Transaction::abort() {
    end(false);
}

// Watch

Watch::Watch(Watch&& other) noexcept
    : connection_(std::move(other.connection_)),
      id_(other.id_),
      path_(std::move(other.path_)),
      token_(std::move(other.token_)) {}

Watch& Watch::operator=(Watch&& other) noexcept {
    if (this != &other) {
        try {
            unwatch();
        } catch (...) {
            // The callback is gone either way; see ~Watch.
        }
        connection_ = std::move(other.connection_);
        id_ = other.id_;
        path_ = std::move(other.path_);
        token_ = std::move(other.token_);
    }
    return *this;
}

Watch::~Watch() {
    try {
        unwatch();
    } catch (const std::exception& e) {
        // A lost connection took the watch with it.
        spdlog::debug("xenstore unwatch of {} (token {}) failed: {}", path_, token_, e.what());
    }
}

void Watch::unwatch() {
    const std::shared_ptr<Connection> connection = std::move(connection_);
    if (connection && connection->remove_watch(id_)) {
        connection->call(MessageType::unwatch, 0, fields({path_, token_}), path_);
    }
}

// Client

Client::Client(std::unique_ptr<Transport> transport)
    : NodeOperations(std::make_shared<Connection>(std::move(transport)), 0) {}

Client Client::connect(const std::filesystem::path& socket) {
    return Client(SocketTransport::connect(socket));
}

Client Client::connect(const RunDir& run_dir) {
    return connect(run_dir.xenstored_socket());
}

Client Client::from_environment(const os::Environment& env) {
    if (const std::optional<std::string> path = env.get_non_empty("XENSTORED_PATH")) {
        return connect(std::filesystem::path(*path));
    }
    return connect(RunDir::resolve(std::nullopt, env));
}

Client Client::over_ring(hypervisor::Hypervisor& hypervisor) {
    const auto page = hypervisor.memory().page(hypervisor.store_gfn());
    auto& interface = *reinterpret_cast<xen::xs::DomainInterface*>(page.data());
    auto events = std::make_unique<StoreEventChannel>(hypervisor.take_store_event_channel());
    return Client(std::make_unique<RingTransport>(interface, std::move(events)));
}

Client& Client::operator=(Client&& other) noexcept {
    if (this != &other) {
        close();
        NodeOperations::operator=(std::move(other));
    }
    return *this;
}

Client::~Client() {
    close();
}

void Client::close() {
    if (connection_) {
        connection_->close();
    }
}

bool Client::connected() const {
    return connection_ && connection_->connected();
}

Watch Client::watch(std::string path, std::string token, WatchCallback callback) {
    Connection& conn = connection();
    const Connection::WatchId id = conn.add_watch(path, token, std::move(callback));
    try {
        conn.call(MessageType::watch, 0, fields({path, token}), path);
    } catch (...) {
        conn.remove_watch(id);
        throw;
    }
    return Watch(connection_, id, std::move(path), std::move(token));
}

void Client::unwatch(std::string_view path, std::string_view token) {
    Connection& conn = connection();
    conn.remove_watches(path, token);
    conn.call(MessageType::unwatch, 0, fields({path, token}), path);
}

void Client::reset_watches() {
    Connection& conn = connection();
    conn.remove_all_watches();
    conn.call(MessageType::reset_watches, 0, fields({""}), {});
}

Transaction Client::transaction_start() {
    Connection& conn = connection();
    // xs_transaction_start sends an empty string; the reply is the id in
    // decimal.
    const std::string reply =
        without_nul(conn.call(MessageType::transaction_start, 0, fields({""}), {}));
    std::uint32_t id = 0;
    const auto [end, error] = std::from_chars(reply.data(), reply.data() + reply.size(), id);
    if (error != std::errc{} || end != reply.data() + reply.size() || id == 0) {
        throw Error(MessageType::transaction_start, {}, EPROTO, "EPROTO",
                    "transaction id \"" + reply + "\" is not a number above 0");
    }
    return Transaction(connection_, id);
}

void Client::introduce(xen::DomId domid, std::uint64_t gfn, xen::EvtchnPort port) {
    call(MessageType::introduce, fields({decimal(domid), decimal(gfn), decimal(port)}),
         decimal(domid));
}

void Client::release(xen::DomId domid) {
    call(MessageType::release, fields({decimal(domid)}), decimal(domid));
}

bool Client::is_domain_introduced(xen::DomId domid) {
    const std::string reply = without_nul(
        call(MessageType::is_domain_introduced, fields({decimal(domid)}), decimal(domid)));
    if (reply == "T") {
        return true;
    }
    if (reply == "F") {
        return false;
    }
    throw Error(MessageType::is_domain_introduced, decimal(domid), EPROTO, "EPROTO",
                "answer \"" + reply + "\" is neither T nor F");
}

std::string Client::get_domain_path(xen::DomId domid) {
    return without_nul(
        call(MessageType::get_domain_path, fields({decimal(domid)}), decimal(domid)));
}

std::string Client::control(const std::vector<std::string>& args) {
    std::string payload;
    for (const std::string& arg : args) {
        payload += arg;
        payload += '\0';
    }
    return without_nul(call(MessageType::control, payload, args.empty() ? "" : args.front()));
}

}  // namespace pvsim::xenstore::client
