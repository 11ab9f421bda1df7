// Synchronous writes (fio's sync=1: the job's "sync"), which Linux sends to a
// block driver as REQ_FUA writes (block/fops.c dio_bio_write_op), from
// pvsim-guest's blkfront to the real pvsim-backend, for each way the backend
// can publish its write cache. The expected requests come from Linux 6.1:
//  - "feature-barrier" without "feature-flush-cache": blkfront has FUA
//    (blkfront_gather_backend_features: feature_flush and feature_fua), so
//    blkif_queue_rw_req sends each write as one BLKIF_OP_WRITE_BARRIER
//    carrying its data;
//  - "feature-flush-cache": a write cache without FUA, so blk_flush_policy
//    sequences each write as the write and then a flush
//    (REQ_FSEQ_POSTFLUSH), a BLKIF_OP_FLUSH_DISKCACHE;
//  - neither: no write cache (blk_queue_write_cache off), FUA means nothing
//    and each write goes plain.
// Every case verifies its data, and the frontend's own counts of what it put
// on the ring show which requests went.
#include <cstdint>
#include <string>

#include "tests/integration/guest/guest_fixture.hpp"

namespace pvsim::test {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace sync_write_test {

using nlohmann::json;

constexpr std::uint64_t kBlock = 4096;
constexpr std::uint64_t kWrites = 64;

struct Expected {
    std::uint64_t requests;  // ring requests for the write job
    std::uint64_t flushes;   // of them, flushes and barriers
};

class SyncWriteTest : public GuestFixture {
  protected:
    // A guest whose vbd's backend offers exactly `flush_cache` and
    // `barrier`; both offers are taken by the frontend.
    json run_sync_writes(const std::string& name, bool flush_cache, bool barrier) {
        const xen::DomId domid = create_guest(name);
        introduce_guest(domid);
        auto vbd = spec(domid, "xvda", make_image(name + ".img", kImageBytes));
        vbd.backend_features.flush_cache = flush_cache;
        vbd.backend_features.barrier = barrier;
        // One plain request per 4 KiB write: no persistent grants or
        // indirect segments to change the counts.
        vbd.backend_features.persistent = false;
        vbd.backend_features.max_indirect_segments = 0;
        tools::toolstack::attach_vbd(dom0_, vbd);
        AgentClient client = agent(domid);
        wait_device(client, domid, kXvda);
        const json job = {{"rw", "randwrite"},        {"bs", kBlock}, {"iodepth", 8},
                          {"size", kWrites * kBlock}, {"sync", true}, {"verify", true}};
        const json reply = io_ok(client, domid, kXvda, job);
        const json& result = reply.at("result").at("jobs").at(0);
        EXPECT_EQ(result.at("write").value("total_ios", 0u), kWrites) << reply.dump();
        EXPECT_EQ(result.at("pvsim").at("verify").value("blocks_checked", 0u), kWrites)
            << reply.dump();
        return reply;
    }

    static void expect_counts(const json& reply, Expected expected) {
        // The job's writes, then the verify pass's reads (one request each).
        const json& frontend = reply.at("frontend");
        EXPECT_EQ(frontend.value("requests", 0u), expected.requests + kWrites) << reply.dump();
        EXPECT_EQ(frontend.value("flushes", 0u), expected.flushes) << reply.dump();
        // Data went with every write, barrier or not.
        EXPECT_EQ(frontend.value("bytes", 0u), 2 * kWrites * kBlock) << reply.dump();
    }
};

TEST_F(SyncWriteTest, ToABarrierOnlyBackendEachSyncWriteIsOneWriteBarrierWithItsData) {
    expect_counts(run_sync_writes("barrier", false, true), {kWrites, kWrites});
}

TEST_F(SyncWriteTest, ToAFlushCacheBackendEachSyncWriteIsAWriteThenAFlush) {
    expect_counts(run_sync_writes("flush", true, true), {2 * kWrites, kWrites});
}

TEST_F(SyncWriteTest, ToABackendWithoutAWriteCacheASyncWriteIsAPlainWrite) {
    expect_counts(run_sync_writes("through", false, false), {kWrites, 0});
}

}  // namespace sync_write_test
}  // namespace pvsim::test
