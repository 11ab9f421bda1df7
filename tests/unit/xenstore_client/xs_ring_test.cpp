// The xenstore page's byte rings (common/xen/xs_ring.hpp): both ends' view
// of the same page, wraparound at the ring's 1024 bytes and at 2^32, full and
// empty rings, Linux xenbus_comms's notification rules, broken indexes, and
// two threads streaming through one ring.
#include "common/xen/xs_ring.hpp"

#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace pvsim::xen::xs {
namespace {

using namespace std::string_view_literals;

class XsRingTest : public ::testing::Test {
  protected:
    // Value-initialised: both rings empty at index 0, as the page starts.
    std::unique_ptr<DomainInterface> page_ = std::make_unique<DomainInterface>();

    std::string read_all(RingSide side, std::size_t max = kRingSize) {
        std::string out(max, '\0');
        const RingTransfer done = read_some(*page_, side, out);
        out.resize(done.bytes);
        return out;
    }
};

std::string pattern(std::size_t size, char first = 'a') {
    std::string text(size, '\0');
    for (std::size_t i = 0; i < size; ++i) {
        text[i] = static_cast<char>(first + i % 23);
    }
    return text;
}

TEST_F(XsRingTest, GuestRequestsReachTheServerAndRepliesComeBack) {
    const std::string request = "hello xenstored";
    RingTransfer done = write_some(*page_, RingSide::guest, request);
    EXPECT_EQ(done.bytes, request.size());
    EXPECT_EQ(page_->req_prod, request.size());
    EXPECT_EQ(std::string(page_->req, request.size()), request);
    EXPECT_EQ(readable(*page_, RingSide::server), request.size());
    EXPECT_EQ(readable(*page_, RingSide::guest), 0u);  // nothing on rsp
    EXPECT_EQ(read_all(RingSide::server), request);
    EXPECT_EQ(page_->req_cons, request.size());

    const std::string reply = "hello guest";
    done = write_some(*page_, RingSide::server, reply);
    EXPECT_EQ(done.bytes, reply.size());
    EXPECT_EQ(page_->rsp_prod, reply.size());
    EXPECT_EQ(std::string(page_->rsp, reply.size()), reply);
    EXPECT_EQ(read_all(RingSide::guest), reply);
    EXPECT_EQ(page_->rsp_cons, reply.size());
}

TEST_F(XsRingTest, WritesWrapAroundTheEndOfTheRing) {
    page_->req_cons = page_->req_prod = 1000;
    const std::string data = pattern(100);
    const RingTransfer done = write_some(*page_, RingSide::guest, data);
    ASSERT_EQ(done.bytes, 100u);
    EXPECT_EQ(page_->req_prod, 1100u);
    // 24 bytes fill the end of the ring, 76 start again at 0.
    EXPECT_EQ(std::string(page_->req + 1000, 24), data.substr(0, 24));
    EXPECT_EQ(std::string(page_->req, 76), data.substr(24));
    EXPECT_EQ(read_all(RingSide::server), data);
    EXPECT_EQ(page_->req_cons, 1100u);
}

TEST_F(XsRingTest, ReadsWrapAroundTheEndOfTheRing) {
    page_->rsp_cons = page_->rsp_prod = 3 * kRingSize - 10;
    const std::string data = pattern(30, 'A');
    ASSERT_EQ(write_some(*page_, RingSide::server, data).bytes, 30u);
    EXPECT_EQ(std::string(page_->rsp + kRingSize - 10, 10), data.substr(0, 10));
    EXPECT_EQ(std::string(page_->rsp, 20), data.substr(10));
    // Read in pieces that themselves straddle the end.
    std::string first(7, '\0');
    ASSERT_EQ(read_some(*page_, RingSide::guest, first).bytes, 7u);
    EXPECT_EQ(first, data.substr(0, 7));
    std::string second(20, '\0');
    ASSERT_EQ(read_some(*page_, RingSide::guest, second).bytes, 20u);
    EXPECT_EQ(second, data.substr(7, 20));
    EXPECT_EQ(read_all(RingSide::guest), data.substr(27));
}

TEST_F(XsRingTest, IndexesWrapAt32Bits) {
    page_->req_cons = page_->req_prod = 0xffffffffu - 5;
    const std::string data = pattern(600);
    ASSERT_EQ(write_some(*page_, RingSide::guest, data).bytes, 600u);
    EXPECT_EQ(page_->req_prod, 594u);  // wrapped past 2^32
    EXPECT_EQ(readable(*page_, RingSide::server), 600u);
    EXPECT_EQ(writable(*page_, RingSide::guest), kRingSize - 600);
    EXPECT_EQ(read_all(RingSide::server), data);
    EXPECT_EQ(page_->req_cons, 594u);
}

TEST_F(XsRingTest, AFullRingTakesNothingMore) {
    const std::string data = pattern(1500);
    RingTransfer done = write_some(*page_, RingSide::guest, data);
    EXPECT_EQ(done.bytes, kRingSize);
    EXPECT_EQ(writable(*page_, RingSide::guest), 0u);
    done = write_some(*page_, RingSide::guest, data);
    EXPECT_EQ(done.bytes, 0u);
    EXPECT_FALSE(done.notify);
    EXPECT_EQ(page_->req_prod, kRingSize);

    // Room freed by the consumer is taken again, across the wrap.
    std::string some(100, '\0');
    ASSERT_EQ(read_some(*page_, RingSide::server, some).bytes, 100u);
    EXPECT_EQ(writable(*page_, RingSide::guest), 100u);
    done = write_some(*page_, RingSide::guest, std::string_view(data).substr(kRingSize));
    EXPECT_EQ(done.bytes, 100u);
    EXPECT_EQ(std::string(page_->req, 100), data.substr(kRingSize, 100));
}

TEST_F(XsRingTest, AnEmptyRingGivesNothing) {
    std::string buffer(10, '\0');
    const RingTransfer done = read_some(*page_, RingSide::guest, buffer);
    EXPECT_EQ(done.bytes, 0u);
    EXPECT_FALSE(done.notify);
    EXPECT_EQ(page_->rsp_cons, 0u);
}

TEST_F(XsRingTest, TheProducerNotifiesWhenTheConsumerHadCaughtUp) {
    // Empty ring: the consumer has read everything and may be asleep.
    EXPECT_TRUE(write_some(*page_, RingSide::guest, "one"sv).notify);
    // It has not read "one" yet, so it is not asleep on an empty ring.
    EXPECT_FALSE(write_some(*page_, RingSide::guest, "two"sv).notify);
    read_all(RingSide::server);
    EXPECT_TRUE(write_some(*page_, RingSide::guest, "three"sv).notify);
}

TEST_F(XsRingTest, TheConsumerNotifiesWhenTheRingWasFull) {
    ASSERT_EQ(write_some(*page_, RingSide::server, pattern(kRingSize)).bytes, kRingSize);
    std::string buffer(10, '\0');
    // The producer may be asleep waiting for room.
    EXPECT_TRUE(read_some(*page_, RingSide::guest, buffer).notify);
    // No longer full: the producer had room and is not waiting for it.
    EXPECT_FALSE(read_some(*page_, RingSide::guest, buffer).notify);
}

TEST_F(XsRingTest, IndexesMoreThanARingApartAreRefused) {
    page_->req_cons = 100;
    page_->req_prod = 100 + kRingSize + 1;
    try {
        write_some(*page_, RingSide::guest, "x"sv);
        FAIL() << "broken indexes accepted";
    } catch (const RingIndexError& e) {
        EXPECT_EQ(e.cons(), 100u);
        EXPECT_EQ(e.prod(), 100 + kRingSize + 1);
        EXPECT_NE(std::string(e.what()).find("req ring: broken indexes"), std::string::npos)
            << e.what();
    }
    std::string buffer(10, '\0');
    EXPECT_THROW(read_some(*page_, RingSide::server, buffer), RingIndexError);
    EXPECT_THROW(readable(*page_, RingSide::server), RingIndexError);
    EXPECT_THROW(writable(*page_, RingSide::guest), RingIndexError);
    // Nothing was moved.
    EXPECT_EQ(page_->req_cons, 100u);
    EXPECT_EQ(page_->req_prod, 100 + kRingSize + 1);
}

TEST_F(XsRingTest, AConsumerAheadOfItsProducerIsRefused) {
    page_->rsp_cons = 50;
    page_->rsp_prod = 40;  // prod - cons wraps to almost 2^32
    std::string buffer(10, '\0');
    try {
        read_some(*page_, RingSide::guest, buffer);
        FAIL() << "broken indexes accepted";
    } catch (const RingIndexError& e) {
        EXPECT_EQ(e.cons(), 50u);
        EXPECT_EQ(e.prod(), 40u);
        EXPECT_NE(std::string(e.what()).find("rsp ring"), std::string::npos) << e.what();
    }
    EXPECT_THROW(write_some(*page_, RingSide::server, "x"sv), RingIndexError);
    // The other ring is untouched and still works.
    EXPECT_EQ(write_some(*page_, RingSide::guest, "ok"sv).bytes, 2u);
}

TEST_F(XsRingTest, ExactlyOneRingApartIsAFullRingNotAnError) {
    page_->req_cons = 7;
    page_->req_prod = 7 + kRingSize;
    EXPECT_EQ(writable(*page_, RingSide::guest), 0u);
    EXPECT_EQ(readable(*page_, RingSide::server), kRingSize);
}

TEST_F(XsRingTest, TwoThreadsStreamThroughTheRing) {
    // A megabyte in odd-sized pieces, each end spinning on the other: the
    // bytes arrive whole and in order through hundreds of wraps.
    constexpr std::size_t kTotal = 1 << 20;
    std::vector<char> sent(kTotal);
    for (std::size_t i = 0; i < kTotal; ++i) {
        sent[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
    }
    std::vector<char> received(kTotal);
    std::thread producer([&] {
        std::size_t done = 0;
        std::size_t piece = 1;
        while (done < kTotal) {
            piece = piece % 997 + 13;
            const std::size_t size = std::min(piece, kTotal - done);
            done += write_some(*page_, RingSide::server, std::span(sent).subspan(done, size)).bytes;
            std::this_thread::yield();
        }
    });
    std::size_t done = 0;
    std::size_t piece = 5;
    while (done < kTotal) {
        piece = piece % 613 + 7;
        const std::size_t size = std::min(piece, kTotal - done);
        done += read_some(*page_, RingSide::guest, std::span(received).subspan(done, size)).bytes;
        std::this_thread::yield();
    }
    producer.join();
    EXPECT_EQ(received, sent);
    EXPECT_EQ(page_->rsp_prod, static_cast<std::uint32_t>(kTotal));
    EXPECT_EQ(page_->rsp_cons, static_cast<std::uint32_t>(kTotal));
}

}  // namespace
}  // namespace pvsim::xen::xs
