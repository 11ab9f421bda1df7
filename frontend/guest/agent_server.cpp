// The guest agent's socket and its requests (agent_server.hpp,
// agent_protocol.hpp).
#include "frontend/guest/agent_server.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <exception>
#include <istream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "common/os/unix_socket.hpp"
#include "common/xen/vbd_interface.hpp"
#include "frontend/guest/agent_protocol.hpp"
#include "frontend/guest/job_json.hpp"
#include "frontend/workload/job_runner.hpp"
#include "frontend/workload/result_json.hpp"

namespace pvsim::frontend::guest {

using nlohmann::json;

namespace {

// How long wait-device waits when the request names no timeout_ms.
constexpr std::uint64_t kDefaultWaitMs = 30000;

// A request field that is wrong: the reply's error, the connection stays.
class RequestError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

std::uint64_t unsigned_field(const json& request, const char* key,
                             std::optional<std::uint64_t> fallback,
                             std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
    const auto found = request.find(key);
    if (found == request.end()) {
        if (!fallback) {
            throw RequestError(std::string("request has no \"") + key + "\"");
        }
        return *fallback;
    }
    if (!found->is_number_unsigned() &&
        !(found->is_number_integer() && found->get<std::int64_t>() >= 0)) {
        throw RequestError(std::string(key) + ": expected a non-negative integer, got " +
                           found->dump());
    }
    const auto value = found->get<std::uint64_t>();
    if (value > max) {
        throw RequestError(std::string(key) + ": " + std::to_string(value) + " is over " +
                           std::to_string(max));
    }
    return value;
}

std::uint32_t devid_field(const json& request) {
    return static_cast<std::uint32_t>(
        unsigned_field(request, "devid", std::nullopt, std::numeric_limits<std::uint32_t>::max()));
}

json error_reply(const std::string& error) {
    return {{"ok", false}, {"error", error}};
}

}  // namespace

// What a running io shares with its thread.
struct IoRun {
    std::atomic<bool> cancel{false};
};

class AgentServer::Session : public std::enable_shared_from_this<Session> {
  public:
    Session(AgentServer& server, std::uint64_t id, os::LocalSocket socket)
        : server_(server), id_(id), socket_(std::move(socket)), input_(agent::kMaxAgentLine + 1) {}

    void start() { read(); }

    // Cancels this client's io, if one runs: it ends as a failed job
    // ("cancelled") with what it did so far. Returns whether one ran.
    bool cancel_io() {
        if (!run_ || run_->cancel.exchange(true)) {
            return false;
        }
        spdlog::info("agent client {}: its io is cancelled", id_);
        return true;
    }

    // Closes the connection and cancels its run, if any.
    void close() {
        if (closed_) {
            return;
        }
        closed_ = true;
        if (run_) {
            run_->cancel.store(true);
        }
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

  private:
    // The probe of the request's "transport" ("xen", a vbd, by default;
    // "virtio", a virtio-blk disk): the classes number their devices apart.
    DeviceProbe& probe_for(const json& request) {
        const auto found = request.find("transport");
        if (found == request.end()) {
            return server_.devices_.default_probe();
        }
        if (!found->is_string()) {
            throw RequestError("transport: expected " + server_.devices_.transports() + ", got " +
                               found->dump());
        }
        return server_.devices_.probe(found->get<std::string>());
    }

    void read() {
        read_pending_ = true;
        boost::asio::async_read_until(
            socket_, input_, '\n',
            [self = shared_from_this()](boost::system::error_code ec, std::size_t length) {
                self->read_pending_ = false;
                self->on_read(ec, length);
            });
    }

    void on_read(boost::system::error_code ec, std::size_t length) {
        if (closed_) {
            return;
        }
        if (ec == boost::asio::error::not_found) {
            send(error_reply("request line longer than " + std::to_string(agent::kMaxAgentLine) +
                             " bytes"),
                 true);
            return;
        }
        if (ec) {
            if (run_) {
                spdlog::info("agent client {}: gone while its io runs; cancelling it", id_);
            }
            end();
            return;
        }
        std::string line(length - 1, '\0');
        input_.sgetn(line.data(), static_cast<std::streamsize>(length - 1));
        input_.consume(1);
        if (busy_) {
            // Served once the request running now has its reply.
            deferred_ = std::move(line);
            return;
        }
        handle(line);
    }

    void handle(const std::string& line) {
        json request;
        try {
            request = json::parse(line);
        } catch (const json::exception& e) {
            send(error_reply(std::string("request is not JSON: ") + e.what()), true);
            return;
        }
        if (!request.is_object()) {
            send(error_reply("request is not a JSON object"), true);
            return;
        }
        const auto op_field = request.find("op");
        if (op_field == request.end() || !op_field->is_string()) {
            send(error_reply("request has no \"op\" string"), false);
            read();
            return;
        }
        const std::string op = op_field->get<std::string>();
        spdlog::debug("agent client {}: {}", id_, op);
        try {
            if (op == agent::kOpPing) {
                send({{"ok", true},
                      {"domid", server_.domid_},
                      {"xenstore", server_.devices_.xenstore_connected()}},
                     false);
            } else if (op == agent::kOpDevices) {
                send({{"ok", true}, {"devices", server_.devices_.devices()}}, false);
            } else if (op == agent::kOpCancelIo) {
                unsigned cancelled = 0;
                server_.sessions_.for_each(
                    [&cancelled](Session& session) { cancelled += session.cancel_io() ? 1 : 0; });
                send({{"ok", true}, {"cancelled", cancelled}}, false);
            } else if (op == agent::kOpForget) {
                const std::uint32_t devid = devid_field(request);
                const bool forgot = probe_for(request).forget(devid);
                spdlog::info("{}: written blocks {}", xen::describe_devid(devid),
                             forgot ? "forgotten" : "were not known");
                send({{"ok", true}, {"forgot", forgot}}, false);
            } else if (op == agent::kOpWaitDevice) {
                start_wait_device(request);
                return;
            } else if (op == agent::kOpClose) {
                start_close(request);
                return;
            } else if (op == agent::kOpIo) {
                start_io(request);
                return;
            } else if (op == agent::kOpReconnect) {
                start_reconnect(request);
                return;
            } else {
                send(error_reply(
                         "unknown op \"" + op +
                         "\" (known: ping, devices, wait-device, io, cancel-io, close, forget, "
                         "reconnect)"),
                     false);
            }
        } catch (const std::exception& e) {
            send(error_reply(e.what()), false);
        }
        read();
    }

    void start_wait_device(const json& request) {
        const std::uint32_t devid = devid_field(request);
        const auto timeout = std::chrono::milliseconds(
            unsigned_field(request, "timeout_ms", kDefaultWaitMs,
                           static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())));
        DeviceProbe& probe = probe_for(request);
        run_blocking([&probe, devid, timeout] {
            try {
                return json{{"ok", true}, {"device", probe.wait_connected(devid, timeout)}};
            } catch (const std::exception& e) {
                return error_reply(e.what());
            }
        });
    }

    void start_close(const json& request) {
        const std::uint32_t devid = devid_field(request);
        DeviceProbe& probe = probe_for(request);
        run_blocking([&probe, devid] {
            try {
                const xen::XenbusState state = probe.close(devid);
                return json{{"ok", true}, {"state", static_cast<unsigned>(state)}};
            } catch (const std::exception& e) {
                return error_reply(e.what());
            }
        });
    }

    void start_reconnect(const json& request) {
        // By "vdev" (the scenario verb's name for it) or "devid".
        DeviceProbe* probe = nullptr;
        std::uint32_t devid = 0;
        const auto vdev = request.find("vdev");
        if (vdev != request.end()) {
            if (!vdev->is_string()) {
                throw std::invalid_argument("\"vdev\" is not a string");
            }
            std::tie(probe, devid) = server_.devices_.find(vdev->get<std::string>());
        } else {
            probe = &probe_for(request);
            devid = devid_field(request);
        }
        run_blocking([probe, devid] {
            try {
                probe->reconnect(devid);
                return json{{"ok", true}};
            } catch (const std::exception& e) {
                return error_reply(e.what());
            }
        });
    }

    void start_io(const json& request) {
        const std::uint32_t devid = devid_field(request);
        const auto job_field = request.find("job");
        const workload::JobOptions options =
            parse_job(job_field == request.end() ? json::object() : *job_field);
        const auto progress = std::chrono::milliseconds(
            unsigned_field(request, "progress_ms", 0,
                           static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())));
        auto lease = std::make_shared<DeviceLease>(probe_for(request).lease(devid));
        // Bad options get their error before anything runs.
        workload::validate(options,
                           lease->device().block().capacity_sectors() * workload::kSectorSize);

        auto run = std::make_shared<IoRun>();
        run_ = run;
        spdlog::info("{}: io {} bs {} iodepth {} numjobs {}{} for agent client {}",
                     xen::describe_devid(devid), workload::to_string(options.rw), options.bs,
                     options.iodepth, options.numjobs, options.verify ? " verify" : "", id_);
        run_blocking([self = shared_from_this(), devid, options, progress, run,
                      lease = std::move(lease)]() mutable {
            return self->run_io(devid, options, progress, *run, std::move(lease));
        });
    }

    // On the io's own thread.
    json run_io(std::uint32_t devid, const workload::JobOptions& options,
                std::chrono::milliseconds progress, IoRun& run,
                std::shared_ptr<DeviceLease> lease) {
        workload::RunControl control;
        control.cancel = &run.cancel;
        if (progress.count() > 0) {
            control.progress_interval = progress;
            control.on_progress = [self = shared_from_this()](const workload::Progress& now) {
                boost::asio::post(self->server_.io_, [self, line = progress_json(now)] {
                    if (!self->closed_) {
                        self->send({{"progress", line}}, false);
                    }
                });
            };
        }
        BlockDevice& device = lease->device().block();
        const auto counters_since = lease->device().counters_since();
        json reply;
        try {
            const workload::RunResult result =
                workload::run_job(device, server_.memory_, lease->written(), options, control);
            const json frontend = counters_since();
            if (result.ok()) {
                reply = {{"ok", true},
                         {"result", workload::to_fio_json(result)},
                         {"frontend", frontend}};
            } else {
                reply = {{"ok", false},
                         {"error", result.error},
                         {"result", workload::to_fio_json(result)},
                         {"frontend", frontend}};
            }
            spdlog::info("{}: io done in {} ms: {}", xen::describe_devid(devid), result.elapsed_ms,
                         result.ok() ? "ok" : result.error);
        } catch (const std::exception& e) {
            spdlog::warn("{}: io failed: {}", xen::describe_devid(devid), e.what());
            reply = error_reply(e.what());
        }
        // The device is free again before the reply says so.
        lease.reset();
        return reply;
    }

    // Runs `work` (returning the reply) on a thread of its own; meanwhile
    // the connection is read only to notice the client going away.
    template <typename Work>
    void run_blocking(Work work) {
        busy_ = true;
        server_.workers_.spawn(
            [self = shared_from_this(), work = std::make_shared<Work>(std::move(work))]() mutable {
                json reply = (*work)();
                work.reset();
                boost::asio::post(self->server_.io_, [self, reply = std::move(reply)]() mutable {
                    self->finish(std::move(reply));
                });
            });
        read();
    }

    void finish(json reply) {
        busy_ = false;
        run_.reset();
        if (closed_) {
            return;
        }
        send(std::move(reply), false);
        if (deferred_) {
            const std::string line = std::move(*deferred_);
            deferred_.reset();
            handle(line);
        } else if (!read_pending_) {
            read();
        }
    }

    void send(const json& body, bool then_close) {
        if (closed_) {
            return;
        }
        if (then_close) {
            spdlog::info("agent client {}: {}; closing", id_, body.value("error", ""));
        }
        outgoing_.emplace_back(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                               then_close);
        if (outgoing_.size() == 1) {
            write_next();
        }
    }

    void write_next() {
        boost::asio::async_write(
            socket_, boost::asio::buffer(outgoing_.front().first),
            [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                if (self->closed_) {
                    return;
                }
                const bool then_close = self->outgoing_.front().second;
                self->outgoing_.pop_front();
                if (ec || then_close) {
                    self->end();
                    return;
                }
                if (!self->outgoing_.empty()) {
                    self->write_next();
                }
            });
    }

    // The client is gone or broke the protocol: forget it.
    void end() {
        close();
        server_.sessions_.forget(id_);
    }

    AgentServer& server_;
    const std::uint64_t id_;
    os::LocalSocket socket_;
    boost::asio::streambuf input_;
    std::deque<std::pair<std::string, bool>> outgoing_;  // lines, and "close after"
    bool read_pending_ = false;
    bool busy_ = false;  // a blocking request runs
    std::optional<std::string> deferred_;
    std::shared_ptr<IoRun> run_;
    bool closed_ = false;
};

AgentServer::AgentServer(boost::asio::io_context& io, const std::filesystem::path& socket_path,
                         xen::DomId domid, hypervisor::DomainMemory& memory, GuestDevices& devices)
    : io_(io),
      socket_path_(socket_path),
      domid_(domid),
      memory_(memory),
      devices_(devices),
      // Whoever connects may run workloads on the guest's disks: this user only.
      sessions_(io, socket_path, "agent socket", [this](std::uint64_t id, os::LocalSocket socket) {
          return std::make_shared<Session>(*this, id, std::move(socket));
      }) {}

AgentServer::~AgentServer() {
    close();
    join();
}

void AgentServer::close() {
    if (closed_) {
        return;
    }
    closed_ = true;
    sessions_.close();
    std::error_code removed;
    std::filesystem::remove(socket_path_, removed);
}

void AgentServer::join() {
    workers_.join_all();
}

}  // namespace pvsim::frontend::guest
