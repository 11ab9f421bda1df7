// Malformed requests are answered with XS_ERROR as C xenstored answers them,
// and never break the store.
#include "store_fixture.hpp"
#include "tests/support/log_capture.hpp"

namespace pvsim::xenstore::store::test {
namespace {

using BadInput = StoreTest;

TEST_F(BadInput, ErrorsAreXsErrorWithTheNulTerminatedErrnoName) {
    const Reply reply = request(kDom0, MessageType::read, "/missing\0"s, 0);
    EXPECT_EQ(reply.type, MessageType::error);
    EXPECT_EQ(reply.payload, "ENOENT\0"s);
}

TEST_F(BadInput, ArgumentsWithoutTheirNul) {
    write(kDom0, "/a", "v");
    for (const MessageType type :
         {MessageType::read, MessageType::directory, MessageType::get_perms, MessageType::mkdir,
          MessageType::rm, MessageType::release, MessageType::get_domain_path,
          MessageType::is_domain_introduced}) {
        EXPECT_EQ(request(kDom0, type, "/a"s).error(), "EINVAL") << xs::name(type);
        EXPECT_EQ(request(kDom0, type, ""s).error(), "EINVAL") << xs::name(type);
        // One argument means exactly one nul, at the end.
        EXPECT_EQ(request(kDom0, type, "/a\0x"s).error(), "EINVAL") << xs::name(type);
        EXPECT_EQ(request(kDom0, type, "/a\0\0"s).error(), "EINVAL") << xs::name(type);
    }
    EXPECT_EQ(request(kDom0, MessageType::write, "/a"s).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::write, ""s).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::directory_part, "/a\0"s).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::directory_part, "/a\0"s + "0").error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::directory_part, "/a\0zero\0"s).error(), "EINVAL");
    EXPECT_EQ(read(kDom0, "/a"), "v");
}

TEST_F(BadInput, WatchWithoutAToken) {
    EXPECT_EQ(request(kDom0, MessageType::watch, "/a\0"s).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::watch, "/a"s).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::watch, "/a\0tok"s).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::watch, "/a\0tok\0more\0"s).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::watch, "/a/\0tok\0"s).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::unwatch, "/a\0"s).error(), "EINVAL");
    EXPECT_EQ(take_events(kDom0), std::vector<Event>{});
}

TEST_F(BadInput, BadPermissionStrings) {
    write(kDom0, "/p", "");
    for (const std::string& bad :
         {"/p\0"s, "/p\0r1"s, "/p\0x1\0"s, "/p\0r\0"s, "/p\0r-1\0"s, "/p\0r65536\0"s, "/p\0r1x\0"s,
          nul_args({"/p", "1"}), "/p\0\0"s, "/p\0r1\0\0"s}) {
        EXPECT_EQ(request(kDom0, MessageType::set_perms, bad).error(), "EINVAL");
    }
    EXPECT_EQ(request(kDom0, MessageType::get_perms, "/p\0"s).payload, "n0\0"s);
}

TEST_F(BadInput, UnknownTypesAreEnosys) {
    for (const std::uint32_t type :
         {20u, 23u, 99u, 0xffffu, static_cast<std::uint32_t>(MessageType::watch_event),
          static_cast<std::uint32_t>(MessageType::error)}) {
        EXPECT_EQ(request_raw(kDom0, type, "/a\0"s).error(), "ENOSYS") << type;
    }
    const ConnectionId guest = add_guest(1);
    EXPECT_EQ(request_raw(guest, 99, ""s).error(), "ENOSYS");
}

TEST_F(BadInput, AnUnknownTypeNamesTheDomainInAWarningOncePerConnection) {
    // C xenstored's process_message(): eprintf("Client unknown operation %i").
    pvsim::test::LogCapture log;
    const ConnectionId guest = add_guest(1);
    EXPECT_EQ(request_raw(guest, 99, ""s).error(), "ENOSYS");
    EXPECT_EQ(request_raw(guest, 99, ""s).error(), "ENOSYS");
    EXPECT_EQ(request_raw(guest, 0xffff, ""s).error(), "ENOSYS");
    EXPECT_EQ(log.warnings_with({"dom 1 ", "unknown request type 99: ENOSYS"}).size(), 1u);
    EXPECT_TRUE(log.warnings_with({"unknown request type 65535"}).empty());
    // A known type refused is no warning.
    EXPECT_EQ(request(guest, MessageType::read, "/a"s).error(), "EINVAL");
    EXPECT_EQ(log.warnings_with({"dom 1 "}).size(), 1u);
}

TEST_F(BadInput, UnknownTransactionIdIsEnoent) {
    for (const MessageType type :
         {MessageType::read, MessageType::write, MessageType::mkdir, MessageType::rm,
          MessageType::directory, MessageType::get_domain_path, MessageType::transaction_end,
          MessageType::reset_watches}) {
        EXPECT_EQ(request(kDom0, type, "/a\0"s, 42).error(), "ENOENT") << xs::name(type);
    }
}

TEST_F(BadInput, BrokenFramingIsTheCallersBug) {
    store();
    EXPECT_THROW(
        store().handle(kDom0, {static_cast<std::uint32_t>(MessageType::read), 1, 0, 9}, "/a\0"s),
        std::invalid_argument);
    const std::string oversize(xs::kPayloadMax + 1, 'a');
    EXPECT_THROW(store().handle(kDom0,
                                {static_cast<std::uint32_t>(MessageType::write), 1, 0,
                                 static_cast<std::uint32_t>(oversize.size())},
                                oversize),
                 std::invalid_argument);
    EXPECT_THROW(store().connect(kDom0, 0), std::invalid_argument);
}

TEST_F(BadInput, AFullSizeWriteIsFine) {
    const std::string payload = "/full\0"s + std::string(xs::kPayloadMax - 6, 'f');
    ASSERT_EQ(payload.size(), xs::kPayloadMax);
    EXPECT_TRUE(request(kDom0, MessageType::write, payload).is_ok());
    EXPECT_EQ(read(kDom0, "/full").size(), xs::kPayloadMax - 6);
}

TEST_F(BadInput, RequestsOnUnknownConnectionsAreDropped) {
    store();
    const std::size_t before = outbox_.messages.size();
    store().handle(555, {static_cast<std::uint32_t>(MessageType::read), 1, 0, 3}, "/a\0"s);
    EXPECT_EQ(outbox_.messages.size(), before);
}

}  // namespace
}  // namespace pvsim::xenstore::store::test
