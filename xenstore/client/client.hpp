// The xenstore client library every pvsim process uses (DESIGN.md §4):
// frontends, backends and the toolstack alike, over a unix socket to
// pvsim-xenstored or over a guest's ring page. It offers what libxenstore
// and Linux's xenbus do (tools/libs/store/xs.c, drivers/xen/xenbus/
// xenbus_xs.c): blocking calls with the wire's own payloads, transactions,
// and watches whose callbacks run on a thread of their own.
//
// Errors are exceptions of type client::Error carrying the errno, e.g.
// "xenstore READ /local/domain/1/name: ENOENT".
#pragma once

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/os/environment.hpp"
#include "common/run_dir.hpp"
#include "common/xen/event_channel.hpp"
#include "common/xen/grant_table.hpp"
#include "common/xen/xs_permissions.hpp"
#include "xenstore/client/connection.hpp"
#include "xenstore/client/error.hpp"
#include "xenstore/client/transport.hpp"

namespace pvsim::hypervisor {
class Hypervisor;
}

namespace pvsim::xenstore::client {

// The calls on nodes, which work alike outside a transaction (Client) and
// inside one (Transaction). Paths are absolute, or relative to the caller's
// home /local/domain/<domid>, as xenstored resolves them.
class NodeOperations {
  public:
    // XS_READ. Throws Error(ENOENT) for a missing node.
    std::string read(std::string_view path);
    // XS_READ; nullopt when the node does not exist.
    std::optional<std::string> try_read(std::string_view path);
    // XS_WRITE, creating missing parents.
    void write(std::string_view path, std::string_view value);
    // XS_MKDIR: succeeds if the node exists already.
    void mkdir(std::string_view path);
    // XS_RM of a node and everything below it; succeeds for a missing node
    // whose parent exists.
    void rm(std::string_view path);
    // XS_DIRECTORY: the children's names. When xenstored answers E2BIG (the
    // list is over XENSTORE_PAYLOAD_MAX) the list is read in parts with
    // XS_DIRECTORY_PART, as libxenstore does, restarting if the node changes
    // meanwhile.
    std::vector<std::string> directory(std::string_view path);
    // XS_GET_PERMS / XS_SET_PERMS; entry 0 is the owner and the default.
    xen::xs::Permissions get_perms(std::string_view path);
    void set_perms(std::string_view path, const xen::xs::Permissions& permissions);

  protected:
    NodeOperations() = default;
    NodeOperations(std::shared_ptr<Connection> connection, std::uint32_t tx_id)
        : connection_(std::move(connection)), tx_id_(tx_id) {}
    NodeOperations(NodeOperations&&) noexcept = default;
    NodeOperations& operator=(NodeOperations&&) noexcept = default;
    ~NodeOperations() = default;

    // The connection; std::logic_error when this object has none (moved
    // from, or a transaction that has ended).
    Connection& connection() const;
    std::string call(xen::xs::MessageType type, std::string_view payload, std::string_view subject);

    std::shared_ptr<Connection> connection_;
    std::uint32_t tx_id_ = 0;  // 0: outside any transaction (XBT_NULL)
};

// A xenstore transaction (XS_TRANSACTION_START): the node calls on it see a
// snapshot and take effect together at commit(), or not at all. Aborted
// when destroyed without commit() or abort(). Move-only.
class Transaction : public NodeOperations {
  public:
    Transaction() = default;
    Transaction(Transaction&& other) noexcept;
    Transaction& operator=(Transaction&& other) noexcept;
    ~Transaction();

    std::uint32_t id() const noexcept { return tx_id_; }
    // Neither committed nor aborted yet.
    bool active() const noexcept { return connection_ != nullptr; }

    // XS_TRANSACTION_END "T": true when committed, false when xenstored
    // answered EAGAIN because a node it read or wrote changed meanwhile (the
    // caller starts over). Either way the transaction has ended.
    bool commit();
    // XS_TRANSACTION_END "F".
    void abort();

  private:
    friend class Client;
    Transaction(std::shared_ptr<Connection> connection, std::uint32_t id)
        : NodeOperations(std::move(connection), id) {}
    void end(bool commit);
};

// A registered watch: XS_UNWATCH when destroyed or unwatch()ed, after which
// its callback no longer runs. Move-only.
class Watch {
  public:
    Watch() = default;
    Watch(Watch&& other) noexcept;
    Watch& operator=(Watch&& other) noexcept;
    ~Watch();

    const std::string& path() const noexcept { return path_; }
    const std::string& token() const noexcept { return token_; }
    explicit operator bool() const noexcept { return connection_ != nullptr; }

    // Removes the callback (waiting for it if it is running on the dispatch
    // thread, unless called from a callback), then XS_UNWATCH. Nothing is
    // sent when the watch is gone already (Client::unwatch, reset_watches).
    // Idempotent. The wait means the caller must not hold anything the
    // callback needs.
    void unwatch();

  private:
    friend class Client;
    Watch(std::shared_ptr<Connection> connection, Connection::WatchId id, std::string path,
          std::string token)
        : connection_(std::move(connection)),
          id_(id),
          path_(std::move(path)),
          token_(std::move(token)) {}

    std::shared_ptr<Connection> connection_;
    Connection::WatchId id_ = 0;
    std::string path_;
    std::string token_;
};

class Client : public NodeOperations {
  public:
    // transact() gives up after this many conflicts by default.
    static constexpr unsigned kTransactionAttempts = 64;

    // Over any transport; starts the reader and dispatch threads.
    explicit Client(std::unique_ptr<Transport> transport);

    // To xenstored's unix socket at `socket`.
    static Client connect(const std::filesystem::path& socket);
    // To the xenstored of a run directory (RunDir::xenstored_socket()).
    static Client connect(const RunDir& run_dir);
    // $XENSTORED_PATH when set and non-empty, as libxenstore honours it;
    // else the socket of the run directory `env` names (DESIGN.md §1).
    static Client from_environment(const os::Environment& env);
    // A guest's own store: the ring page at frame store_gfn() of its memory
    // and the store event channel (take_store_event_channel(), so once per
    // domain). `hypervisor` must outlive the client.
    static Client over_ring(hypervisor::Hypervisor& hypervisor);

    Client(Client&&) noexcept = default;
    Client& operator=(Client&& other) noexcept;
    ~Client();  // close()

    // XS_WATCH of `path` with `token`. `callback` runs on the dispatch
    // thread for each event on `path` or below carrying `token`, starting
    // with the one xenstored fires at registration; it may call this client.
    Watch watch(std::string path, std::string token, WatchCallback callback);
    // XS_UNWATCH, dropping the callbacks of watches on (path, token).
    void unwatch(std::string_view path, std::string_view token);
    // XS_RESET_WATCHES: every watch of this connection goes, with its
    // callback.
    void reset_watches();

    // XS_TRANSACTION_START.
    Transaction transaction_start();
    // Runs `body(Transaction&)` in a new transaction and commits it,
    // starting over when xenstored answers EAGAIN (at the commit or any call
    // in the body), at most `max_attempts` times (0: without limit), as
    // libxl and Linux's xenbus drivers loop on EAGAIN. Returns what body
    // returns. body must not end the transaction itself.
    template <typename Body>
    auto transact(Body&& body, unsigned max_attempts = kTransactionAttempts)
        -> std::invoke_result_t<Body&, Transaction&>;

    // XS_INTRODUCE: xenstored maps `gfn` of `domid` as its store ring and
    // binds `port`, and fires @introduceDomain.
    void introduce(xen::DomId domid, std::uint64_t gfn, xen::EvtchnPort port);
    // XS_RELEASE: xenstored forgets the domain, fires @releaseDomain.
    void release(xen::DomId domid);
    // XS_IS_DOMAIN_INTRODUCED.
    bool is_domain_introduced(xen::DomId domid);
    // XS_GET_DOMAIN_PATH: "/local/domain/<domid>".
    std::string get_domain_path(xen::DomId domid);
    // XS_CONTROL (formerly XS_DEBUG) with nul-separated arguments, e.g.
    // {"log", "on"}; returns xenstored's answer.
    std::string control(const std::vector<std::string>& args);

    // False once the connection is lost or closed.
    bool connected() const;
    // Closes the connection: waiting calls fail, later ones fail at once,
    // callbacks stop. Not from a watch callback.
    void close();
};

template <typename Body>
auto Client::transact(Body&& body, unsigned max_attempts)
    -> std::invoke_result_t<Body&, Transaction&> {
    using Result = std::invoke_result_t<Body&, Transaction&>;
    for (unsigned attempt = 1;; ++attempt) {
        const bool last = max_attempts != 0 && attempt >= max_attempts;
        try {
            Transaction transaction = transaction_start();
            if constexpr (std::is_void_v<Result>) {
                body(transaction);
                if (transaction.commit()) {
                    return;
                }
            } else {
                Result result = body(transaction);
                if (transaction.commit()) {
                    return result;
                }
            }
        } catch (const Error& e) {
            if (e.errnum() != EAGAIN || last) {
                throw;
            }
            continue;
        }
        if (last) {
            throw Error(xen::xs::MessageType::transaction_end, {}, EAGAIN, "EAGAIN",
                        "still conflicting after " + std::to_string(attempt) + " attempts");
        }
    }
}

}  // namespace pvsim::xenstore::client
