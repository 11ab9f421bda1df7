// blkif responses as blkfront reads them from a hostile backend (Linux
// xen-blkfront.c blkif_interrupt, hardened by XSA-396): blkfront puts
// requests of every operation on an in-process ring of either ABI (x86_64
// or x86_32, BlkifFrontRings), its ids from the shadow table; the backend
// writes whatever the input says into the response slots and rsp_prod.
// Each completion pass follows BlkfrontRing::take_completions: rsp_prod
// checked (check_response_prod), each response copied once, checked
// against the shadow (check_response: id in range and pending, operation
// matching) and only then released, its status mapped (response_errno).
// A failed check fails the device, which ends the run.
//
// Input: [config u8][first index u32] then rounds, each either blkfront
// queueing requests or the backend answering.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>
#include <vector>

#include "common/xen/blkif.hpp"
#include "common/xen/blkif_rings.hpp"
#include "frontend/blkfront/response_check.hpp"
#include "frontend/blkfront/shadow.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace blkfront_response_fuzz {

namespace xen = pvsim::xen;
using pvsim::frontend::blkfront::check_response;
using pvsim::frontend::blkfront::check_response_prod;
using pvsim::frontend::blkfront::response_errno;
using pvsim::frontend::blkfront::ShadowTable;
using pvsim::fuzz::FuzzInput;
using pvsim::fuzz::require;

constexpr unsigned kMaxOrder = 3;

class Frontend {
  public:
    explicit Frontend(FuzzInput& input) : input_(input) {
        const auto config = input.take<std::uint8_t>();
        const unsigned order = (config >> 1) & kMaxOrder;
        const std::size_t bytes = xen::ring_bytes_for_order(order);
        area_.assign(bytes / sizeof(std::uint64_t), 0);
        // The free-running indices may start anywhere (a ring that has
        // wrapped 2^32 since it was set up).
        const auto first = input.take<xen::RingIdx>();
        auto& shared = *reinterpret_cast<xen::SharedRing*>(area_.data());
        shared.init();
        shared.req_prod = shared.rsp_prod = first;
        if ((config & 1) != 0) {
            ring_.emplace(xen::BlkifFrontRings::X86_32(area_.data(), bytes, first));
        } else {
            ring_.emplace(xen::BlkifFrontRings::Native(area_.data(), bytes, first));
        }
        shadow_.emplace(ring_->size());
    }

    void run() {
        while (!input_.empty() && !failed_) {
            if ((input_.take<std::uint8_t>() & 1) == 0) {
                queue_requests();
            } else {
                backend_answers();
                take_completions();
            }
        }
    }

  private:
    // blkif_queue_request: any operation, an id from the shadow table.
    void queue_requests() {
        const unsigned count = input_.take<std::uint8_t>() % 8 + 1;
        for (unsigned i = 0; i < count && !ring_->full() && !shadow_->full(); ++i) {
            const auto op = static_cast<xen::BlkifOp>(input_.take<std::uint8_t>() % 7);
            const std::uint64_t id = *shadow_->take();
            xen::BlkifRequest request{};
            if (op == xen::BlkifOp::indirect) {
                xen::BlkifRequestIndirect indirect{};
                indirect.operation = op;
                indirect.indirect_op =
                    input_.take_bool() ? xen::BlkifOp::write : xen::BlkifOp::read;
                indirect.nr_segments = 1;
                indirect.id = id;
                request = xen::blkif_request_slot(indirect);
            } else {
                request.operation = op;
                request.nr_segments = op == xen::BlkifOp::discard ? 0 : 1;
                request.id = id;
            }
            shadow_->at(id).request = request;
            ring_->produce_request(request);
            ++outstanding_;
        }
        (void)ring_->push_requests_and_check_notify();
    }

    // The backend writes response slots from rsp_prod on (any bytes) and
    // then rsp_prod (a count of them, or any index).
    void backend_answers() {
        const auto how = input_.take<std::uint8_t>();
        const unsigned slots = how % 16;
        ring_->visit([&](auto& ring) {
            using Rsp = typename std::remove_reference_t<decltype(ring)>::Response;
            const xen::RingIdx prod = ring.shared().rsp_prod;
            for (unsigned i = 0; i < slots; ++i) {
                const auto bytes = input_.take_bytes(sizeof(Rsp));
                FuzzInput::copy(&ring.response_slot(prod + i), bytes);
            }
            ring.shared().rsp_prod = (how & 0x80) != 0 ? input_.take<xen::RingIdx>() : prod + slots;
        });
    }

    void take_completions() {
        const xen::RingIdx rsp_prod = ring_->rsp_prod();
        if (check_response_prod(*ring_, rsp_prod)) {
            failed_ = true;
            return;
        }
        while (ring_->rsp_cons() != rsp_prod) {
            const xen::BlkifResponse response = ring_->consume_response();
            if (check_response(response, *shadow_)) {
                failed_ = true;
                return;
            }
            (void)shadow_->release(response.id);
            const int status = response_errno(response.status);
            require(status == 0 || status == -EIO || status == -EOPNOTSUPP);
            require(outstanding_ > 0);
            --outstanding_;
        }
        require(shadow_->in_use() == outstanding_);
    }

    FuzzInput& input_;
    std::vector<std::uint64_t> area_;
    std::optional<xen::BlkifFrontRings> ring_;
    std::optional<ShadowTable> shadow_;
    std::size_t outstanding_ = 0;
    bool failed_ = false;
};

}  // namespace blkfront_response_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    pvsim::fuzz::FuzzInput input(data, size);
    blkfront_response_fuzz::Frontend frontend(input);
    frontend.run();
    return 0;
}
