#include "hypervisor/server/control_server.hpp"

#include <sys/stat.h>

#include <cstring>
#include <istream>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>

#include "common/os/unix_socket.hpp"
#include "hypervisor/protocol/control.hpp"
#include "hypervisor/server/message_sender.hpp"

namespace pvsim::hypervisor::server {

using nlohmann::json;

class ControlServer::Session : public std::enable_shared_from_this<Session> {
  public:
    Session(ControlServer& server, std::uint64_t id, os::LocalSocket socket)
        : server_(server), id_(id), socket_(std::move(socket)), input_(wire::kMaxControlLine + 1) {}

    void start() { read(); }

    void close() {
        if (closed_) {
            return;
        }
        closed_ = true;
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

  private:
    void read() {
        boost::asio::async_read_until(
            socket_, input_, '\n',
            [self = shared_from_this()](boost::system::error_code ec, std::size_t length) {
                if (self->closed_) {
                    return;
                }
                if (ec == boost::asio::error::not_found) {
                    self->reply_error("request line longer than " +
                                          std::to_string(wire::kMaxControlLine) + " bytes",
                                      true);
                    return;
                }
                if (ec) {
                    if (ec != boost::asio::error::eof) {
                        spdlog::debug("control client {}: {}", self->id_, ec.message());
                    }
                    self->end();
                    return;
                }
                std::string line(length - 1, '\0');
                self->input_.sgetn(line.data(), static_cast<std::streamsize>(length - 1));
                self->input_.consume(1);
                self->handle(line);
            });
    }

    void handle(const std::string& line) {
        json request;
        try {
            request = json::parse(line);
        } catch (const json::exception& e) {
            reply_error(std::string("request is not JSON: ") + e.what(), true);
            return;
        }
        if (!request.is_object()) {
            reply_error("request is not a JSON object", true);
            return;
        }
        const auto op_field = request.find("op");
        if (op_field == request.end() || !op_field->is_string()) {
            reply_error("request has no \"op\" string", false);
            return;
        }
        const std::string op = op_field->get<std::string>();
        spdlog::debug("control client {}: {}", id_, op);
        ControlBackend& backend = server_.backend_;
        try {
            if (op == "create") {
                reply_ok(backend.create(parse_create(request)));
            } else if (op == "destroy") {
                const DomainSelector selector = parse_selector(op, request);
                backend.destroy(selector,
                                [self = shared_from_this()](json result, std::string error) {
                                    if (!error.empty()) {
                                        self->reply_error(error, false);
                                    } else {
                                        self->reply_ok(std::move(result));
                                    }
                                });
            } else if (op == "list") {
                reply_ok({{"domains", backend.list()}});
            } else if (op == "info") {
                reply_ok({{"domain", backend.info(parse_selector(op, request))}});
            } else if (op == "stats") {
                reply_ok({{"domains", backend.stats()}});
            } else if (op == "connect") {
                std::vector<os::UniqueFd> fds;
                const auto xenstored = request.find("xenstored");
                if (xenstored != request.end() && !xenstored->is_boolean()) {
                    throw std::invalid_argument("connect: \"xenstored\" must be true or false");
                }
                fds.push_back(
                    backend.connect(xenstored != request.end() && xenstored->get<bool>()));
                send({{"ok", true}, {"domid", 0}}, std::move(fds), false, false);
            } else if (op == "release-xenstored") {
                backend.release_xenstored();
                reply_ok({});
            } else if (op == "shutdown") {
                send({{"ok", true}}, {}, false, true);
            } else {
                reply_error("unknown op '" + op + "'", false);
            }
        } catch (const std::exception& e) {
            reply_error(e.what(), false);
        }
    }

    void reply_ok(json result) {
        if (!result.is_object()) {
            result = json::object();
        }
        result["ok"] = true;
        send(std::move(result), {}, false, false);
    }

    void reply_error(const std::string& error, bool then_close) {
        spdlog::info("control client {}: refused: {}", id_, error);
        send({{"ok", false}, {"error", error}}, {}, then_close, false);
    }

    void send(const json& body, std::vector<os::UniqueFd> fds, bool then_close,
              bool then_shutdown) {
        if (closed_) {
            return;
        }
        OutgoingMessage message;
        const std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
        message.bytes.resize(text.size());
        std::memcpy(message.bytes.data(), text.data(), text.size());
        message.fds = std::move(fds);
        async_send_message(
            socket_, std::move(message),
            [self = shared_from_this(), then_close, then_shutdown](boost::system::error_code ec) {
                if (self->closed_) {
                    return;
                }
                if (then_shutdown) {
                    self->server_.backend_.shutdown();
                    return;
                }
                if (ec || then_close) {
                    self->end();
                    return;
                }
                self->read();
            });
    }

    // The client is done or broke the protocol: forget it.
    void end() {
        close();
        server_.sessions_.forget(id_);
    }

    ControlServer& server_;
    std::uint64_t id_;
    os::LocalSocket socket_;
    boost::asio::streambuf input_;
    bool closed_ = false;
};

ControlServer::ControlServer(boost::asio::io_context& io, const std::filesystem::path& socket_path,
                             ControlBackend& backend)
    : backend_(backend),
      // Nobody but this user may reach the toolstack's privileged channel.
      sessions_(io, socket_path, "control socket",
                [this](std::uint64_t id, os::LocalSocket socket) {
                    return std::make_shared<Session>(*this, id, std::move(socket));
                }) {}

ControlServer::~ControlServer() {
    close();
}

void ControlServer::close() {
    sessions_.close();
}

}  // namespace pvsim::hypervisor::server
