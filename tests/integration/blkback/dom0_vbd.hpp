// A vbd of dom0 served by pvsim-backend whose frontend is a TestFrontend of
// the test process (dom0 may attach a disk to itself, as `xl block-attach
// 0` does): attached by the toolstack, the frontend's keys written in one
// transaction as blkfront's talk_to_blkback does, and both ends Connected.
#pragma once

#include <memory>
#include <string>

#include "tests/integration/blkback/test_frontend.hpp"
#include "tests/support/blkback_fixture.hpp"
#include "tools/toolstack/vbd.hpp"

namespace pvsim::test {

struct Dom0Vbd {
    tools::toolstack::VbdPaths paths;
    std::unique_ptr<TestFrontend> front;
    bool connected = false;  // the backend reached Connected in time
};

inline Dom0Vbd connect_dom0_vbd(xenstore::client::Client& dom0, hypervisor::Hypervisor& frontend_hv,
                                const std::string& target, std::size_t data_pages) {
    tools::toolstack::VbdSpec spec;
    spec.domid = 0;
    spec.vdev = "xvdb";
    spec.target = target;
    Dom0Vbd vbd;
    vbd.paths = tools::toolstack::attach_vbd(dom0, spec);
    vbd.front = std::make_unique<TestFrontend>(frontend_hv, 0, data_pages);
    dom0.transact([&](xenstore::client::Transaction& t) {
        t.write(vbd.paths.frontend + "/ring-ref", std::to_string(vbd.front->ring_ref()));
        t.write(vbd.paths.frontend + "/event-channel", std::to_string(vbd.front->port()));
        t.write(vbd.paths.frontend + "/protocol", "x86_64-abi");
        t.write(vbd.paths.frontend + "/state", "3");
    });
    vbd.connected =
        tools::toolstack::wait_for_state(
            dom0, vbd.paths.backend + "/state",
            [](auto seen) { return seen == xen::XenbusState::connected; }, kStateTimeout)
            .accepted;
    dom0.write(vbd.paths.frontend + "/state", "4");
    return vbd;
}

}  // namespace pvsim::test
