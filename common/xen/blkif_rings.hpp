// One end of a block ring in whichever layout the frontend's "protocol"
// chose (Linux xen-blkback/common.h: union blkif_back_rings, and the
// switch (blkif->blk_protocol) of blkback.c __do_block_io_op and
// make_response): the ring engine (ring.hpp) over the native entries or
// over the 32-bit ones (blkif_x86_32.hpp), with the requests and responses
// the rest of the driver sees always native.
//
//   BlkifBackRings   blkback: consume_request() takes the slot once
//                    (RING_COPY_REQUEST, XSA-155) and, on a 32-bit ring,
//                    translates that private copy (blkif_get_x86_32_req);
//                    produce_response() writes the layout of the ring.
//   BlkifFrontRings  blkfront: produce_request() writes the layout of the
//                    ring; consume_response() reads it back as native.
//
// The index arithmetic, notifications and overflow checks are the engine's
// own, the same for both layouts; only the slot size differs. Every member
// of the other end's ring type is left uninstantiated.
#pragma once

#include <utility>
#include <variant>

#include "common/xen/blkif.hpp"
#include "common/xen/blkif_x86_32.hpp"
#include "common/xen/ring.hpp"

namespace pvsim::xen {
namespace blkif_rings_detail {

inline BlkifRequest to_native(const BlkifRequest& req) noexcept {
    return req;
}
inline BlkifRequest to_native(const BlkifX86_32Request& req) noexcept {
    return blkif_get_x86_32_req(req);
}
inline BlkifResponse to_native(const BlkifResponse& rsp) noexcept {
    return rsp;
}
inline BlkifResponse to_native(const BlkifX86_32Response& rsp) noexcept {
    return blkif_native_response(rsp);
}

// The native message in the layout `T` of a ring.
template <class T>
T to_layout(const BlkifRequest& req) noexcept {
    if constexpr (std::is_same_v<T, BlkifX86_32Request>) {
        return blkif_put_x86_32_req(req);
    } else {
        return req;
    }
}
template <class T>
T to_layout(const BlkifResponse& rsp) noexcept {
    if constexpr (std::is_same_v<T, BlkifX86_32Response>) {
        return blkif_x86_32_response(rsp);
    } else {
        return rsp;
    }
}

}  // namespace blkif_rings_detail

// End is FrontRing or BackRing, whose parameters are RingMessages; the
// template template parameter is unconstrained because clang 14 crashes on
// a constrained one.
template <template <class, class> class End>
class BlkifRings {
  public:
    using Native = End<BlkifRequest, BlkifResponse>;
    using X86_32 = End<BlkifX86_32Request, BlkifX86_32Response>;

    BlkifRings(Native ring) : ring_(std::move(ring)) {}
    BlkifRings(X86_32 ring) : ring_(std::move(ring)) {}

    BlkifProtocol protocol() const noexcept {
        return std::holds_alternative<X86_32>(ring_) ? BlkifProtocol::x86_32
                                                     : BlkifProtocol::x86_64;
    }
    // The ring of this layout, for what needs the engine itself.
    template <class F>
    decltype(auto) visit(F&& f) {
        return std::visit(std::forward<F>(f), ring_);
    }
    template <class F>
    decltype(auto) visit(F&& f) const {
        return std::visit(std::forward<F>(f), ring_);
    }

    RingIdx size() const noexcept {
        return visit([](const auto& r) { return r.size(); });
    }
    SharedRing& shared() const noexcept {
        return visit([](const auto& r) -> SharedRing& { return r.shared(); });
    }

    // The back end (BackRing).
    RingIdx req_prod() const noexcept {
        return visit([](const auto& r) { return r.req_prod(); });
    }
    RingIdx req_cons() const noexcept {
        return visit([](const auto& r) { return r.req_cons(); });
    }
    RingIdx rsp_prod_pvt() const noexcept {
        return visit([](const auto& r) { return r.rsp_prod_pvt(); });
    }
    void set_req_cons(RingIdx idx) noexcept {
        visit([idx](auto& r) { r.set_req_cons(idx); });
    }
    RingIdx unconsumed_requests() const noexcept {
        return visit([](const auto& r) { return r.unconsumed_requests(); });
    }
    bool request_cons_overflow(RingIdx cons) const noexcept {
        return visit([cons](const auto& r) { return r.request_cons_overflow(cons); });
    }
    bool request_prod_overflow(RingIdx prod) const noexcept {
        return visit([prod](const auto& r) { return r.request_prod_overflow(prod); });
    }
    bool final_check_for_requests() noexcept {
        return visit([](auto& r) { return r.final_check_for_requests(); });
    }
    bool push_responses_and_check_notify() noexcept {
        return visit([](auto& r) { return r.push_responses_and_check_notify(); });
    }
    // RING_COPY_REQUEST, then blkif_get_x86_32_req on a 32-bit ring.
    BlkifRequest consume_request() noexcept {
        return visit([](auto& r) { return blkif_rings_detail::to_native(r.consume_request()); });
    }
    void produce_response(const BlkifResponse& rsp) {
        visit([&rsp](auto& r) {
            using Rsp = typename std::remove_reference_t<decltype(r)>::Response;
            r.produce_response(blkif_rings_detail::to_layout<Rsp>(rsp));
        });
    }

    // The front end (FrontRing).
    RingIdx req_prod_pvt() const noexcept {
        return visit([](const auto& r) { return r.req_prod_pvt(); });
    }
    RingIdx rsp_cons() const noexcept {
        return visit([](const auto& r) { return r.rsp_cons(); });
    }
    bool full() const noexcept {
        return visit([](const auto& r) { return r.full(); });
    }
    RingIdx rsp_prod() const noexcept {
        return visit([](const auto& r) { return r.rsp_prod(); });
    }
    RingIdx unconsumed_responses() const noexcept {
        return visit([](const auto& r) { return r.unconsumed_responses(); });
    }
    bool response_prod_overflow(RingIdx prod) const noexcept {
        return visit([prod](const auto& r) { return r.response_prod_overflow(prod); });
    }
    bool final_check_for_responses() noexcept {
        return visit([](auto& r) { return r.final_check_for_responses(); });
    }
    bool push_requests_and_check_notify() noexcept {
        return visit([](auto& r) { return r.push_requests_and_check_notify(); });
    }
    void produce_request(const BlkifRequest& req) {
        visit([&req](auto& r) {
            using Req = typename std::remove_reference_t<decltype(r)>::Request;
            r.produce_request(blkif_rings_detail::to_layout<Req>(req));
        });
    }
    BlkifResponse consume_response() noexcept {
        return visit([](auto& r) { return blkif_rings_detail::to_native(r.consume_response()); });
    }

  private:
    std::variant<Native, X86_32> ring_;
};

// union blkif_back_rings, and blkfront's ring in its guest's layout.
using BlkifBackRings = BlkifRings<BackRing>;
using BlkifFrontRings = BlkifRings<FrontRing>;

}  // namespace pvsim::xen
