#include "common/xen/xs_ring.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

namespace pvsim::xen::xs {
namespace {

static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free,
              "ring indices are shared between processes: atomics must not take locks");

// One of the page's two rings, with the names of its indices.
struct Ring {
    char* bytes;
    std::uint32_t& cons;
    std::uint32_t& prod;
    const char* name;
};

Ring output_ring(DomainInterface& intf, RingSide side) {
    if (side == RingSide::guest) {
        return {intf.req, intf.req_cons, intf.req_prod, "req"};
    }
    return {intf.rsp, intf.rsp_cons, intf.rsp_prod, "rsp"};
}

Ring input_ring(DomainInterface& intf, RingSide side) {
    return output_ring(intf, side == RingSide::guest ? RingSide::server : RingSide::guest);
}

std::atomic_ref<std::uint32_t> shared_index(std::uint32_t& field) {
    return std::atomic_ref<std::uint32_t>(field);
}

void check(const Ring& ring, std::uint32_t cons, std::uint32_t prod) {
    if (!indexes_valid(cons, prod)) {
        throw RingIndexError(ring.name, cons, prod);
    }
}

// Bytes [from, from + out.size()) of the ring, in at most two pieces when
// they wrap past the end.
void copy_out(const char* ring, std::uint32_t from, std::span<char> out) {
    const std::size_t start = mask_index(from);
    const std::size_t first = std::min(out.size(), kRingSize - start);
    std::memcpy(out.data(), ring + start, first);
    std::memcpy(out.data() + first, ring, out.size() - first);
}

void copy_in(char* ring, std::uint32_t to, std::span<const char> in) {
    const std::size_t start = mask_index(to);
    const std::size_t first = std::min(in.size(), kRingSize - start);
    std::memcpy(ring + start, in.data(), first);
    std::memcpy(ring, in.data() + first, in.size() - first);
}

}  // namespace

RingIndexError::RingIndexError(std::string_view ring, std::uint32_t cons, std::uint32_t prod)
    : std::runtime_error("xenstore " + std::string(ring) + " ring: broken indexes (" +
                         std::string(ring) + "_cons " + std::to_string(cons) + ", " +
                         std::string(ring) + "_prod " + std::to_string(prod) + ", at most " +
                         std::to_string(kRingSize) + " apart)"),
      cons_(cons),
      prod_(prod) {}

RingTransfer write_some(DomainInterface& intf, RingSide side, std::span<const char> data) {
    const Ring ring = output_ring(intf, side);
    // "Must write data /after/ reading the consumer index" (xb_write): the
    // acquire keeps the copy below from overtaking this load.
    const std::uint32_t cons = shared_index(ring.cons).load(std::memory_order_acquire);
    const std::uint32_t prod = shared_index(ring.prod).load(std::memory_order_relaxed);
    check(ring, cons, prod);
    const std::size_t count = std::min<std::size_t>(data.size(), kRingSize - (prod - cons));
    if (count == 0) {
        return {};
    }
    copy_in(ring.bytes, prod, data.first(count));
    // "Other side must not see new producer until data is there": release.
    // Sequentially consistent, so that it is also ordered before the load of
    // the consumer index below (the full barrier xb_write relies on).
    shared_index(ring.prod).store(prod + static_cast<std::uint32_t>(count),
                                  std::memory_order_seq_cst);
    const std::uint32_t cons_now = shared_index(ring.cons).load(std::memory_order_seq_cst);
    // xb_write's `prod <= intf->req_cons`, taken modulo 2^32: the consumer
    // has reached the old producer index, so it may be asleep on an empty
    // ring and must be told.
    const std::uint32_t new_prod = prod + static_cast<std::uint32_t>(count);
    return {count, new_prod - cons_now <= count};
}

RingTransfer read_some(DomainInterface& intf, RingSide side, std::span<char> buffer) {
    const Ring ring = input_ring(intf, side);
    // "Must read data /after/ reading the producer index" (xb_read).
    const std::uint32_t prod = shared_index(ring.prod).load(std::memory_order_acquire);
    const std::uint32_t cons = shared_index(ring.cons).load(std::memory_order_relaxed);
    check(ring, cons, prod);
    const std::size_t count = std::min<std::size_t>(buffer.size(), prod - cons);
    if (count == 0) {
        return {};
    }
    copy_out(ring.bytes, cons, buffer.first(count));
    // "Other side must not see free space until we've copied out": release;
    // sequentially consistent for the full barrier before re-reading the
    // producer index, without which a producer that just filled the ring
    // and went to sleep could be missed.
    shared_index(ring.cons).store(cons + static_cast<std::uint32_t>(count),
                                  std::memory_order_seq_cst);
    const std::uint32_t prod_now = shared_index(ring.prod).load(std::memory_order_seq_cst);
    // xb_read: `intf->rsp_prod - cons >= XENSTORE_RING_SIZE`, the ring was
    // full before this read.
    return {count, prod_now - cons >= kRingSize};
}

std::size_t writable(DomainInterface& intf, RingSide side) {
    const Ring ring = output_ring(intf, side);
    const std::uint32_t cons = shared_index(ring.cons).load(std::memory_order_seq_cst);
    const std::uint32_t prod = shared_index(ring.prod).load(std::memory_order_seq_cst);
    check(ring, cons, prod);
    return kRingSize - (prod - cons);
}

std::size_t readable(DomainInterface& intf, RingSide side) {
    const Ring ring = input_ring(intf, side);
    const std::uint32_t prod = shared_index(ring.prod).load(std::memory_order_seq_cst);
    const std::uint32_t cons = shared_index(ring.cons).load(std::memory_order_seq_cst);
    check(ring, cons, prod);
    return prod - cons;
}

}  // namespace pvsim::xen::xs
