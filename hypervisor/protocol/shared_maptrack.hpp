// One connection's maptrack (xen/common/grant_table.c: struct
// grant_mapping, what Linux gntdev keeps per open file) in a shared-memory
// object the hypervisor makes at the connection's first grant-tables call
// and maps as well: the mapping process writes it as it maps and unmaps
// grants in its own process (DESIGN.md §3, "Where a grant map runs"), and
// the hypervisor reads it to release what a connection that ends still
// holds, and to count pins again after a mapper died mid-change.
//
// Only the connection's process writes a slot while it lives, and only
// under the granter's ActiveGrants lock, so the hypervisor, holding that
// lock, reads every slot naming that granter as it stands. A slot's key is
// one 64-bit word, so a slot of another granter changing meanwhile is never
// read torn. Handles are the slots' indexes, chosen by the process.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "common/xen/grant_table.hpp"

namespace pvsim::hypervisor::wire {

struct MaptrackSlot {
    std::uint64_t key;    // MaptrackKey::pack, 0 for a free slot
    std::uint64_t frame;  // the granted frame, for map_area
};
static_assert(sizeof(MaptrackSlot) == 16);  // as Xen's struct grant_mapping

struct MaptrackKey {
    xen::DomId granter = 0;
    xen::GrantRef ref = 0;
    bool readonly = false;

    std::uint64_t pack() const noexcept {
        return 1u | (readonly ? 2u : 0u) | (std::uint64_t{granter} << 16) |
               (std::uint64_t{ref} << 32);
    }
    // nullopt for a free slot.
    static std::optional<MaptrackKey> unpack(std::uint64_t key) noexcept {
        if ((key & 1u) == 0) {
            return std::nullopt;
        }
        return MaptrackKey{static_cast<xen::DomId>(key >> 16),
                           static_cast<xen::GrantRef>(key >> 32), (key & 2u) != 0};
    }
};

struct SharedMaptrackHeader {
    std::uint32_t magic;
    std::uint32_t capacity;  // slots
    // Written by the hypervisor: the domain the connection is, the domid its
    // process pins with (Xen takes it from the calling vCPU).
    std::uint32_t domid;
    // The granter's domid + 1 while the process changes that granter's
    // entries (from before it takes the lock to after it lets it go), 0
    // otherwise: if the process dies, the hypervisor counts that granter's
    // pins again even when no slot names it.
    std::uint32_t busy_granter;
    // One past the highest slot the process ever used: the hypervisor reads
    // no further, so an unused object stays unread (and unallocated).
    std::uint32_t high_water;
    std::uint32_t reserved;
    // Counted by the process, read by the hypervisor for its counters.
    std::uint64_t grant_maps;
    std::uint64_t grant_unmaps;
};

inline constexpr std::uint32_t kSharedMaptrackMagic = 0x70764d54;  // "pvMT"

// A view of the object; it owns nothing.
class SharedMaptrack {
  public:
    static std::size_t bytes_for(std::uint32_t capacity) noexcept {
        return sizeof(SharedMaptrackHeader) + std::size_t{capacity} * sizeof(MaptrackSlot);
    }
    // The hypervisor, once, on a zero-filled object of bytes_for(capacity).
    static void initialise(std::span<std::byte> object, std::uint32_t capacity, xen::DomId domid);
    // A mapped object; throws std::runtime_error if it is not one.
    explicit SharedMaptrack(std::span<std::byte> object);

    std::uint32_t capacity() const noexcept { return header_->capacity; }
    xen::DomId domid() const noexcept { return static_cast<xen::DomId>(header_->domid); }
    std::atomic_ref<std::uint32_t> busy_granter() const noexcept {
        return std::atomic_ref<std::uint32_t>(header_->busy_granter);
    }
    std::optional<MaptrackKey> key(xen::GrantHandle handle) const noexcept {
        return MaptrackKey::unpack(key_word(handle).load(std::memory_order_acquire));
    }
    std::uint64_t frame(xen::GrantHandle handle) const noexcept { return slots_[handle].frame; }
    // The process's side: a slot filled after the pin, cleared before the
    // unpin (both under the granter's lock).
    void fill(xen::GrantHandle handle, const MaptrackKey& key, std::uint64_t frame) const noexcept {
        slots_[handle].frame = frame;
        key_word(handle).store(key.pack(), std::memory_order_release);
    }
    void clear(xen::GrantHandle handle) const noexcept {
        key_word(handle).store(0, std::memory_order_release);
    }

    std::atomic_ref<std::uint32_t> high_water() const noexcept {
        return std::atomic_ref<std::uint32_t>(header_->high_water);
    }
    std::atomic_ref<std::uint64_t> grant_maps() const noexcept {
        return std::atomic_ref<std::uint64_t>(header_->grant_maps);
    }
    std::atomic_ref<std::uint64_t> grant_unmaps() const noexcept {
        return std::atomic_ref<std::uint64_t>(header_->grant_unmaps);
    }

  private:
    std::atomic_ref<std::uint64_t> key_word(xen::GrantHandle handle) const noexcept {
        return std::atomic_ref<std::uint64_t>(slots_[handle].key);
    }

    SharedMaptrackHeader* header_;
    MaptrackSlot* slots_;
};

}  // namespace pvsim::hypervisor::wire
