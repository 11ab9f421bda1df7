// Every blkif feature with it on at both ends, at the frontend only, at the
// backend only, and at neither (and grant copy mode, the backend's alone, on
// and off): the real pvsim-hypervisor, pvsim-xenstored, pvsim-backend and
// pvsim-guest, each end's "pvsim-*" nodes (common/xen/blkif_features.hpp)
// written by the toolstack before the device starts, every other feature
// off at both ends so that the one under test is alone. Each case runs a
// verified write job and then a verified read job through the guest agent
// and checks that
//  - the data verifies and no I/O fails;
//  - the feature is negotiated exactly when both ends offer it, as Linux's
//    xen-blkback/xenbus.c and xen-blkfront.c decide it: the protocol nodes
//    each end writes (blkif.h) and what blkfront reports it uses;
//  - the counts the design fixes for it hold over the read pass: with
//    persistent grants no grant map hypercall at all once the pool is warm,
//    without them one map and one unmap per segment; a 1 MiB I/O is one
//    BLKIF_OP_INDIRECT request with indirect descriptors, ceil(256 / 11)
//    plain ones without; in grant copy mode no data page is ever mapped and
//    the hypervisor copies instead (dom0's hypervisor counters, which
//    pvsim-backend's grant hypercalls go to).
// For flush and barrier a pvsim_test_domain guest also sends a flush over
// a vbd of the same settings: it reaches the backend only when negotiated
// (Linux sends none to a backend that writes through). For discard a trim
// job (fio's rw=trim, with verify) over part of the written region follows,
// then a verified read of the whole region: negotiated, each trim is one
// BLKIF_OP_DISCARD, the image has a hole there and it reads back as zeros
// while the rest still verifies; not negotiated, blkfront refuses the trim
// with -EOPNOTSUPP before it reaches the ring, the job says so, and the data
// is intact.
// Each feature on at both ends runs again with the guest speaking
// x86_32-abi (DISKSPEC protocol=x86_32-abi): blkfront lays its ring out as
// a 32-bit x86 guest does and blkback translates (Linux xen-blkback
// blkif_get_x86_32_req), with the same data, negotiation and counts.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>

#include "tests/integration/guest/guest_fixture.hpp"

namespace pvsim::test {
namespace {

using nlohmann::json;
using tools::toolstack::BlkifFeatureSettings;

enum class Feature { persistent, indirect, ring, queues, discard, flush, barrier, grant_copy };
enum class Ends { both, frontend, backend, neither };

struct Case {
    Feature feature;
    Ends ends;
    xen::BlkifProtocol protocol = xen::BlkifProtocol::x86_64;
};

std::string name_of(Feature feature) {
    switch (feature) {
        case Feature::persistent:
            return "Persistent";
        case Feature::indirect:
            return "Indirect256";
        case Feature::ring:
            return "RingOrder2";
        case Feature::queues:
            return "TwoQueues";
        case Feature::discard:
            return "Discard";
        case Feature::flush:
            return "FlushCache";
        case Feature::barrier:
            return "Barrier";
        case Feature::grant_copy:
            return "GrantCopy";
    }
    return "?";
}

std::string name_of(Ends ends) {
    switch (ends) {
        case Ends::both:
            return "Both";
        case Ends::frontend:
            return "FrontendOnly";
        case Ends::backend:
            return "BackendOnly";
        case Ends::neither:
            return "Neither";
    }
    return "?";
}

std::string name_of(const Case& c) {
    return name_of(c.feature) + "_" + name_of(c.ends) +
           (c.protocol == xen::BlkifProtocol::x86_32 ? "_X86_32" : "");
}

std::ostream& operator<<(std::ostream& out, const Case& c) {
    return out << name_of(c);
}

constexpr std::uint64_t kSmallBs = 4096;
constexpr std::uint64_t kLargeBs = 1ull << 20;
constexpr std::uint64_t kRegion = 4ull << 20;
constexpr unsigned kIndirectSegments = 256;
constexpr unsigned kRingOrder = 2;
constexpr unsigned kQueues = 2;
// BLKIF_MAX_SEGMENTS_PER_REQUEST: what a plain request carries.
constexpr std::uint64_t kPlainSegments = 11;
constexpr const char* kAbsent = "<none>";
// The range the discard cases trim, inside the region the write job wrote.
constexpr std::uint64_t kTrimOffset = 1ull << 20;
constexpr std::uint64_t kTrimSize = 256ull << 10;

// Every feature off: nothing negotiated but what the case turns on.
BlkifFeatureSettings all_off(xen::BlkifEnd end) {
    BlkifFeatureSettings s;
    s.persistent = false;
    s.max_indirect_segments = 0;
    s.max_ring_page_order = 0;
    s.max_queues = 1;
    s.discard = false;
    s.flush_cache = false;
    s.barrier = false;
    if (end == xen::BlkifEnd::backend) {
        s.grant_mode = xen::BlkifGrantMode::map;
    }
    return s;
}

void turn_on(Feature feature, BlkifFeatureSettings& s) {
    switch (feature) {
        case Feature::persistent:
            s.persistent = true;
            break;
        case Feature::indirect:
            s.max_indirect_segments = kIndirectSegments;
            break;
        case Feature::ring:
            s.max_ring_page_order = kRingOrder;
            break;
        case Feature::queues:
            s.max_queues = kQueues;
            break;
        case Feature::discard:
            s.discard = true;
            break;
        case Feature::flush:
            s.flush_cache = true;
            break;
        case Feature::barrier:
            s.barrier = true;
            break;
        case Feature::grant_copy:
            s.grant_mode = xen::BlkifGrantMode::copy;
            break;
    }
}

bool frontend_on(Ends ends) {
    return ends == Ends::both || ends == Ends::frontend;
}
bool backend_on(Ends ends) {
    return ends == Ends::both || ends == Ends::backend;
}

// The workload of a case: 4 KiB blocks, 1 MiB ones where indirect
// descriptors are under test, one job per queue where queues are.
struct Workload {
    std::uint64_t bs = kSmallBs;
    unsigned numjobs = 1;
    std::uint64_t size = kRegion;  // per job
    unsigned iodepth = 16;

    json job(const char* rw) const {
        return {{"name", rw},         {"rw", rw},     {"bs", bs},       {"iodepth", iodepth},
                {"numjobs", numjobs}, {"size", size}, {"seed", 0x5eed}, {"verify", true}};
    }
    std::uint64_t ios_per_job() const { return size / bs; }
};

Workload workload_for(Feature feature) {
    Workload w;
    if (feature == Feature::indirect) {
        w.bs = kLargeBs;
        w.iodepth = 4;
    }
    if (feature == Feature::queues) {
        w.numjobs = kQueues;
        w.size = kRegion / kQueues;
    }
    return w;
}

// dom0's hypervisor counters (pvsim-backend's grant maps and copies; the
// toolstack and xenstored make none while a job runs).
json dom0_counters(const HypervisorProcess& hv) {
    for (const json& domain : hv.control().stats()) {
        if (domain.value("domid", -1) == 0) {
            return domain.at("counters");
        }
    }
    throw std::runtime_error("no dom0 in the hypervisor's stats");
}

std::uint64_t delta(const json& before, const json& after, const std::string& key) {
    return after.value(key, std::uint64_t{0}) - before.value(key, std::uint64_t{0});
}
std::uint64_t hypercall_delta(const json& before, const json& after, const std::string& op) {
    return after.at("hypercalls").value(op, std::uint64_t{0}) -
           before.at("hypercalls").value(op, std::uint64_t{0});
}

class FeatureMatrixTest : public GuestFixture, public ::testing::WithParamInterface<Case> {
  protected:
    Feature feature() const { return GetParam().feature; }
    bool on_both() const {
        return feature() == Feature::grant_copy ? backend_on(GetParam().ends)
                                                : GetParam().ends == Ends::both;
    }
    bool negotiated(Feature f) const { return f == feature() && on_both(); }

    BlkifFeatureSettings settings(xen::BlkifEnd end) const {
        BlkifFeatureSettings s = all_off(end);
        const bool on = end == xen::BlkifEnd::frontend ? frontend_on(GetParam().ends)
                                                       : backend_on(GetParam().ends);
        if (on && (feature() != Feature::grant_copy || end == xen::BlkifEnd::backend)) {
            turn_on(feature(), s);
        }
        return s;
    }

    tools::toolstack::VbdSpec vbd_for(xen::DomId domid, const std::string& image) {
        auto vbd = spec(domid, "xvda", make_image(image, kImageBytes));
        vbd.frontend_features = settings(xen::BlkifEnd::frontend);
        vbd.backend_features = settings(xen::BlkifEnd::backend);
        vbd.protocol = GetParam().protocol;
        return vbd;
    }

    json device_of(AgentClient& client) {
        const json reply = client.request({{"op", "devices"}});
        EXPECT_EQ(reply.value("ok", false), true) << reply.dump();
        return reply.at("devices").at(0);
    }

    // The value of `node`, "0" standing for an absent one where the
    // protocol treats both alike.
    std::string flag(const std::string& node) {
        const std::string value = read(node);
        return value == kAbsent ? "0" : value;
    }

    // The protocol nodes of the feature under test, in each end's directory.
    void expect_protocol_nodes(const tools::toolstack::VbdPaths& paths) {
        const std::string& b = paths.backend;
        const std::string& f = paths.frontend;
        const bool back = backend_on(GetParam().ends);
        const bool front = frontend_on(GetParam().ends);
        EXPECT_EQ(read(f + "/protocol"), xen::to_string(GetParam().protocol));
        switch (feature()) {
            case Feature::persistent:
                EXPECT_EQ(flag(b + "/feature-persistent"), back ? "1" : "0");
                EXPECT_EQ(flag(f + "/feature-persistent"), front ? "1" : "0");
                break;
            case Feature::indirect:
                EXPECT_EQ(flag(b + "/feature-max-indirect-segments"),
                          back ? std::to_string(kIndirectSegments) : "0");
                break;
            case Feature::ring:
                EXPECT_EQ(flag(b + "/max-ring-page-order"),
                          back ? std::to_string(kRingOrder) : "0");
                if (on_both()) {
                    EXPECT_EQ(read(f + "/ring-page-order"), std::to_string(kRingOrder));
                    EXPECT_EQ(read(f + "/ring-ref"), kAbsent);
                    for (unsigned i = 0; i < (1u << kRingOrder); ++i) {
                        EXPECT_NE(read(f + "/ring-ref" + std::to_string(i)), kAbsent) << i;
                    }
                    EXPECT_EQ(read(f + "/ring-ref" + std::to_string(1u << kRingOrder)), kAbsent);
                } else {
                    EXPECT_EQ(read(f + "/ring-page-order"), kAbsent);
                    EXPECT_EQ(read(f + "/ring-ref0"), kAbsent);
                    EXPECT_NE(read(f + "/ring-ref"), kAbsent);
                }
                break;
            case Feature::queues: {
                const std::string offer = read(b + "/multi-queue-max-queues");
                if (back) {
                    EXPECT_EQ(offer, std::to_string(kQueues));
                } else {
                    EXPECT_TRUE(offer == kAbsent || offer == "1") << offer;
                }
                if (on_both()) {
                    EXPECT_EQ(read(f + "/multi-queue-num-queues"), std::to_string(kQueues));
                    EXPECT_EQ(read(f + "/ring-ref"), kAbsent);
                    EXPECT_EQ(read(f + "/event-channel"), kAbsent);
                    for (unsigned q = 0; q < kQueues; ++q) {
                        const std::string queue = f + "/queue-" + std::to_string(q);
                        EXPECT_NE(read(queue + "/ring-ref"), kAbsent) << queue;
                        EXPECT_NE(read(queue + "/event-channel"), kAbsent) << queue;
                    }
                    EXPECT_EQ(read(f + "/queue-" + std::to_string(kQueues) + "/ring-ref"), kAbsent);
                } else {
                    EXPECT_EQ(read(f + "/multi-queue-num-queues"), kAbsent);
                    EXPECT_EQ(read(f + "/queue-0/ring-ref"), kAbsent);
                    EXPECT_NE(read(f + "/ring-ref"), kAbsent);
                    EXPECT_NE(read(f + "/event-channel"), kAbsent);
                }
                break;
            }
            case Feature::discard:
                EXPECT_EQ(flag(b + "/feature-discard"), back ? "1" : "0");
                if (back) {
                    EXPECT_NE(read(b + "/discard-granularity"), kAbsent);
                    EXPECT_NE(read(b + "/discard-alignment"), kAbsent);
                    EXPECT_EQ(read(b + "/discard-secure"), "0");
                }
                break;
            case Feature::flush:
                EXPECT_EQ(flag(b + "/feature-flush-cache"), back ? "1" : "0");
                EXPECT_EQ(flag(b + "/feature-barrier"), "0");
                break;
            case Feature::barrier:
                EXPECT_EQ(flag(b + "/feature-barrier"), back ? "1" : "0");
                EXPECT_EQ(flag(b + "/feature-flush-cache"), "0");
                break;
            case Feature::grant_copy:
                // Nothing is mapped in copy mode, so nothing persistent is
                // offered; and persistence is off at both ends here anyway.
                EXPECT_EQ(flag(b + "/feature-persistent"), "0");
                break;
        }
    }

    // What blkfront says it uses: the feature under test iff both ends
    // offer it, every other one off.
    void expect_features(const json& device) {
        const json& features = device.at("features");
        EXPECT_EQ(features.value("persistent", true), negotiated(Feature::persistent))
            << device.dump();
        EXPECT_EQ(features.value("indirect_segments", 1u),
                  negotiated(Feature::indirect) ? kIndirectSegments : 0u)
            << device.dump();
        EXPECT_EQ(features.value("ring_page_order", 9u),
                  negotiated(Feature::ring) ? kRingOrder : 0u)
            << device.dump();
        EXPECT_EQ(features.value("queues", 0u), negotiated(Feature::queues) ? kQueues : 1u)
            << device.dump();
        EXPECT_EQ(features.value("discard", true), negotiated(Feature::discard)) << device.dump();
        EXPECT_EQ(features.value("flush_cache", true), negotiated(Feature::flush)) << device.dump();
        EXPECT_EQ(features.value("barrier", true), negotiated(Feature::barrier)) << device.dump();
        const json& counters = device.at("counters");
        EXPECT_EQ(counters.value("queues", 0u), negotiated(Feature::queues) ? kQueues : 1u)
            << device.dump();
        EXPECT_EQ(counters.value("ring_pages", 0u),
                  negotiated(Feature::ring) ? (1u << kRingOrder) : 1u)
            << device.dump();
    }

    // A job that must pass with every block of every job verified.
    void expect_verified(const json& reply, const Workload& w, bool writes, xen::DomId domid) {
        ASSERT_EQ(reply.value("ok", false), true) << reply.dump() << "\n"
                                                  << guest_log(domid) << "\n"
                                                  << backend_->log();
        const json& jobs = reply.at("result").at("jobs");
        ASSERT_EQ(jobs.size(), w.numjobs) << reply.dump();
        for (const json& job : jobs) {
            EXPECT_EQ(job.value("error", 1), 0) << reply.dump();
            EXPECT_EQ(job.at(writes ? "write" : "read").value("total_ios", 0u), w.ios_per_job())
                << reply.dump();
            EXPECT_EQ(job.at("pvsim").at("verify").value("blocks_checked", 0u), w.ios_per_job())
                << reply.dump();
            EXPECT_EQ(job.at("pvsim").at("verify").value("blocks_unwritten", 1u), 0u)
                << reply.dump();
        }
    }

    // The counts the design fixes, over the read pass (the write pass
    // before it warmed the persistent pools up). `front` is blkfront's
    // counters over that pass, `before`/`after` dom0's hypervisor counters.
    void expect_counts(const json& front, const json& before, const json& after,
                       const Workload& w) {
        const std::uint64_t ios = w.ios_per_job() * w.numjobs;
        const std::uint64_t segments = front.value("segments", 0u);
        const std::uint64_t requests = front.value("requests", 0u);
        const std::uint64_t indirect = front.value("indirect_requests", 0u);
        const std::uint64_t maps = delta(before, after, "grant_maps");
        const std::uint64_t unmaps = delta(before, after, "grant_unmaps");
        const std::uint64_t copies = delta(before, after, "grant_copies");
        const std::string evidence = "frontend " + front.dump() + "\ndom0 before " + before.dump() +
                                     "\ndom0 after " + after.dump();

        EXPECT_EQ(segments, ios * (w.bs / 4096)) << evidence;
        if (negotiated(Feature::indirect)) {
            // One request per 1 MiB I/O, its 256 segments in one indirect
            // frame.
            EXPECT_EQ(requests, ios) << evidence;
            EXPECT_EQ(indirect, ios) << evidence;
        } else {
            EXPECT_EQ(requests, ios * ((w.bs / 4096 + kPlainSegments - 1) / kPlainSegments))
                << evidence;
            EXPECT_EQ(indirect, 0u) << evidence;
        }

        if (negotiated(Feature::persistent)) {
            // Steady state: every page already granted and mapped.
            EXPECT_EQ(maps, 0u) << evidence;
            EXPECT_EQ(unmaps, 0u) << evidence;
            EXPECT_EQ(hypercall_delta(before, after, "grant_map"), 0u) << evidence;
            EXPECT_EQ(hypercall_delta(before, after, "grant_unmap"), 0u) << evidence;
            EXPECT_EQ(front.value("data_copies", 0u), segments) << evidence;
            EXPECT_GT(front.value("persistent_grants", 0u), 0u) << evidence;
        } else {
            EXPECT_EQ(front.value("data_copies", 1u), 0u) << evidence;
            EXPECT_EQ(front.value("persistent_grants", 1u), 0u) << evidence;
        }

        if (negotiated(Feature::grant_copy)) {
            // No data page mapped; each segment's page copied by the
            // hypervisor.
            EXPECT_EQ(maps, 0u) << evidence;
            EXPECT_EQ(unmaps, 0u) << evidence;
            EXPECT_GE(copies, segments) << evidence;
            EXPECT_GT(hypercall_delta(before, after, "grant_copy"), 0u) << evidence;
        } else if (!negotiated(Feature::persistent)) {
            // A map and an unmap per segment (and per indirect frame), no
            // copies.
            EXPECT_EQ(maps, segments + indirect) << evidence;
            EXPECT_EQ(unmaps, segments + indirect) << evidence;
            EXPECT_EQ(copies, 0u) << evidence;
        }
    }

    // For flush and barrier: a flush from a pvsim_test_domain guest over a
    // vbd of the same settings goes to the backend only when negotiated,
    // and completes either way with the data intact.
    void expect_flush_path() {
        TestGuest guest(hv_, "flusher");
        introduce(guest);
        const auto paths =
            tools::toolstack::attach_vbd(dom0_, vbd_for(guest.domid(), "flusher.img"));
        guest.ok("blk-open " + std::to_string(kXvda));
        guest.ok("blk-write 0 64 7");
        guest.ok("blk-flush");
        EXPECT_EQ(guest.ok("blk-read 0 64 7"), "match");
        // Eight one-page writes and eight reads, and the flush when it goes
        // to the backend.
        const json counters = json::parse(guest.ok("blk-counters"));
        const bool sent = negotiated(Feature::flush) || negotiated(Feature::barrier);
        EXPECT_EQ(counters.value("requests", 0u), sent ? 17u : 16u) << counters.dump();
        EXPECT_EQ(counters.value("segments", 0u), 16u) << counters.dump();
        guest.ok("blk-close");
        tools::toolstack::detach_vbd(dom0_, paths);
    }

    // For discard: a verified trim job over [kTrimOffset, + kTrimSize) of
    // the region `w` wrote, then a verified read of the whole region (the
    // agent remembers the trimmed blocks as zeros expected).
    void expect_trim_path(AgentClient& client, xen::DomId domid, const std::filesystem::path& image,
                          const Workload& w) {
        const auto zeros = [](const std::vector<std::uint8_t>& bytes) {
            return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
        };
        const std::vector<std::uint8_t> before = read_bytes(image, kTrimOffset, kTrimSize);
        ASSERT_FALSE(zeros(before)) << "the write job left the range to trim empty";
        const json trim = {{"name", "trim"}, {"rw", "trim"},          {"bs", kSmallBs},
                           {"iodepth", 8},   {"offset", kTrimOffset}, {"size", kTrimSize},
                           {"seed", 0x5eed}, {"verify", true}};
        const json reply = io(client, kXvda, trim).reply;
        const std::uint64_t blocks = kTrimSize / kSmallBs;
        const std::string evidence = reply.dump() + "\n" + guest_log(domid);
        ASSERT_TRUE(reply.contains("result")) << evidence;
        const json& job = reply.at("result").at("jobs").at(0);
        const json& front = reply.at("frontend");
        if (negotiated(Feature::discard)) {
            ASSERT_EQ(reply.value("ok", false), true) << evidence << "\n" << backend_->log();
            EXPECT_EQ(job.value("error", 1), 0) << evidence;
            EXPECT_EQ(job.at("trim").value("total_ios", 0u), blocks) << evidence;
            EXPECT_EQ(job.at("trim").value("io_bytes", 0u), kTrimSize) << evidence;
            // The job's own read-back found zeros in every trimmed block.
            EXPECT_EQ(job.at("pvsim").at("verify").value("blocks_checked", 0u), blocks) << evidence;
            EXPECT_EQ(job.at("write").value("total_ios", 1u), 0u) << evidence;
            // One BLKIF_OP_DISCARD per trim, no segment; then the reads.
            EXPECT_EQ(front.value("discards", 0u), blocks) << evidence;
            EXPECT_EQ(front.value("segments", 0u), blocks) << evidence;
            EXPECT_TRUE(zeros(read_bytes(image, kTrimOffset, kTrimSize)));
            // A hole punched in the image, and the blocks around it kept.
            const int fd = ::open(image.c_str(), O_RDONLY | O_CLOEXEC);
            ASSERT_GE(fd, 0);
            EXPECT_EQ(::lseek(fd, static_cast<off_t>(kTrimOffset), SEEK_HOLE),
                      static_cast<off_t>(kTrimOffset));
            EXPECT_EQ(::lseek(fd, static_cast<off_t>(kTrimOffset), SEEK_DATA),
                      static_cast<off_t>(kTrimOffset + kTrimSize));
            ::close(fd);
            EXPECT_FALSE(zeros(read_bytes(image, kTrimOffset - kSmallBs, kSmallBs)));
            EXPECT_FALSE(zeros(read_bytes(image, kTrimOffset + kTrimSize, kSmallBs)));
        } else {
            EXPECT_EQ(reply.value("ok", true), false) << evidence;
            // fio's error is the errno: EOPNOTSUPP, 95 on Linux.
            EXPECT_EQ(job.value("error", 0), 95) << evidence;
            EXPECT_THAT(reply.value("error", ""), ::testing::StartsWith("trim at offset "))
                << evidence;
            EXPECT_THAT(reply.value("error", ""),
                        ::testing::HasSubstr("Operation not supported (-EOPNOTSUPP): the device "
                                             "does not support discard"))
                << evidence;
            EXPECT_EQ(job.at("trim").value("total_ios", 1u), 0u) << evidence;
            // Refused by blkfront: nothing reached the ring.
            EXPECT_EQ(front.value("discards", 1u), 0u) << evidence;
            EXPECT_EQ(front.value("requests", 1u), 0u) << evidence;
            EXPECT_EQ(read_bytes(image, kTrimOffset, kTrimSize), before);
        }

        // Zeros where trimmed, the written data everywhere else.
        const json read_back = io_ok(client, domid, kXvda, w.job("read"));
        ASSERT_NO_FATAL_FAILURE(expect_verified(read_back, w, false, domid));
    }
};

TEST_P(FeatureMatrixTest, NegotiatesIffBothEndsOfferAndCarriesVerifiedData) {
    const xen::DomId domid = create_guest("matrix");
    introduce_guest(domid);
    const auto vbd = vbd_for(domid, "matrix.img");
    const auto paths = tools::toolstack::attach_vbd(dom0_, vbd);
    AgentClient client = agent(domid);
    const json opened = wait_device(client, domid, kXvda);
    ASSERT_TRUE(opened.contains("features")) << opened.dump() << "\n" << guest_log(domid);

    expect_protocol_nodes(paths);
    expect_features(opened);

    const Workload w = workload_for(feature());
    const json written = io_ok(client, domid, kXvda, w.job("write"));
    ASSERT_NO_FATAL_FAILURE(expect_verified(written, w, true, domid));

    const json before = dom0_counters(hv_);
    const json read_back = io_ok(client, domid, kXvda, w.job("read"));
    const json after = dom0_counters(hv_);
    ASSERT_NO_FATAL_FAILURE(expect_verified(read_back, w, false, domid));
    expect_counts(read_back.at("frontend"), before, after, w);

    const json device = device_of(client);
    EXPECT_EQ(device.value("error", "?"), "") << device.dump();
    EXPECT_EQ(device.value("state", 0), 4) << device.dump();
    EXPECT_EQ(device.value("in_flight", 1u), 0u) << device.dump();
    expect_features(device);

    if (feature() == Feature::flush || feature() == Feature::barrier) {
        expect_flush_path();
    }
    if (feature() == Feature::discard) {
        ASSERT_NO_FATAL_FAILURE(expect_trim_path(client, domid, vbd.target, w));
    }
}

std::vector<Case> all_cases() {
    std::vector<Case> cases;
    for (Feature feature : {Feature::persistent, Feature::indirect, Feature::ring, Feature::queues,
                            Feature::discard, Feature::flush, Feature::barrier}) {
        for (Ends ends : {Ends::both, Ends::frontend, Ends::backend, Ends::neither}) {
            cases.push_back({feature, ends});
        }
    }
    // Grant copy is the backend's choice alone.
    cases.push_back({Feature::grant_copy, Ends::backend});
    cases.push_back({Feature::grant_copy, Ends::neither});
    // The 32-bit layout with each feature in use.
    for (Feature feature : {Feature::persistent, Feature::indirect, Feature::ring, Feature::queues,
                            Feature::discard, Feature::flush, Feature::barrier}) {
        cases.push_back({feature, Ends::both, xen::BlkifProtocol::x86_32});
    }
    cases.push_back({Feature::grant_copy, Ends::backend, xen::BlkifProtocol::x86_32});
    return cases;
}

INSTANTIATE_TEST_SUITE_P(Features, FeatureMatrixTest, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& each) {
                             return name_of(each.param);
                         });

}  // namespace
}  // namespace pvsim::test
