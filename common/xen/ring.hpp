// Xen's shared producer/consumer rings (xen/io/ring.h, Xen 4.17), as C++
// templates with the same bytes in memory and the same decisions as the
// macros.
//
// A ring area is one to sixteen 4 KiB pages shared between two domains: a
// 64-byte header of free-running indices followed by an array of slots, each
// a union of one request and one response. The front end produces requests
// and consumes responses; the back end consumes requests and produces
// responses into the same slots.
//
// The area is mapped at different addresses in different processes, so
// nothing in it is a pointer. FrontRing and BackRing are per-process views:
// a pointer to the mapped header plus the private indices that ring.h keeps
// in `struct <name>_front_ring` / `struct <name>_back_ring`.
//
// Indices are RingIdx (32 bits) and run freely, wrapping modulo 2^32; every
// comparison is made on a difference taken in RingIdx, exactly as the macros
// do, so behaviour is the same before and after the wrap.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace pvsim::xen {

// xen/io/ring.h: RING_IDX.
using RingIdx = std::uint32_t;

// xen/io/ring.h: XEN_PAGE_SHIFT. Ring and grant pages are 4 KiB whatever the
// page size of the OS.
inline constexpr unsigned kXenPageShift = 12;
inline constexpr std::size_t kXenPageSize = std::size_t{1} << kXenPageShift;

// The fixed head of ring.h's `struct <name>_sring`; the slots (`ring[]`)
// follow it in the same area, at ring_entries_offset<Req, Rsp>().
//
// The indices are plain integers so that the struct is trivially copyable
// and has exactly the C layout; every access to them while the ring is live
// goes through std::atomic_ref (ring_index()), because the other end reads
// and writes them concurrently from another process.
struct SharedRing {
    RingIdx req_prod;   // written by the front end
    RingIdx req_event;  // written by the back end
    RingIdx rsp_prod;   // written by the back end
    RingIdx rsp_event;  // written by the front end
    // ring.h: `union pvt { netif.smartpoll_active; tapif_user.msg;
    // pvt_pad[4]; }`. Block rings do not use it; it stays zero.
    std::uint8_t pvt_pad[4];
    std::uint8_t pad[44];  // ring.h: __pad

    // SHARED_RING_INIT: both producers at 0, both event indices at 1 (so the
    // very first message on each side notifies), padding zeroed. Only the
    // front end initialises, before it grants the pages.
    void init() noexcept;
};
static_assert(sizeof(SharedRing) == 64);
static_assert(std::is_standard_layout_v<SharedRing> && std::is_trivially_copyable_v<SharedRing>);
static_assert(offsetof(SharedRing, req_prod) == 0 && offsetof(SharedRing, req_event) == 4 &&
              offsetof(SharedRing, rsp_prod) == 8 && offsetof(SharedRing, rsp_event) == 12 &&
              offsetof(SharedRing, pvt_pad) == 16 && offsetof(SharedRing, pad) == 20);
static_assert(std::atomic_ref<RingIdx>::is_always_lock_free,
              "ring indices are shared between processes: atomics must not take locks");
static_assert(std::atomic_ref<RingIdx>::required_alignment == alignof(RingIdx));

// Atomic access to one shared index.
inline std::atomic_ref<RingIdx> ring_index(RingIdx& field) noexcept {
    return std::atomic_ref<RingIdx>(field);
}

inline void SharedRing::init() noexcept {
    ring_index(req_prod).store(0, std::memory_order_relaxed);
    ring_index(rsp_prod).store(0, std::memory_order_relaxed);
    ring_index(req_event).store(1, std::memory_order_relaxed);
    ring_index(rsp_event).store(1, std::memory_order_relaxed);
    std::memset(pvt_pad, 0, sizeof pvt_pad);
    std::memset(pad, 0, sizeof pad);
}

// What may travel in a ring slot: plain bytes, copied with memcpy and read
// the same way in C.
template <class T>
concept RingMessage = std::is_trivial_v<T> && std::is_standard_layout_v<T>;

// ring.h: `union <name>_sring_entry`.
template <RingMessage Req, RingMessage Rsp>
union SringEntry {
    Req req;
    Rsp rsp;
};

// ring.h: offsetof(struct <name>_sring, ring): the header rounded up to the
// slot alignment (64 for every Xen ring, whose slots are 8-byte aligned).
template <RingMessage Req, RingMessage Rsp>
constexpr std::size_t ring_entries_offset() noexcept {
    constexpr std::size_t align = alignof(SringEntry<Req, Rsp>);
    return (sizeof(SharedRing) + align - 1) / align * align;
}

// ring.h: __RD32, the largest power of two not above x (0 for 0).
constexpr RingIdx round_down_to_power_of_two(RingIdx x) noexcept {
    return std::bit_floor(x);
}

// ring.h: __CONST_RING_SIZE / __RING_SIZE: how many slots fit in an area of
// `bytes` after the header, rounded down to a power of two so that an index
// is reduced to a slot with a mask. 0 when not even one slot fits. Counts
// above 2^31 are held at 2^31: a larger ring would make the index
// differences ambiguous.
template <RingMessage Req, RingMessage Rsp>
constexpr RingIdx ring_size_for_bytes(std::size_t bytes) noexcept {
    constexpr std::size_t offset = ring_entries_offset<Req, Rsp>();
    if (bytes < offset) {
        return 0;
    }
    std::size_t slots = (bytes - offset) / sizeof(SringEntry<Req, Rsp>);
    constexpr std::size_t kMaxSlots = std::size_t{1} << 31;
    if (slots > kMaxSlots) {
        slots = kMaxSlots;
    }
    return round_down_to_power_of_two(static_cast<RingIdx>(slots));
}

// Bytes of a ring of 2^order Xen pages (blkif.h: "ring-page-order").
constexpr std::size_t ring_bytes_for_order(unsigned order) noexcept {
    return kXenPageSize << order;
}

namespace ring_detail {

// RING_COPY_REQUEST / RING_COPY_RESPONSE: read a slot exactly once into a
// private copy (XSA-155).
//
// The slot lives in memory the other domain can rewrite at any moment. If
// the compiler were allowed to drop the local copy and read fields straight
// from the slot again later (which it may do for a plain copy when it can
// prove nothing in this thread wrote either place), a check made on one read
// ("nr_segments <= 11") and a use made on another could see different
// values: a time-of-check/time-of-use hole. ring.h forces the copy with a
// volatile read; C++ cannot copy a class through a volatile lvalue, so we
// memcpy into the local and then pass its address to an empty asm statement
// that clobbers memory. The compiler must assume that statement read the
// copy (so the memcpy really happens, in full) and may have changed both the
// copy and the shared slot (so no later use of the copy can be replaced by a
// load from the slot). Every later use reads the private snapshot.
template <RingMessage T>
T copy_once(const T& shared) noexcept {
    T copy;
    std::memcpy(&copy, &shared, sizeof copy);
    asm volatile("" : : "r"(&copy) : "memory");
    return copy;
}

// The state both ends share: where the area is mapped, and its size.
template <RingMessage Req, RingMessage Rsp>
class RingArea {
  public:
    using Entry = SringEntry<Req, Rsp>;

    RingArea(void* area, std::size_t bytes)
        : sring_(checked(area, bytes)),
          entries_(reinterpret_cast<Entry*>(reinterpret_cast<std::byte*>(area) +
                                            ring_entries_offset<Req, Rsp>())),
          size_(ring_size_for_bytes<Req, Rsp>(bytes)) {}

    // RING_SIZE
    RingIdx size() const noexcept { return size_; }
    SharedRing& shared() const noexcept { return *sring_; }

    // RING_GET_REQUEST / RING_GET_RESPONSE: the slot an index falls on.
    // These are the shared bytes themselves; to act on what the other end
    // wrote, take a copy (copy_request / copy_response).
    Req& request_slot(RingIdx idx) const noexcept { return entries_[idx & (size_ - 1)].req; }
    Rsp& response_slot(RingIdx idx) const noexcept { return entries_[idx & (size_ - 1)].rsp; }

    Req copy_request(RingIdx idx) const noexcept { return copy_once(request_slot(idx)); }
    Rsp copy_response(RingIdx idx) const noexcept { return copy_once(response_slot(idx)); }

  protected:
    // A producer index the other end wrote, read before the slots it covers:
    // the acquire is ring.h's xen_rmb() between the two reads.
    static RingIdx load_peer_index(RingIdx& field) noexcept {
        return ring_index(field).load(std::memory_order_acquire);
    }

    // RING_PUSH_*: xen_wmb() then the store of the producer index, i.e. a
    // release store, so the other end sees the slots before the index.
    static void publish(RingIdx& prod, RingIdx value) noexcept {
        ring_index(prod).store(value, std::memory_order_release);
    }

    // RING_PUSH_*_AND_CHECK_NOTIFY. The full barrier (xen_mb()) between
    // publishing our producer index and reading the other end's event index
    // pairs with the one in the other end's RING_FINAL_CHECK_*: of "we read
    // its old event" and "it read our old producer" at most one can happen,
    // so a wake-up is never lost.
    static bool publish_and_check_notify(RingIdx& prod, RingIdx& event, RingIdx value) noexcept {
        const RingIdx old = ring_index(prod).load(std::memory_order_relaxed);
        publish(prod, value);
        std::atomic_thread_fence(std::memory_order_seq_cst);  // xen_mb()
        const RingIdx ev = ring_index(event).load(std::memory_order_relaxed);
        // Notify iff the event index lies in (old, value]: the other end
        // asked to be woken at a message we just published.
        return static_cast<RingIdx>(value - ev) < static_cast<RingIdx>(value - old);
    }

    // RING_FINAL_CHECK_FOR_*: the store of the event index, then xen_mb(),
    // then the second look at the producer index (see above).
    static void arm_event(RingIdx& event, RingIdx value) noexcept {
        ring_index(event).store(value, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);  // xen_mb()
    }

  private:
    static SharedRing* checked(void* area, std::size_t bytes) {
        if (area == nullptr) {
            throw std::invalid_argument("shared ring: no ring area");
        }
        constexpr std::size_t align =
            alignof(Entry) > alignof(SharedRing) ? alignof(Entry) : alignof(SharedRing);
        if (reinterpret_cast<std::uintptr_t>(area) % align != 0) {
            throw std::invalid_argument("shared ring: ring area is not aligned for its slots");
        }
        if (ring_size_for_bytes<Req, Rsp>(bytes) == 0) {
            throw std::invalid_argument("shared ring: a ring area of " + std::to_string(bytes) +
                                        " bytes holds no slot");
        }
        return static_cast<SharedRing*>(area);
    }

    SharedRing* sring_;
    Entry* entries_;
    RingIdx size_;
};

}  // namespace ring_detail

// The front end of a ring (ring.h: `struct <name>_front_ring` and the
// FRONT_RING_* / RING_* macros used on it): queues requests, takes
// responses. Holds no pointer into the area other than where it is mapped
// here; copying one would duplicate the private indices, so it only moves.
template <RingMessage Req, RingMessage Rsp>
class FrontRing : public ring_detail::RingArea<Req, Rsp> {
    using Base = ring_detail::RingArea<Req, Rsp>;

  public:
    using Request = Req;
    using Response = Rsp;

    // FRONT_RING_ATTACH (FRONT_RING_INIT for index 0): a view of an area
    // whose header is already initialised; the shared header is not
    // touched. Throws std::invalid_argument if the area holds no slot or is
    // misaligned.
    FrontRing(void* area, std::size_t bytes, RingIdx index = 0)
        : Base(area, bytes), req_prod_pvt_(index), rsp_cons_(index) {}

    // XEN_FRONT_RING_INIT: SHARED_RING_INIT, then FRONT_RING_INIT.
    static FrontRing init_shared(void* area, std::size_t bytes) {
        FrontRing ring(area, bytes, 0);
        ring.shared().init();
        return ring;
    }

    FrontRing(const FrontRing&) = delete;
    FrontRing& operator=(const FrontRing&) = delete;
    FrontRing(FrontRing&&) noexcept = default;
    FrontRing& operator=(FrontRing&&) noexcept = default;

    // Private indices (ring.h: req_prod_pvt, rsp_cons).
    RingIdx req_prod_pvt() const noexcept { return req_prod_pvt_; }
    RingIdx rsp_cons() const noexcept { return rsp_cons_; }
    void set_req_prod_pvt(RingIdx idx) noexcept { req_prod_pvt_ = idx; }
    void set_rsp_cons(RingIdx idx) noexcept { rsp_cons_ = idx; }

    // RING_FREE_REQUESTS: slots not taken by a request still awaiting its
    // response (queued, published or being served).
    RingIdx free_requests() const noexcept {
        return this->size() - static_cast<RingIdx>(req_prod_pvt_ - rsp_cons_);
    }
    // RING_FULL
    bool full() const noexcept { return free_requests() == 0; }

    // Writes `req` into the slot at req_prod_pvt and advances it; the
    // request is not visible to the back end until push_requests*().
    // Throws std::logic_error when the ring is full: the slot may still
    // hold an unanswered request.
    void produce_request(const Req& req) {
        if (full()) {
            throw std::logic_error("front ring: request queued on a full ring");
        }
        std::memcpy(&this->request_slot(req_prod_pvt_), &req, sizeof req);
        ++req_prod_pvt_;
    }

    // RING_PUSH_REQUESTS
    void push_requests() noexcept { this->publish(this->shared().req_prod, req_prod_pvt_); }

    // RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: true if the back end must be sent
    // an event.
    bool push_requests_and_check_notify() noexcept {
        SharedRing& s = this->shared();
        return this->publish_and_check_notify(s.req_prod, s.req_event, req_prod_pvt_);
    }

    // The back end's published response index, read with the xen_rmb()
    // ordering needed before reading the slots it covers. Check it with
    // response_prod_overflow() before trusting it.
    RingIdx rsp_prod() const noexcept { return this->load_peer_index(this->shared().rsp_prod); }

    // XEN_RING_NR_UNCONSUMED_RESPONSES (RING_HAS_UNCONSUMED_RESPONSES).
    RingIdx unconsumed_responses() const noexcept {
        return static_cast<RingIdx>(rsp_prod() - rsp_cons_);
    }

    // RING_COPY_RESPONSE at rsp_cons, then advances rsp_cons. The caller
    // has seen that rsp_cons != rsp_prod().
    Rsp consume_response() noexcept { return this->copy_response(rsp_cons_++); }

    // RING_FINAL_CHECK_FOR_RESPONSES: true if responses are waiting; if
    // none are, first asks to be notified of the next one (rsp_event =
    // rsp_cons + 1) and looks again, so one published in between is not
    // slept through.
    bool final_check_for_responses() noexcept {
        if (unconsumed_responses() != 0) {
            return true;
        }
        this->arm_event(this->shared().rsp_event, rsp_cons_ + 1);
        return unconsumed_responses() != 0;
    }

    // RING_RESPONSE_PROD_OVERFLOW: a back end claiming more responses than
    // there are slots is ill-behaved, and the ring must not be served.
    bool response_prod_overflow(RingIdx prod) const noexcept {
        return static_cast<RingIdx>(prod - rsp_cons_) > this->size();
    }

  private:
    RingIdx req_prod_pvt_;
    RingIdx rsp_cons_;
};

// The back end of a ring (ring.h: `struct <name>_back_ring` and the
// BACK_RING_* / RING_* macros used on it): takes requests, queues responses.
template <RingMessage Req, RingMessage Rsp>
class BackRing : public ring_detail::RingArea<Req, Rsp> {
    using Base = ring_detail::RingArea<Req, Rsp>;

  public:
    using Request = Req;
    using Response = Rsp;

    // BACK_RING_ATTACH (BACK_RING_INIT for index 0): the back end never
    // initialises the shared header. Throws std::invalid_argument if the
    // area holds no slot or is misaligned.
    BackRing(void* area, std::size_t bytes, RingIdx index = 0)
        : Base(area, bytes), rsp_prod_pvt_(index), req_cons_(index) {}

    // Attaches to a ring that was already in use (a restarted back end, as
    // Linux blkback's xen_blkif_map does): at the published rsp_prod, after
    // checking that the front end does not claim more outstanding requests
    // than there are slots. Throws std::invalid_argument naming the indices
    // otherwise.
    static BackRing attach_live(void* area, std::size_t bytes) {
        BackRing ring(area, bytes, 0);
        SharedRing& s = ring.shared();
        const RingIdx rsp_prod = ring_index(s.rsp_prod).load(std::memory_order_relaxed);
        const RingIdx req_prod = ring.load_peer_index(s.req_prod);
        ring.rsp_prod_pvt_ = rsp_prod;
        ring.req_cons_ = rsp_prod;
        if (ring.request_prod_overflow(req_prod)) {
            throw std::invalid_argument("shared ring: req_prod " + std::to_string(req_prod) +
                                        " is more than " + std::to_string(ring.size()) +
                                        " slots ahead of rsp_prod " + std::to_string(rsp_prod));
        }
        return ring;
    }

    BackRing(const BackRing&) = delete;
    BackRing& operator=(const BackRing&) = delete;
    BackRing(BackRing&&) noexcept = default;
    BackRing& operator=(BackRing&&) noexcept = default;

    // Private indices (ring.h: rsp_prod_pvt, req_cons).
    RingIdx rsp_prod_pvt() const noexcept { return rsp_prod_pvt_; }
    RingIdx req_cons() const noexcept { return req_cons_; }
    void set_rsp_prod_pvt(RingIdx idx) noexcept { rsp_prod_pvt_ = idx; }
    void set_req_cons(RingIdx idx) noexcept { req_cons_ = idx; }

    // The front end's published request index, read with the xen_rmb()
    // ordering needed before reading the slots it covers. Check it with
    // request_prod_overflow() before trusting it.
    RingIdx req_prod() const noexcept { return this->load_peer_index(this->shared().req_prod); }

    // XEN_RING_NR_UNCONSUMED_REQUESTS (RING_HAS_UNCONSUMED_REQUESTS): the
    // published requests not yet taken, but never more than the slots free
    // of responses, so a front end that over-produces cannot make us read
    // slots holding responses we have not yet pushed.
    RingIdx unconsumed_requests() const noexcept {
        const auto req = static_cast<RingIdx>(req_prod() - req_cons_);
        const auto rsp = static_cast<RingIdx>(this->size() - (req_cons_ - rsp_prod_pvt_));
        return req < rsp ? req : rsp;
    }

    // RING_COPY_REQUEST at req_cons, then advances req_cons: the only way
    // the back end should read a request. The caller has checked
    // request_cons_overflow(req_cons()) and that req_cons() != req_prod().
    Req consume_request() noexcept { return this->copy_request(req_cons_++); }

    // Writes `rsp` into the slot at rsp_prod_pvt and advances it; invisible
    // to the front end until push_responses*(). Throws std::logic_error if
    // that would answer more requests than were taken off the ring.
    void produce_response(const Rsp& rsp) {
        if (rsp_prod_pvt_ == req_cons_) {
            throw std::logic_error("back ring: response queued with no request taken");
        }
        std::memcpy(&this->response_slot(rsp_prod_pvt_), &rsp, sizeof rsp);
        ++rsp_prod_pvt_;
    }

    // RING_PUSH_RESPONSES
    void push_responses() noexcept { this->publish(this->shared().rsp_prod, rsp_prod_pvt_); }

    // RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: true if the front end must be
    // sent an event.
    bool push_responses_and_check_notify() noexcept {
        SharedRing& s = this->shared();
        return this->publish_and_check_notify(s.rsp_prod, s.rsp_event, rsp_prod_pvt_);
    }

    // RING_FINAL_CHECK_FOR_REQUESTS: true if requests are waiting; if none
    // are, first asks to be notified of the next one (req_event = req_cons +
    // 1) and looks again.
    bool final_check_for_requests() noexcept {
        if (unconsumed_requests() != 0) {
            return true;
        }
        this->arm_event(this->shared().req_event, req_cons_ + 1);
        return unconsumed_requests() != 0;
    }

    // RING_REQUEST_CONS_OVERFLOW: taking the request at `cons` would read a
    // slot whose response is not yet pushed; stop the loop.
    bool request_cons_overflow(RingIdx cons) const noexcept {
        return static_cast<RingIdx>(cons - rsp_prod_pvt_) >= this->size();
    }

    // RING_REQUEST_PROD_OVERFLOW: a front end claiming more outstanding
    // requests than there are slots is ill-behaved, and the ring must not
    // be served.
    bool request_prod_overflow(RingIdx prod) const noexcept {
        return static_cast<RingIdx>(prod - rsp_prod_pvt_) > this->size();
    }

  private:
    RingIdx rsp_prod_pvt_;
    RingIdx req_cons_;
};

}  // namespace pvsim::xen
