// The driver's side of guest memory and of one split virtqueue, kept in the
// test process: a SharedMemory object standing for a guest's memory (the fd
// SET_MEM_TABLE sends), a bump allocator of guest-physical ranges in it, and
// a queue laid out the way the virtio contract says (descriptor table, avail
// ring and used ring each in a page of their own). It can lay out well-formed
// virtio-blk requests and, on purpose, malformed chains and indices.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/os/shared_memory.hpp"
#include "common/virtio/virtio_blk.hpp"
#include "common/virtio/virtqueue_view.hpp"

namespace pvsim::test {

inline constexpr std::uint64_t kGuestPage = 4096;

class GuestMemory {
  public:
    explicit GuestMemory(std::size_t size) : shm_(os::SharedMemory::create(unique_name(), size)) {}

    int fd() const noexcept { return shm_.fd(); }
    std::uint64_t size() const noexcept { return shm_.size(); }
    std::byte* base() const noexcept { return shm_.data(); }
    std::byte* at(std::uint64_t gpa) const { return shm_.data() + gpa; }
    // The driver's "user address" of a guest-physical address (the
    // contract: userspace_addr = base()).
    std::uint64_t user(std::uint64_t gpa) const {
        return reinterpret_cast<std::uint64_t>(shm_.data()) + gpa;
    }

    // `size` bytes aligned to `align`, zeroed; never reused.
    std::uint64_t allocate(std::uint64_t size, std::uint64_t align = 16) {
        next_ = (next_ + align - 1) & ~(align - 1);
        if (next_ + size > shm_.size()) {
            throw std::runtime_error("test guest memory exhausted");
        }
        const std::uint64_t gpa = next_;
        next_ += size;
        std::memset(at(gpa), 0, size);
        return gpa;
    }
    std::uint64_t allocate_page() { return allocate(kGuestPage, kGuestPage); }

  private:
    static std::string unique_name() {
        static std::atomic<unsigned> counter{0};
        return os::shm_name("vutest" + std::to_string(::getpid()),
                            "guest" + std::to_string(counter.fetch_add(1)));
    }

    os::SharedMemory shm_;
    std::uint64_t next_ = kGuestPage;  // gpa 0 stays unused
};

struct GuestBuffer {
    std::uint64_t gpa = 0;
    std::uint32_t len = 0;
    bool device_writes = false;
};

class GuestQueue {
  public:
    GuestQueue(GuestMemory& memory, std::uint16_t size)
        : memory_(memory),
          size_(size),
          desc_gpa_(memory.allocate(virtio::desc_table_size(size), kGuestPage)),
          avail_gpa_(memory.allocate(virtio::avail_ring_size(size), kGuestPage)),
          used_gpa_(memory.allocate(virtio::used_ring_size(size), kGuestPage)),
          view_(*virtio::SplitVirtqView::from_parts(
              size, {memory.at(desc_gpa_), virtio::desc_table_size(size)},
              {memory.at(avail_gpa_), virtio::avail_ring_size(size)},
              {memory.at(used_gpa_), virtio::used_ring_size(size)})) {}

    std::uint16_t size() const noexcept { return size_; }
    std::uint64_t desc_gpa() const noexcept { return desc_gpa_; }
    std::uint64_t avail_gpa() const noexcept { return avail_gpa_; }
    std::uint64_t used_gpa() const noexcept { return used_gpa_; }
    virtio::SplitVirtqView& view() noexcept { return view_; }
    std::uint16_t avail_idx() const noexcept { return avail_idx_; }

    // Writes descriptors for `buffers`, chained, from the next free slots;
    // returns the head. Does not publish.
    std::uint16_t write_chain(const std::vector<GuestBuffer>& buffers) {
        const std::uint16_t head = next_desc_;
        for (std::size_t i = 0; i < buffers.size(); ++i) {
            const std::uint16_t index = take_desc();
            const bool last = i + 1 == buffers.size();
            view_.set_desc(index, virtio::VirtqDesc{
                                      .addr = buffers[i].gpa,
                                      .len = buffers[i].len,
                                      .flags = static_cast<std::uint16_t>(
                                          (buffers[i].device_writes ? virtio::kDescFWrite : 0) |
                                          (last ? 0 : virtio::kDescFNext)),
                                      .next = last ? std::uint16_t{0} : next_desc_,
                                  });
        }
        return head;
    }

    // Writes an indirect table holding `buffers` and one descriptor
    // pointing at it; returns that descriptor (the head). Does not publish.
    std::uint16_t write_indirect(const std::vector<GuestBuffer>& buffers) {
        const std::uint64_t table =
            memory_.allocate(sizeof(virtio::VirtqDesc) * buffers.size(), 16);
        for (std::size_t i = 0; i < buffers.size(); ++i) {
            const bool last = i + 1 == buffers.size();
            const virtio::VirtqDesc d{
                .addr = buffers[i].gpa,
                .len = buffers[i].len,
                .flags = static_cast<std::uint16_t>(
                    (buffers[i].device_writes ? virtio::kDescFWrite : 0) |
                    (last ? 0 : virtio::kDescFNext)),
                .next = static_cast<std::uint16_t>(last ? 0 : i + 1),
            };
            std::memcpy(memory_.at(table + sizeof(d) * i), &d, sizeof(d));
        }
        const std::uint16_t head = take_desc();
        view_.set_desc(
            head, virtio::VirtqDesc{
                      .addr = table,
                      .len = static_cast<std::uint32_t>(sizeof(virtio::VirtqDesc) * buffers.size()),
                      .flags = virtio::kDescFIndirect,
                      .next = 0,
                  });
        return head;
    }

    // Puts `head` in the avail ring and publishes the new index.
    void publish(std::uint16_t head) {
        add_avail(head);
        publish_avail();
    }
    // Puts `head` in the avail ring without publishing it: a driver making
    // several chains available behind one index update (and one kick).
    void add_avail(std::uint16_t head) {
        view_.set_avail_ring(avail_idx_, head);
        ++avail_idx_;
    }
    void publish_avail() { view_.publish_avail_idx(avail_idx_); }
    // Publishes an arbitrary avail index (a misbehaving driver).
    void publish_raw_avail_idx(std::uint16_t idx) { view_.publish_avail_idx(idx); }
    void set_avail_slot(std::uint16_t idx, std::uint16_t head) { view_.set_avail_ring(idx, head); }

    // The next used element, if the device has published one.
    std::optional<virtio::VirtqUsedElem> take_used() {
        if (view_.used_idx() == last_used_) {
            return std::nullopt;
        }
        const virtio::VirtqUsedElem e = view_.used_elem(last_used_);
        ++last_used_;
        return e;
    }
    std::uint16_t last_used() const noexcept { return last_used_; }

  private:
    std::uint16_t take_desc() {
        const std::uint16_t index = next_desc_;
        next_desc_ = static_cast<std::uint16_t>((next_desc_ + 1) % size_);
        return index;
    }

    GuestMemory& memory_;
    std::uint16_t size_;
    std::uint64_t desc_gpa_;
    std::uint64_t avail_gpa_;
    std::uint64_t used_gpa_;
    virtio::SplitVirtqView view_;
    std::uint16_t next_desc_ = 0;
    std::uint16_t avail_idx_ = 0;
    std::uint16_t last_used_ = 0;
};

// One virtio-blk request laid out in guest memory: header, data, status.
struct BlkBuffers {
    std::uint64_t header = 0;
    std::uint64_t data = 0;
    std::uint32_t data_len = 0;
    std::uint64_t status = 0;

    std::vector<GuestBuffer> chain(bool data_device_writes) const {
        std::vector<GuestBuffer> out{{header, sizeof(virtio::VirtioBlkOutHdr), false}};
        if (data_len != 0) {
            out.push_back({data, data_len, data_device_writes});
        }
        out.push_back({status, 1, true});
        return out;
    }
};

inline BlkBuffers make_blk_request(GuestMemory& memory, virtio::BlkReqType type,
                                   std::uint64_t sector, std::uint32_t data_len) {
    BlkBuffers b;
    b.header = memory.allocate(sizeof(virtio::VirtioBlkOutHdr));
    const virtio::VirtioBlkOutHdr hdr{static_cast<std::uint32_t>(type), 0, sector};
    std::memcpy(memory.at(b.header), &hdr, sizeof(hdr));
    if (data_len != 0) {
        b.data = memory.allocate(data_len, 512);
        b.data_len = data_len;
    }
    b.status = memory.allocate(1, 1);
    *memory.at(b.status) = std::byte{0xff};  // no status yet
    return b;
}

inline std::uint8_t status_of(GuestMemory& memory, const BlkBuffers& b) {
    return static_cast<std::uint8_t>(*memory.at(b.status));
}

}  // namespace pvsim::test
