// XS_CONTROL: C xenstored's check, help, print and quota commands, and
// pvsim's dump.
#include "store_fixture.hpp"

namespace pvsim::xenstore::store::test {
namespace {

using Control = StoreTest;

TEST_F(Control, PrintLogsItsArgumentAndRepliesOk) {
    const Reply reply = request(kDom0, MessageType::control, "print\0hello from a test\0"s);
    EXPECT_EQ(reply.type, MessageType::control);
    EXPECT_EQ(reply.payload, "OK\0"s);
    EXPECT_EQ(request(kDom0, MessageType::control, "print\0"s).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::control, "print\0a\0b\0"s).error(), "EINVAL");
}

TEST_F(Control, DumpListsASubtreeWithValuesAndPermissions) {
    write(kDom0, "/d/a", "plain");
    write(kDom0, "/d/b", "quote\" and \x01\xff"s);
    set_perms(kDom0, "/d/b", "n0\0r3\0"s);
    const Reply reply = request(kDom0, MessageType::control, "dump\0/d\0"s);
    EXPECT_EQ(reply.type, MessageType::control);
    EXPECT_EQ(reply.payload,
              "/d = \"\" (n0)\n"
              "/d/a = \"plain\" (n0)\n"
              "/d/b = \"quote\\\" and \\x01\\xff\" (n0,r3)\n\0"s);
    const std::string whole = request(kDom0, MessageType::control, "dump\0"s).payload;
    EXPECT_EQ(whole.rfind("/ = \"\" (n0)\n/local = \"\" (n0)\n", 0), 0u) << whole;
    EXPECT_EQ(request(kDom0, MessageType::control, "dump\0/none\0"s).error(), "ENOENT");
    EXPECT_EQ(request(kDom0, MessageType::control, "dump\0/a//b\0"s).error(), "EINVAL");
}

TEST_F(Control, DumpTooBigForOneReplyIsE2big) {
    write(kDom0, "/big", std::string(3000, 'x'));
    write(kDom0, "/big2", std::string(3000, 'x'));
    EXPECT_EQ(request(kDom0, MessageType::control, "dump\0"s).error(), "E2BIG");
}

TEST_F(Control, QuotaShowsSetsAndReportsUsage) {
    const std::string settings = request(kDom0, MessageType::control, "quota\0"s).payload;
    EXPECT_NE(settings.find("nodes            :     1000 Nodes per domain\n"), std::string::npos)
        << settings;
    EXPECT_NE(settings.find("node-size        :     2048"), std::string::npos) << settings;
    EXPECT_NE(settings.find("memory           :  2621440 Total Xenstore memory per domain"),
              std::string::npos)
        << settings;
    EXPECT_EQ(request(kDom0, MessageType::control, "quota-soft\0"s).payload,
              "Soft quota settings:\n"
              "memory           :  2097152 Memory used by domain (warning level)\n\0"s);
    EXPECT_TRUE(
        request(kDom0, MessageType::control, nul_args({"quota-soft", "set", "memory", "4096"}))
            .is_ok());
    EXPECT_EQ(store().quotas().memory_soft, 4096u);
    EXPECT_TRUE(
        request(kDom0, MessageType::control, nul_args({"quota", "set", "watches", "1"})).is_ok());
    EXPECT_EQ(store().quotas().watches, 1u);
    EXPECT_TRUE(
        request(kDom0, MessageType::control, nul_args({"quota", "set", "outstanding", "64"}))
            .is_ok());
    EXPECT_EQ(store().quotas().outstanding_requests, 64u);
    EXPECT_EQ(
        request(kDom0, MessageType::control, nul_args({"quota", "set", "watches", "0"})).error(),
        "EINVAL");
    EXPECT_EQ(
        request(kDom0, MessageType::control, nul_args({"quota", "set", "bogus", "5"})).error(),
        "EINVAL");
    const ConnectionId guest = add_guest(1);
    watch(guest, "a", "t");
    EXPECT_EQ(request(guest, MessageType::watch, "b\0t\0"s).error(), "E2BIG");
    const std::string usage =
        request(kDom0, MessageType::control, nul_args({"quota", "1"})).payload;
    EXPECT_EQ(usage,
              "Domain 1:\n"
              "nodes            :        1\n"
              "watches          :        1\n"
              "transactions     :        0\n"
              // "/local/domain/1" (16 + 8 + 15) and the watch "/local/domain/1/a" "t"
              "memory           :       57\n\0"s);
    EXPECT_EQ(request(kDom0, MessageType::control, nul_args({"quota", "42"})).error(), "ENOENT");
}

TEST_F(Control, CheckHelpAndRefusals) {
    EXPECT_TRUE(request(kDom0, MessageType::control, "check\0"s).is_ok());
    const std::string help = request(kDom0, MessageType::control, "help\0"s).payload;
    for (const char* command : {"check", "dump", "help", "print", "quota"}) {
        EXPECT_NE(help.find(command), std::string::npos) << command;
    }
    EXPECT_EQ(request(kDom0, MessageType::control, "memreport\0"s).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::control, ""s).error(), "EINVAL");
    const ConnectionId guest = add_guest(1);
    EXPECT_EQ(request(guest, MessageType::control, "print\0x\0"s).error(), "EACCES");
}

}  // namespace
}  // namespace pvsim::xenstore::store::test
