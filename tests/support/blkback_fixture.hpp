// The processes of a block-path test, for real, in one temporary run
// directory: pvsim-hypervisor, pvsim-xenstored and pvsim-backend (dom0's
// blkback), with this test process as the toolstack (tools/toolstack/vbd)
// and, where it needs one, a frontend: either a pvsim_test_domain guest
// driven verb by verb, or this process's own dom0 connection
// (tests/integration/blkback/test_frontend.hpp).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/xen/xenbus.hpp"
#include "tests/support/backend_process.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/hypervisor_process.hpp"
#include "tests/support/loop_device.hpp"
#include "tests/support/xenbus_state_log.hpp"
#include "tests/support/xenstored_process.hpp"
#include "tools/toolstack/vbd.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::test {

inline constexpr auto kStateTimeout = std::chrono::seconds(20);

class BlkbackFixture : public ::testing::Test {
  protected:
    explicit BlkbackFixture(std::vector<std::string> backend_args = {})
        : backend_(std::in_place, hv_, std::move(backend_args)) {}

    // A zero-filled image of `bytes` in the run's temporary directory.
    std::filesystem::path make_image(const std::string& name, std::uint64_t bytes) {
        const auto path = hv_.temp_path() / name;
        const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(bytes)), 0);
        ::close(fd);
        return path;
    }

    // What libxl does for a new domain before its devices: its home
    // readable by it, then XS_INTRODUCE; the guest then connects over its
    // ring.
    void introduce(TestGuest& guest) {
        const auto info = hv_.control().info(guest.domid());
        const std::string home = "/local/domain/" + std::to_string(guest.domid());
        dom0_.mkdir(home);
        dom0_.set_perms(home, {{xen::xs::Access::none, 0}, {xen::xs::Access::read, guest.domid()}});
        dom0_.introduce(guest.domid(), info.at("store_gfn").get<std::uint64_t>(),
                        info.at("store_port").get<xen::EvtchnPort>());
        guest.ok("xs-connect");
    }

    tools::toolstack::VbdSpec spec(xen::DomId domid, const std::string& vdev,
                                   const std::filesystem::path& target) {
        tools::toolstack::VbdSpec s;
        s.domid = domid;
        s.vdev = vdev;
        s.target = target.string();
        return s;
    }

    // Waits for `path` to read `state`; fails the test (with the backend's
    // log) if it does not.
    void expect_state(const std::string& path, xen::XenbusState state) {
        const auto wait = tools::toolstack::wait_for_state(
            dom0_, path, [state](auto seen) { return seen == state; }, kStateTimeout);
        EXPECT_TRUE(wait.accepted)
            << path << " is " << (wait.state ? xen::name(*wait.state) : "missing") << ", not "
            << xen::name(state) << "\n"
            << backend_->log();
    }

    // The states pvsim-backend wrote to the device `nodename` (its backend
    // directory), in order, across restarts: from its log, since a watch
    // that reads the node when it fires can miss a state replaced at once.
    // A state the toolstack wrote there is not among them. A state is
    // logged just after it is written: this waits until `count` are there.
    std::vector<xen::XenbusState> backend_writes(const std::string& nodename,
                                                 std::size_t count = 0) {
        (void)eventually(
            [&] { return logged_state_writes(backend_->log(), nodename).size() >= count; },
            kStateTimeout);
        return logged_state_writes(backend_->log(), nodename);
    }

    std::string read(const std::string& path) { return dom0_.try_read(path).value_or("<none>"); }

    HypervisorProcess hv_;
    XenstoredProcess xenstored_{hv_};
    std::optional<BackendProcess> backend_;
    xenstore::client::Client dom0_ = xenstore::client::Client::connect(xenstored_.socket_path());
};

}  // namespace pvsim::test
