#include "backend/blkback/request_journal.hpp"

#include <atomic>
#include <cstring>
#include <system_error>

namespace pvsim::backend::blkback {
namespace {

// "pvsim-j1" little-endian: a layout this code wrote.
constexpr std::uint64_t kMagic = 0x316a2d6d69737670ull;

struct Header {
    std::uint64_t magic;
    std::uint32_t frontend;
    std::uint32_t ring_ref;
    std::uint32_t port;
    std::uint32_t slots;
};
static_assert(sizeof(Header) == 24);

}  // namespace

// The tag is 1 << 32 | index once the entry holds the request taken at
// `index`; 0 while it holds nothing.
struct RequestJournal::Entry {
    std::uint64_t tag;
    xen::BlkifRequest request;
};
static_assert(sizeof(RequestJournal::Entry) % alignof(std::uint64_t) == 0);

namespace {

constexpr std::size_t kEntriesOffset = 64;  // the header, padded to a cache line

std::size_t size_for(xen::RingIdx slots) {
    return kEntriesOffset + std::size_t{slots} * sizeof(RequestJournal::Entry);
}

std::string what(const RequestJournal::Ring& ring) {
    return "vbd-ring." + std::to_string(ring.frontend) + "." + std::to_string(ring.ring_ref) + "." +
           std::to_string(ring.port);
}

bool belongs_to(const os::SharedMemory& memory, const RequestJournal::Ring& ring) {
    if (memory.size() != size_for(ring.slots)) {
        return false;
    }
    Header header;
    std::memcpy(&header, memory.data(), sizeof header);
    return header.magic == kMagic && header.frontend == ring.frontend &&
           header.ring_ref == ring.ring_ref && header.port == ring.port &&
           header.slots == ring.slots;
}

os::SharedMemory open_or_create(const std::string& name, const RequestJournal::Ring& ring,
                                bool& inherited) {
    inherited = false;
    try {
        os::SharedMemory left = os::SharedMemory::open(name);
        left.set_owner(true);  // ours now; removed below if it is not one we can use
        if (belongs_to(left, ring)) {
            inherited = true;
            return left;
        }
    } catch (const std::system_error&) {
        // None left behind: create one.
    }
    os::SharedMemory memory = os::SharedMemory::create(name, size_for(ring.slots));
    const Header header{kMagic, ring.frontend, ring.ring_ref, ring.port, ring.slots};
    std::memcpy(memory.data(), &header, sizeof header);
    return memory;
}

}  // namespace

RequestJournal::RequestJournal(const std::string& run_tag, const Ring& ring)
    : slots_(ring.slots), memory_(attach(run_tag, ring, inherited_)) {}

os::SharedMemory RequestJournal::attach(const std::string& run_tag, const Ring& ring,
                                        std::size_t& inherited) {
    bool left = false;
    os::SharedMemory memory = open_or_create(os::shm_name(run_tag, what(ring)), ring, left);
    inherited = 0;
    if (left) {
        const auto* entries = reinterpret_cast<const Entry*>(memory.data() + kEntriesOffset);
        for (xen::RingIdx i = 0; i < ring.slots; ++i) {
            inherited += entries[i].tag != 0 ? 1 : 0;
        }
    }
    return memory;
}

RequestJournal::Entry* RequestJournal::entries() const noexcept {
    return reinterpret_cast<Entry*>(memory_.data() + kEntriesOffset);
}

std::optional<xen::BlkifRequest> RequestJournal::replay(xen::RingIdx index) const noexcept {
    Entry& entry = entries()[index % slots_];
    const std::uint64_t tag =
        std::atomic_ref<std::uint64_t>(entry.tag).load(std::memory_order_acquire);
    if (tag != ((std::uint64_t{1} << 32) | index)) {
        return std::nullopt;
    }
    xen::BlkifRequest out;
    std::memcpy(&out, &entry.request, sizeof out);
    return out;
}

void RequestJournal::record(xen::RingIdx index, const xen::BlkifRequest& copy) noexcept {
    Entry& entry = entries()[index % slots_];
    std::atomic_ref<std::uint64_t>(entry.tag).store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    std::memcpy(&entry.request, &copy, sizeof copy);
    std::atomic_ref<std::uint64_t>(entry.tag).store((std::uint64_t{1} << 32) | index,
                                                    std::memory_order_release);
}

}  // namespace pvsim::backend::blkback
