// Debian's xenstore-utils against pvsim-xenstored (DESIGN.md §9
// conformance: real clients nobody here wrote). Each tool is libxenstore
// over the unix socket XENSTORED_PATH names; outputs are compared with what
// those tools print against C xenstored (tools/xs-clients/xenstore_client.c).
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/xenstored/raw_client.hpp"
#include "tests/integration/xenstored/xenstore_tools.hpp"
#include "tests/support/xenstored_process.hpp"

namespace pvsim::test {
namespace {

using namespace std::chrono_literals;

class XenstoreTools : public ::testing::Test {
  protected:
    ToolResult tool(const std::string& name, const std::vector<std::string>& args) {
        return run_tool(xenstored_, name, args);
    }
    // A tool that must succeed; returns its stdout.
    std::string ok(const std::string& name, const std::vector<std::string>& args) {
        const ToolResult result = tool(name, args);
        EXPECT_TRUE(result.status.success())
            << "xenstore-" << name << " " << result.status.describe() << ": " << result.err;
        return result.out;
    }

    XenstoredProcess xenstored_;
};

TEST_F(XenstoreTools, WriteThenRead) {
    ok("write", {"/tool/pvsim/greeting", "hello world"});
    EXPECT_EQ(ok("read", {"/tool/pvsim/greeting"}), "hello world\n");
}

TEST_F(XenstoreTools, WriteSeveralInOneTransactionThenReadThemWithPrefix) {
    // Two pairs: xenstore-write wraps them in a transaction.
    ok("write", {"/tool/pvsim/a", "1", "/tool/pvsim/b", "2"});
    EXPECT_EQ(ok("read", {"-p", "/tool/pvsim/a", "/tool/pvsim/b"}),
              "/tool/pvsim/a: 1\n/tool/pvsim/b: 2\n");
}

TEST_F(XenstoreTools, ReadOfAMissingNodeFails) {
    const ToolResult result = tool("read", {"/tool/pvsim/nothing"});
    EXPECT_EQ(result.status.code, 1);
    EXPECT_NE(result.err.find("couldn't read path /tool/pvsim/nothing"), std::string::npos)
        << result.err;
}

TEST_F(XenstoreTools, LsShowsATree) {
    ok("write", {"/tool/tree/a", "1"});
    ok("write", {"/tool/tree/b/c", "2"});
    ok("write", {"/tool/tree/b/d", "two words"});
    EXPECT_EQ(ok("ls", {"/tool/tree"}),
              "a = \"1\"\n"
              "b = \"\"\n"
              " c = \"2\"\n"
              " d = \"two words\"\n");
    EXPECT_EQ(ok("ls", {"-f", "/tool/tree"}),
              "/tool/tree/a = \"1\"\n"
              "/tool/tree/b = \"\"\n"
              "/tool/tree/b/c = \"2\"\n"
              "/tool/tree/b/d = \"two words\"\n");
}

TEST_F(XenstoreTools, ListNamesTheChildren) {
    ok("write", {"/tool/list/x", "1"});
    ok("write", {"/tool/list/y/z", "2"});
    EXPECT_EQ(ok("list", {"/tool/list"}), "x\ny\n");
    EXPECT_EQ(ok("list", {"-p", "/tool/list"}), "/tool/list/x\n/tool/list/y\n");
    EXPECT_EQ(ok("list", {"/tool/list/x"}), "");
}

TEST_F(XenstoreTools, ExistsAnswersWithItsExitStatus) {
    ok("write", {"/tool/here", "yes"});
    EXPECT_TRUE(tool("exists", {"/tool/here"}).status.success());
    const ToolResult missing = tool("exists", {"/tool/not-here"});
    EXPECT_TRUE(missing.status.exited());
    EXPECT_EQ(missing.status.code, 1);
}

TEST_F(XenstoreTools, RmRemovesASubtree) {
    ok("write", {"/tool/rm/keep", "1"});
    ok("write", {"/tool/rm/gone/deep/er", "2"});
    ok("write", {"/tool/rm/gone/also", "3"});
    ok("rm", {"/tool/rm/gone"});
    EXPECT_EQ(ok("list", {"/tool/rm"}), "keep\n");
    EXPECT_EQ(tool("exists", {"/tool/rm/gone/deep/er"}).status.code, 1);
    EXPECT_EQ(tool("exists", {"/tool/rm/gone"}).status.code, 1);
    // Removing a node that is not there, under a parent that is, succeeds.
    ok("rm", {"/tool/rm/never-was"});
    EXPECT_EQ(ok("read", {"/tool/rm/keep"}), "1\n");
}

TEST_F(XenstoreTools, ChmodSetsPermissionsThatReadBack) {
    ok("write", {"/tool/perm/node", "v"});
    ok("chmod", {"/tool/perm/node", "n0", "r5", "w7", "b9"});
    // xenstore-ls -p appends each node's permissions as "(n0,r5,...)".
    const std::string listing = ok("ls", {"-p", "/tool/perm"});
    EXPECT_NE(listing.find("node = \"v\""), std::string::npos) << listing;
    EXPECT_NE(listing.find("(n0,r5,w7,b9)"), std::string::npos) << listing;
    // And as the wire carries them (XS_GET_PERMS).
    RawXsClient client(xenstored_.socket_path());
    const XsMessage perms =
        client.request(xs::MessageType::get_perms, xs_args({"/tool/perm/node"}));
    ASSERT_EQ(perms.type(), xs::MessageType::get_perms) << perms.text();
    EXPECT_EQ(perms.payload, xs_args({"n0", "r5", "w7", "b9"}));
}

TEST_F(XenstoreTools, ChmodRecursesWithDashR) {
    ok("write", {"/tool/rperm/a/b", "1"});
    ok("chmod", {"-r", "/tool/rperm", "n0", "r3"});
    const std::string listing = ok("ls", {"-p", "/tool/rperm"});
    // Both a and a/b carry the new permissions.
    const auto first = listing.find("(n0,r3)");
    ASSERT_NE(first, std::string::npos) << listing;
    EXPECT_NE(listing.find("(n0,r3)", first + 1), std::string::npos) << listing;
}

TEST_F(XenstoreTools, WatchPrintsThePathOfEveryWriteBelowTheNode) {
    XenstoreTool watch(xenstored_, "watch", {"-n", "3", "/tool/watched"});
    // A watch fires once when it is registered: after that line the watch
    // is in place.
    EXPECT_EQ(watch.next_line(20s), "/tool/watched");
    ok("write", {"/tool/watched/a", "1"});
    ok("write", {"/tool/elsewhere", "not below the watch"});
    ok("write", {"/tool/watched/b/c", "2"});
    EXPECT_EQ(watch.next_line(20s), "/tool/watched/a");
    EXPECT_EQ(watch.next_line(20s), "/tool/watched/b/c");
    // -n 3: it ends after three events.
    const ToolResult result = watch.finish();
    EXPECT_TRUE(result.status.success()) << result.status.describe() << ": " << result.err;
}

TEST_F(XenstoreTools, WatchSeesRemovals) {
    ok("write", {"/tool/rmwatch/x", "1"});
    XenstoreTool watch(xenstored_, "watch", {"-n", "2", "/tool/rmwatch/x"});
    EXPECT_EQ(watch.next_line(20s), "/tool/rmwatch/x");
    ok("rm", {"/tool/rmwatch/x"});
    EXPECT_EQ(watch.next_line(20s), "/tool/rmwatch/x");
    EXPECT_TRUE(watch.finish().status.success());
}

TEST_F(XenstoreTools, ManyToolsOneAfterAnotherLeaveNoConnectionBehind) {
    ok("write", {"/tool/many/warm", "up"});
    const pid_t daemon = xenstored_.process().pid();
    const int fds_before = count_open_fds(daemon);
    for (int i = 0; i < 20; ++i) {
        ok("write", {"/tool/many/" + std::to_string(i), std::to_string(i * i)});
    }
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(ok("read", {"/tool/many/" + std::to_string(i)}), std::to_string(i * i) + "\n");
    }
    // Every tool closed its connection, and the daemon closed its end.
    EXPECT_TRUE(eventually([&] { return count_open_fds(daemon) <= fds_before; }))
        << count_open_fds(daemon) << " fds open, " << fds_before << " before";
}

}  // namespace
}  // namespace pvsim::test
