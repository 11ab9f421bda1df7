// What pvsim-xenstored does with input libxenstore would never send
// (DESIGN.md §8: a bad request never takes the daemon down, nothing else is
// lost). As C xenstored: a header announcing more than XENSTORE_PAYLOAD_MAX
// bytes breaks the framing and closes that connection (core.c
// handle_input); every well-framed request gets an answer, an XS_ERROR
// naming the errno for bad ones. After each, other clients carry on and
// what was written before is still there.
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/xenstored/raw_client.hpp"
#include "tests/support/xenstored_process.hpp"

namespace pvsim::test {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kWitness = "/tool/witness";
constexpr std::string_view kWitnessValue = "written before";

class BadInput : public ::testing::Test {
  protected:
    void SetUp() override { RawXsClient(xenstored_.socket_path()).write(kWitness, kWitnessValue); }

    // A client that connected before the bad one and stays connected.
    RawXsClient& bystander() { return bystander_; }

    // A fresh connection still reads what was written before.
    void expect_store_intact() {
        RawXsClient fresh(xenstored_.socket_path());
        EXPECT_EQ(fresh.read(kWitness), kWitnessValue);
        EXPECT_EQ(bystander_.read(kWitness), kWitnessValue);
    }

    static void expect_error(const XsMessage& reply, std::string_view error) {
        EXPECT_EQ(reply.type(), xs::MessageType::error) << xs::name(reply.type());
        EXPECT_EQ(reply.payload, xs_args({error}));
    }

    XenstoredProcess xenstored_;
    RawXsClient bystander_{xenstored_.socket_path()};
};

TEST_F(BadInput, OversizedHeaderClosesThatConnectionOnly) {
    RawXsClient bad(xenstored_.socket_path());
    // Only the header: the daemon must not wait for 4097 bytes to come.
    bad.send_bytes(xs_header_bytes(static_cast<std::uint32_t>(xs::MessageType::read), 1, 0,
                                   xs::kPayloadMax + 1));
    EXPECT_TRUE(bad.closed_by_daemon());
    expect_store_intact();
}

TEST_F(BadInput, OversizedHeaderAfterGoodRequestsStillAnswersThoseFirst) {
    RawXsClient bad(xenstored_.socket_path());
    std::string bytes = xs_header_bytes(static_cast<std::uint32_t>(xs::MessageType::read), 7, 0,
                                        static_cast<std::uint32_t>(kWitness.size() + 1)) +
                        xs_args({kWitness});
    bytes += xs_header_bytes(static_cast<std::uint32_t>(xs::MessageType::read), 8, 0, 0xffffffff);
    bad.send_bytes(bytes);
    const std::optional<XsMessage> reply = bad.receive();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->header.req_id, 7u);
    EXPECT_EQ(reply->payload, kWitnessValue);
    EXPECT_TRUE(bad.closed_by_daemon());
    expect_store_intact();
}

TEST_F(BadInput, LargestPayloadIsStillServed) {
    RawXsClient client(xenstored_.socket_path());
    // kPayloadMax bytes: well framed (a path far too long, so an error).
    const std::string payload(xs::kPayloadMax, 'a');
    const XsMessage reply = client.request(xs::MessageType::read, payload);
    EXPECT_EQ(reply.type(), xs::MessageType::error);
    EXPECT_EQ(client.read(kWitness), kWitnessValue);
    expect_store_intact();
}

TEST_F(BadInput, PayloadWithoutItsNulIsEINVAL) {
    RawXsClient client(xenstored_.socket_path());
    expect_error(client.request(xs::MessageType::read, kWitness), "EINVAL");
    // The connection goes on.
    EXPECT_EQ(client.read(kWitness), kWitnessValue);
    expect_store_intact();
}

TEST_F(BadInput, UnknownTypesAreENOSYS) {
    RawXsClient client(xenstored_.socket_path());
    expect_error(client.request_raw(123, xs_args({kWitness})), "ENOSYS");
    // 20 was XS_RESTRICT, removed from the protocol.
    expect_error(client.request_raw(20, xs_args({"0"})), "ENOSYS");
    expect_error(client.request_raw(static_cast<std::uint32_t>(xs::MessageType::type_count), ""),
                 "ENOSYS");
    EXPECT_EQ(client.read(kWitness), kWitnessValue);
    expect_store_intact();
}

TEST_F(BadInput, UnknownTransactionIsENOENT) {
    RawXsClient client(xenstored_.socket_path());
    expect_error(client.request(xs::MessageType::read, xs_args({kWitness}), 4242), "ENOENT");
    std::string write = xs_args({kWitness});
    write += "overwritten?";
    expect_error(client.request(xs::MessageType::write, write, 4243), "ENOENT");
    expect_store_intact();
}

TEST_F(BadInput, WatchWithoutTokenIsEINVAL) {
    RawXsClient client(xenstored_.socket_path());
    expect_error(client.request(xs::MessageType::watch, xs_args({kWitness})), "EINVAL");
    // No watch was set: a write fires nothing on this connection, and the
    // next reply is the write's own.
    RawXsClient(xenstored_.socket_path()).write(kWitness, kWitnessValue);
    EXPECT_EQ(client.read(kWitness), kWitnessValue);
    expect_store_intact();
}

TEST_F(BadInput, GarbageThatCannotBeFramedClosesTheConnection) {
    RawXsClient bad(xenstored_.socket_path());
    // An HTTP request: its bytes 12..15 make a length far over the limit.
    bad.send_bytes("GET / HTTP/1.1\r\nHost: xenstored\r\n\r\n");
    EXPECT_TRUE(bad.closed_by_daemon());
    expect_store_intact();
}

TEST_F(BadInput, GarbageThatFramesIsAnsweredAndTheConnectionGoesOn) {
    RawXsClient client(xenstored_.socket_path());
    client.send_bytes(xs_header_bytes(0xdeadbeef, 99, 0, 5) +
                      std::string("\x01\x02\x03\xff\x00", 5));
    const std::optional<XsMessage> reply = client.receive();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->header.req_id, 99u);
    expect_error(*reply, "ENOSYS");
    EXPECT_EQ(client.read(kWitness), kWitnessValue);
    expect_store_intact();
}

TEST_F(BadInput, RequestsArrivingByteByByteAreReassembled) {
    RawXsClient client(xenstored_.socket_path());
    std::string write = xs_args({"/tool/trickle"});
    write += "slowly";
    const std::string bytes = xs_header_bytes(static_cast<std::uint32_t>(xs::MessageType::write), 5,
                                              0, static_cast<std::uint32_t>(write.size())) +
                              write;
    for (const char byte : bytes) {
        client.send_bytes(std::string_view(&byte, 1));
        std::this_thread::sleep_for(1ms);
    }
    const std::optional<XsMessage> reply = client.receive();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->header.req_id, 5u);
    EXPECT_EQ(reply->payload, xs_args({"OK"}));
    EXPECT_EQ(client.read("/tool/trickle"), "slowly");
    expect_store_intact();
}

TEST_F(BadInput, ClientThatLeavesMidMessageIsForgotten) {
    {
        RawXsClient quitter(xenstored_.socket_path());
        const std::string header =
            xs_header_bytes(static_cast<std::uint32_t>(xs::MessageType::write), 1, 0, 100);
        quitter.send_bytes(header.substr(0, 10));
    }
    {
        RawXsClient quitter(xenstored_.socket_path());
        quitter.send_bytes(
            xs_header_bytes(static_cast<std::uint32_t>(xs::MessageType::write), 1, 0, 100) +
            "/tool/half");
    }
    expect_store_intact();
    RawXsClient check(xenstored_.socket_path());
    const XsMessage reply = check.request(xs::MessageType::read, xs_args({"/tool/half"}));
    expect_error(reply, "ENOENT");
}

TEST_F(BadInput, ClientThatNeverReadsItsRepliesDoesNotStallOthers) {
    RawXsClient hog(xenstored_.socket_path());
    // Many requests whose replies it never takes: they fill its socket.
    std::string burst;
    for (std::uint32_t i = 0; i < 2000; ++i) {
        burst += xs_header_bytes(static_cast<std::uint32_t>(xs::MessageType::read), i, 0,
                                 static_cast<std::uint32_t>(kWitness.size() + 1)) +
                 xs_args({kWitness});
    }
    hog.send_bytes(burst);
    expect_store_intact();
}

}  // namespace
}  // namespace pvsim::test
