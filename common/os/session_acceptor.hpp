// The accept loop and session table of pvsim's JSON-lines servers (the
// hypervisor's control socket, a guest's agent socket): every accepted
// connection becomes a Session, kept until it ends (forget()) or the server
// closes. Session needs start() and close().
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "common/os/unix_socket.hpp"

namespace pvsim::os {

template <typename Session>
class SessionAcceptor {
  public:
    using Factory = std::function<std::shared_ptr<Session>(std::uint64_t id, LocalSocket socket)>;

    // Listens at `socket_path` for this user only (listen_private): whoever
    // connects to a pvsim socket speaks with its owner's authority. `what`
    // names the socket in logs.
    SessionAcceptor(boost::asio::io_context& io, const std::filesystem::path& socket_path,
                    std::string what, Factory factory)
        : acceptor_(io), what_(std::move(what)), factory_(std::move(factory)) {
        listen_private(acceptor_, socket_path);
        accept();
    }
    SessionAcceptor(const SessionAcceptor&) = delete;
    SessionAcceptor& operator=(const SessionAcceptor&) = delete;
    ~SessionAcceptor() { close(); }

    // Stops accepting and closes every session. Idempotent.
    void close() {
        if (closed_) {
            return;
        }
        closed_ = true;
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        for (auto& [id, session] : sessions_) {
            session->close();
        }
        sessions_.clear();
    }

    // A session that has ended lets go of itself.
    void forget(std::uint64_t id) { sessions_.erase(id); }

    // Calls `visit(Session&)` for every live session (on the loop's thread).
    template <typename Visit>
    void for_each(Visit&& visit) {
        for (auto& [id, session] : sessions_) {
            visit(*session);
        }
    }

  private:
    void accept() {
        acceptor_.async_accept([this](boost::system::error_code ec, LocalSocket socket) {
            if (closed_) {
                return;
            }
            if (ec) {
                spdlog::warn("{}: accept failed: {}", what_, ec.message());
            } else {
                const std::uint64_t id = next_id_++;
                auto session = factory_(id, std::move(socket));
                sessions_.emplace(id, session);
                session->start();
            }
            accept();
        });
    }

    boost::asio::local::stream_protocol::acceptor acceptor_;
    std::string what_;
    Factory factory_;
    std::map<std::uint64_t, std::shared_ptr<Session>> sessions_;
    std::uint64_t next_id_ = 1;
    bool closed_ = false;
};

}  // namespace pvsim::os
