#include "tests/support/test_domain_blk.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/xen/xenbus.hpp"
#include "frontend/blkfront/blkfront.hpp"
#include "tests/support/test_domain_reply.hpp"

namespace pvsim::test {
namespace {

using frontend::BlockOperation;
using frontend::BlockRequest;
using frontend::GuestBuffer;

constexpr std::size_t kSector = 512;
constexpr std::size_t kSectorsPerPage = xen::kXenPageSize / kSector;
// How long one batch may take before the verb gives up on it.
constexpr auto kBatchTimeout = std::chrono::seconds(30);

// The completions of one submit batch. Shared with the callbacks, so that a
// batch given up on (timeout) stays valid until its last callback has run.
struct Batch {
    std::mutex mutex;
    std::condition_variable done;
    std::size_t remaining = 0;
    std::vector<int> status;
    std::vector<GuestBuffer> buffers;  // must live until completion
};

// Submits `requests` (their buffers in `batch`) in one batch and waits for
// every completion; the statuses, in request order.
std::vector<int> submit_and_wait(frontend::BlockDevice& device, const std::shared_ptr<Batch>& batch,
                                 std::vector<BlockRequest>& requests) {
    batch->remaining = requests.size();
    batch->status.assign(requests.size(), 0);
    for (std::size_t i = 0; i < requests.size(); ++i) {
        requests[i].done = [batch, i](int status) {
            std::lock_guard lock(batch->mutex);
            batch->status[i] = status;
            if (--batch->remaining == 0) {
                batch->done.notify_all();
            }
        };
    }
    device.submit(requests);
    std::unique_lock lock(batch->mutex);
    if (!batch->done.wait_for(lock, kBatchTimeout, [&] { return batch->remaining == 0; })) {
        throw std::runtime_error(
            std::to_string(batch->remaining) + " of " + std::to_string(requests.size()) +
            " requests not completed within 30 s; device error: '" + device.error() + "'");
    }
    return batch->status;
}

}  // namespace

TestDomainBlk::TestDomainBlk(hypervisor::Hypervisor& hypervisor, TestDomainXenstore& xenstore)
    : hv_(hypervisor), xenstore_(xenstore) {}

TestDomainBlk::~TestDomainBlk() {
    device_.reset();
    for (const hypervisor::Gfn gfn : pages_) {
        hv_.memory().free_page(gfn);
    }
}

frontend::blkfront::Blkfront& TestDomainBlk::device() {
    if (!device_) {
        throw std::logic_error("blk-open first");
    }
    return *device_;
}

std::string TestDomainBlk::transfer(bool write, std::uint64_t sector, std::uint64_t count,
                                    std::uint64_t seed) {
    frontend::blkfront::Blkfront& disk = device();
    while (pages_.size() < kBlkDepth) {
        pages_.push_back(hv_.memory().allocate_page());
    }
    std::uint64_t next = sector;
    const std::uint64_t end = sector + count;
    while (next < end) {
        auto batch = std::make_shared<Batch>();
        std::vector<BlockRequest> requests;
        std::vector<std::uint64_t> firsts;
        for (std::size_t slot = 0; slot < kBlkDepth && next < end; ++slot) {
            const std::uint64_t sectors = std::min<std::uint64_t>(kSectorsPerPage, end - next);
            auto* data = reinterpret_cast<std::uint8_t*>(hv_.memory().page(pages_[slot]).data());
            for (std::uint64_t s = 0; s < sectors; ++s) {
                for (std::size_t b = 0; b < kSector; ++b) {
                    data[s * kSector + b] = write ? blk_pattern_byte(seed, next + s, b) : 0;
                }
            }
            batch->buffers.push_back(GuestBuffer{{pages_[slot]}, sectors * kSector});
            firsts.push_back(next);
            next += sectors;
        }
        for (std::size_t i = 0; i < firsts.size(); ++i) {
            BlockRequest request;
            request.operation = write ? BlockOperation::write : BlockOperation::read;
            request.sector = firsts[i];
            request.buffer = &batch->buffers[i];
            requests.push_back(std::move(request));
        }
        const std::vector<int> status = submit_and_wait(disk, batch, requests);
        for (std::size_t i = 0; i < firsts.size(); ++i) {
            if (status[i] != 0) {
                return std::string("error ") + (write ? "write" : "read") + " at sector " +
                       std::to_string(firsts[i]) + " failed: " + std::strerror(-status[i]);
            }
            if (write) {
                continue;
            }
            const auto* data =
                reinterpret_cast<const std::uint8_t*>(hv_.memory().page(pages_[i]).data());
            const std::uint64_t sectors = batch->buffers[i].length / kSector;
            for (std::uint64_t s = 0; s < sectors; ++s) {
                for (std::size_t b = 0; b < kSector; ++b) {
                    if (data[s * kSector + b] != blk_pattern_byte(seed, firsts[i] + s, b)) {
                        return "error mismatch at sector " + std::to_string(firsts[i] + s);
                    }
                }
            }
        }
    }
    return write ? ok() : ok("match");
}

std::string TestDomainBlk::flush() {
    auto batch = std::make_shared<Batch>();
    std::vector<BlockRequest> requests(1);
    requests[0].operation = BlockOperation::flush;
    const int status = submit_and_wait(device(), batch, requests).at(0);
    return status == 0 ? ok() : "error flush failed: " + std::string(std::strerror(-status));
}

std::optional<std::string> TestDomainBlk::run(const std::string& verb, std::istream& in) {
    if (verb.rfind("blk-", 0) != 0) {
        return std::nullopt;
    }
    if (verb == "blk-open") {
        if (device_) {
            throw std::logic_error("a device is open already; blk-close first");
        }
        std::uint32_t devid = 0;
        if (!(in >> devid)) {
            throw std::invalid_argument("blk-open DEVID");
        }
        {
            std::lock_guard lock(states_mutex_);
            states_.clear();
        }
        frontend::blkfront::BlkfrontOptions options;
        options.on_state = [this](xen::XenbusState state) {
            std::lock_guard lock(states_mutex_);
            states_.push_back(static_cast<int>(state));
        };
        device_ = frontend::blkfront::open_blkfront(hv_, xenstore_.client(), control_.executor(),
                                                    devid, std::move(options));
        return ok();
    }
    if (verb == "blk-write" || verb == "blk-read") {
        std::uint64_t sector = 0, count = 0, seed = 0;
        if (!(in >> sector >> count >> seed)) {
            throw std::invalid_argument(verb + " SECTOR COUNT SEED");
        }
        return transfer(verb == "blk-write", sector, count, seed);
    }
    if (verb == "blk-flush") {
        return flush();
    }
    if (verb == "blk-info") {
        const frontend::blkfront::Blkfront& disk = device();
        return ok(std::to_string(disk.capacity_sectors()) + " " +
                  std::to_string(disk.sector_size()) + " " + (disk.read_only() ? "1" : "0"));
    }
    if (verb == "blk-counters") {
        const frontend::blkfront::BlkfrontCounters c = device().counters();
        const nlohmann::json json = {{"requests", c.requests},
                                     {"segments", c.segments},
                                     {"bytes", c.bytes},
                                     {"responses", c.responses},
                                     {"notifications_sent", c.notifications_sent},
                                     {"notifications_suppressed", c.notifications_suppressed},
                                     {"notifications_received", c.notifications_received},
                                     {"grants_deferred", c.grants_deferred}};
        return ok(json.dump());
    }
    if (verb == "blk-states") {
        std::lock_guard lock(states_mutex_);
        std::string text;
        for (const int state : states_) {
            text += (text.empty() ? "" : " ") + std::to_string(state);
        }
        return ok(text);
    }
    if (verb == "blk-close") {
        device();
        device_.reset();
        return ok();
    }
    throw std::invalid_argument("unknown block verb " + verb);
}

}  // namespace pvsim::test
