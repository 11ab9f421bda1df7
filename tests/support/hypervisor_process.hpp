// Test helpers for everything that needs a live pvsim-hypervisor: the daemon
// started for real in a private run directory, guests that are real
// pvsim_test_domain processes it spawns, and dom0 as this test process.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "common/run_dir.hpp"
#include "hypervisor/client/control_client.hpp"
#include "hypervisor/client/hypervisor.hpp"
#include "tests/support/daemon_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace pvsim::test {

// pvsim-hypervisor in its own temporary run directory, started with
// --ready-fd so that the constructor returns once it serves.
class HypervisorProcess {
  public:
    explicit HypervisorProcess(std::vector<std::string> extra_args = {})
        : run_dir_(RunDir::open(temp_.path() / "run")) {
        process_ = start_daemon(PVSIM_HYPERVISOR, "pvsim-hypervisor", run_dir_, extra_args);
    }

    // Stops the daemon the orderly way (SIGTERM), so that it takes its
    // domain processes with it.
    ~HypervisorProcess() {
        if (process_ && process_->running()) {
            stop();
        }
    }
    os::ExitStatus stop() {
        process_->kill(SIGTERM);
        return process_->wait();
    }
    HypervisorProcess(const HypervisorProcess&) = delete;
    HypervisorProcess& operator=(const HypervisorProcess&) = delete;

    const RunDir& run_dir() const { return run_dir_; }
    const std::filesystem::path& temp_path() const { return temp_.path(); }
    os::ChildProcess& process() { return *process_; }
    hypervisor::ControlClient control() const {
        return hypervisor::ControlClient(run_dir_.hypervisor_socket());
    }
    hypervisor::Hypervisor connect_dom0() const {
        return hypervisor::Hypervisor::connect_dom0(run_dir_);
    }
    // The daemon's log so far.
    std::string log() const {
        std::ifstream in(run_dir_.log_file("pvsim-hypervisor"));
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }

  private:
    TempDir temp_;
    RunDir run_dir_;
    std::optional<os::ChildProcess> process_;
};

// A pvsim_test_domain guest the hypervisor spawned, driven one command line
// at a time (see tests/support/test_domain_main.cpp for the commands).
class TestGuest {
  public:
    TestGuest(const HypervisorProcess& hypervisor, const std::string& name,
              std::uint64_t memory_bytes = 16ull << 20)
        : socket_(io_) {
        const auto socket_path = hypervisor.temp_path() / (name + ".sock");
        boost::asio::local::stream_protocol::acceptor acceptor(
            io_, boost::asio::local::stream_protocol::endpoint(socket_path.string()));
        hypervisor::CreateDomain request;
        request.name = name;
        request.memory_bytes = memory_bytes;
        request.program = PVSIM_TEST_DOMAIN;
        request.args = {socket_path.string()};
        domid_ = hypervisor.control().create(request).domid;
        if (!wait_readable(acceptor.native_handle(), std::chrono::seconds(30))) {
            throw std::runtime_error("guest " + name + " did not connect");
        }
        acceptor.accept(socket_);
    }

    xen::DomId domid() const { return domid_; }

    // Sends one command and returns the reply line ("ok ..." / "error ...").
    std::string command(const std::string& line) {
        send(line);
        return read_reply();
    }
    // The next reply line.
    std::string read_reply() {
        boost::asio::read_until(socket_, input_, '\n');
        std::istream stream(&input_);
        std::string reply;
        std::getline(stream, reply);
        return reply;
    }
    // Whether a reply line (or part of one) has come already, without
    // waiting for it.
    bool reply_started() { return input_.size() != 0 || socket_.available() != 0; }
    // command() that must answer "ok[ VALUE]": returns VALUE.
    std::string ok(const std::string& line) {
        const std::string reply = command(line);
        if (reply.rfind("ok", 0) != 0) {
            throw std::runtime_error("'" + line + "' answered '" + reply + "'");
        }
        return reply.size() > 3 ? reply.substr(3) : std::string();
    }
    std::uint64_t ok_number(const std::string& line) { return std::stoull(ok(line)); }
    // Sends a command with no reply (exit, crash, echo 0).
    void send(const std::string& line) {
        const std::string out = line + "\n";
        boost::asio::write(socket_, boost::asio::buffer(out));
    }

  private:
    boost::asio::io_context io_;
    boost::asio::local::stream_protocol::socket socket_;
    boost::asio::streambuf input_;
    xen::DomId domid_ = 0;
};

}  // namespace pvsim::test
