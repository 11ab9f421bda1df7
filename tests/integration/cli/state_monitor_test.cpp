// The scripts' and the demo's state lines (tools/cli/state_monitor.hpp)
// against a real pvsim-xenstored: settle() returns only once every state
// written before it is printed, and a device whose node goes before its
// Closed was read is reported as gone with its states unread, never
// silently dropped.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "tests/support/xenstored_process.hpp"
#include "tools/cli/session.hpp"
#include "tools/cli/state_monitor.hpp"
#include "xenstore/client/client.hpp"

namespace pvsim::test {
namespace state_monitor_test {

class StateMonitorTest : public ::testing::Test {
  protected:
    XenstoredProcess xenstored_;
    xenstore::client::Client dom0_ = xenstore::client::Client::connect(xenstored_.run_dir());
    std::ostringstream out_;
    tools::cli::Session session_{xenstored_.run_dir(), out_, {}};
    const std::string frontend_ = "/local/domain/1/device/vbd/51712";
};

TEST_F(StateMonitorTest, SettleReturnsWithEveryStateWrittenBeforeItPrinted) {
    dom0_.write("/local/domain/1/name", "web");
    tools::cli::StateMonitor monitor(session_);
    for (const char* state : {"1", "3", "4"}) {
        dom0_.write(frontend_ + "/state", state);
    }
    monitor.settle();
    // The last state written is printed, whatever the ones before it did.
    EXPECT_NE(out_.str().find("web xvda frontend Connected"), std::string::npos) << out_.str();
}

TEST_F(StateMonitorTest, ADeviceGoneBeforeItsClosedWasReadIsReportedGone) {
    tools::cli::StateMonitor monitor(session_);
    dom0_.write(frontend_ + "/state", "4");
    monitor.settle();
    ASSERT_NE(out_.str().find("dom1 xvda frontend Connected"), std::string::npos) << out_.str();
    // Closing and the removal in one commit: by the time the monitor reads
    // the node, it is gone.
    dom0_.transact([&](xenstore::client::Transaction& t) {
        t.write(frontend_ + "/state", "5");
        t.rm(frontend_);
    });
    monitor.settle();
    EXPECT_NE(out_.str().find("dom1 xvda frontend gone (was Connected; the states before it "
                              "passed unread)"),
              std::string::npos)
        << out_.str();
}

TEST_F(StateMonitorTest, ADeviceRemovedAfterItsClosedIsNotReportedGone) {
    tools::cli::StateMonitor monitor(session_);
    dom0_.write(frontend_ + "/state", "6");
    monitor.settle();
    dom0_.rm(frontend_);
    monitor.settle();
    EXPECT_NE(out_.str().find("dom1 xvda frontend Closed"), std::string::npos) << out_.str();
    EXPECT_EQ(out_.str().find("gone"), std::string::npos) << out_.str();
}

}  // namespace state_monitor_test
}  // namespace pvsim::test
