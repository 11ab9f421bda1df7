#include "backend/vhost_user_blk/desc_chain.hpp"

#include <cstring>

#include <fmt/format.h>

namespace pvsim::backend::vhost_user_blk {
namespace {

using virtio::VirtqDesc;

struct Walk {
    const MemoryTable& memory;
    const ChainLimits& limits;
    DescChain& out;
    std::uint32_t descriptors = 0;

    // One data descriptor (not indirect): checked and appended.
    std::string add(const VirtqDesc& d, const char* where, std::uint32_t index) {
        if (++descriptors > limits.max_descriptors) {
            return fmt::format("the chain has more than {} descriptors", limits.max_descriptors);
        }
        if (d.len == 0) {
            return {};
        }
        const bool writable = (d.flags & virtio::kDescFWrite) != 0;
        if (!writable && out.writable_bytes != 0) {
            return fmt::format(
                "{} descriptor {} is device-readable but follows a device-writable "
                "one",
                where, index);
        }
        const std::uint64_t total = out.readable_bytes + out.writable_bytes + d.len;
        if (total > limits.max_bytes) {
            return fmt::format("the chain describes more than {} bytes", limits.max_bytes);
        }
        std::byte* data = memory.translate_guest(d.addr, d.len);
        if (data == nullptr) {
            return fmt::format("{} descriptor {}: buffer 0x{:x} + {} is outside the memory table",
                               where, index, d.addr, d.len);
        }
        out.buffers.push_back(ChainBuffer{data, d.len, writable});
        (writable ? out.writable_bytes : out.readable_bytes) += d.len;
        return {};
    }

    // The indirect table `d` points at, walked from its entry 0.
    std::string add_indirect(const VirtqDesc& d, std::uint32_t index) {
        if (!limits.indirect) {
            return fmt::format(
                "descriptor {} is indirect but VIRTIO_F_INDIRECT_DESC was not "
                "negotiated",
                index);
        }
        if ((d.flags & virtio::kDescFNext) != 0) {
            return fmt::format(
                "descriptor {} sets both VIRTQ_DESC_F_INDIRECT and "
                "VIRTQ_DESC_F_NEXT",
                index);
        }
        if (d.len == 0 || d.len % sizeof(VirtqDesc) != 0) {
            return fmt::format(
                "descriptor {}: an indirect table of {} bytes (not a positive "
                "multiple of {})",
                index, d.len, sizeof(VirtqDesc));
        }
        const std::uint32_t count = d.len / sizeof(VirtqDesc);
        if (count > limits.max_descriptors) {
            return fmt::format("descriptor {}: an indirect table of {} entries, more than {}",
                               index, count, limits.max_descriptors);
        }
        const std::byte* table = memory.translate_guest(d.addr, d.len);
        if (table == nullptr) {
            return fmt::format(
                "descriptor {}: indirect table 0x{:x} + {} is outside the memory "
                "table",
                index, d.addr, d.len);
        }
        out.indirect = true;
        std::uint32_t i = 0;
        for (std::uint32_t visited = 0;; ++visited) {
            if (visited >= count) {
                return fmt::format("loop in the indirect table of descriptor {}", index);
            }
            VirtqDesc entry;
            std::memcpy(&entry, table + sizeof(VirtqDesc) * i, sizeof(VirtqDesc));
            if ((entry.flags & virtio::kDescFIndirect) != 0) {
                return fmt::format("indirect entry {} of descriptor {} is itself indirect", i,
                                   index);
            }
            if (std::string why = add(entry, "indirect", i); !why.empty()) {
                return why;
            }
            if ((entry.flags & virtio::kDescFNext) == 0) {
                return {};
            }
            if (entry.next >= count) {
                return fmt::format("indirect entry {} chains to {}, outside its table of {}", i,
                                   entry.next, count);
            }
            i = entry.next;
        }
    }
};

}  // namespace

std::string walk_chain(const virtio::SplitVirtqView& queue, const MemoryTable& memory,
                       std::uint16_t head, const ChainLimits& limits, DescChain& out) {
    out.clear();
    out.head = head;
    Walk walk{memory, limits, out};
    const std::uint32_t size = queue.size();
    std::uint16_t i = head;
    for (std::uint32_t visited = 0;; ++visited) {
        if (visited >= size) {
            return fmt::format("loop in the descriptor chain from head {}", head);
        }
        const VirtqDesc d = queue.desc(i);
        if ((d.flags & virtio::kDescFIndirect) != 0) {
            // No NEXT is allowed with it, so the chain ends here.
            return walk.add_indirect(d, i);
        }
        if (std::string why = walk.add(d, "direct", i); !why.empty()) {
            return why;
        }
        if ((d.flags & virtio::kDescFNext) == 0) {
            return {};
        }
        if (d.next >= size) {
            return fmt::format("descriptor {} chains to {}, out of range for a queue of {}", i,
                               d.next, size);
        }
        i = d.next;
    }
}

}  // namespace pvsim::backend::vhost_user_blk
