#include "common/xen/blkif_x86_32.hpp"

#include <algorithm>
#include <cstring>

namespace pvsim::xen {
namespace {

// The native and the 32-bit structs of one kind name their fields alike;
// only where the fields lie differs. Each copy below goes field by field,
// either way, as blkif_get_x86_32_req does one way.

template <class To, class From>
To copy_rw(const From& in, unsigned segments) noexcept {
    To out{};
    out.operation = in.operation;
    out.nr_segments = in.nr_segments;
    out.handle = in.handle;
    out.id = in.id;
    out.sector_number = in.sector_number;
    for (unsigned i = 0; i < segments; ++i) {
        out.seg[i] = in.seg[i];
    }
    return out;
}

template <class To, class From>
To copy_discard(const From& in) noexcept {
    To out{};
    out.operation = in.operation;
    out.flag = in.flag;
    out.id = in.id;
    out.sector_number = in.sector_number;
    out.nr_sectors = in.nr_sectors;
    return out;
}

template <class To, class From>
To copy_indirect(const From& in, unsigned frames) noexcept {
    To out{};
    out.operation = in.operation;
    out.indirect_op = in.indirect_op;
    out.nr_segments = in.nr_segments;
    out.handle = in.handle;
    out.id = in.id;
    out.sector_number = in.sector_number;
    for (unsigned i = 0; i < frames; ++i) {
        out.indirect_grefs[i] = in.indirect_grefs[i];
    }
    return out;
}

template <class To, class From>
To copy_response(const From& in) noexcept {
    To out{};
    out.id = in.id;
    out.operation = in.operation;
    out.status = in.status;
    return out;
}

// A request slot read as another of its layouts (`To` no larger), as C
// reads a member of the union, and a layout put in a zeroed slot.
template <class To, class From>
To read_as(const From& slot) noexcept {
    static_assert(sizeof(To) <= sizeof(From));
    To out;
    std::memcpy(&out, &slot, sizeof out);
    return out;
}
template <class Slot, class From>
Slot slot_of(const From& layout) noexcept {
    static_assert(sizeof(From) <= sizeof(Slot));
    Slot out{};
    std::memcpy(&out, &layout, sizeof layout);
    return out;
}

}  // namespace

BlkifRequest blkif_get_x86_32_req(const BlkifX86_32Request& src) noexcept {
    switch (src.operation) {
        case BlkifOp::read:
        case BlkifOp::write:
        case BlkifOp::write_barrier:
        case BlkifOp::flush_diskcache:
            return copy_rw<BlkifRequest>(
                src, std::min<unsigned>(src.nr_segments, kBlkifMaxSegmentsPerRequest));
        case BlkifOp::discard:
            return slot_of<BlkifRequest>(
                copy_discard<BlkifRequestDiscard>(read_as<BlkifX86_32RequestDiscard>(src)));
        case BlkifOp::indirect: {
            const auto in = read_as<BlkifX86_32RequestIndirect>(src);
            const unsigned frames =
                std::min(kBlkifMaxIndirectPagesPerRequest, blkif_indirect_frames(in.nr_segments));
            return slot_of<BlkifRequest>(copy_indirect<BlkifRequestIndirect>(in, frames));
        }
        default: {
            // "Don't know how to translate this op. Only get the ID so
            // failure can be reported to the frontend."
            BlkifRequest dst{};
            dst.operation = src.operation;
            dst.id = read_as<BlkifX86_32RequestOther>(src).id;
            return dst;
        }
    }
}

BlkifX86_32Request blkif_put_x86_32_req(const BlkifRequest& src) noexcept {
    switch (src.operation) {
        case BlkifOp::discard:
            return slot_of<BlkifX86_32Request>(copy_discard<BlkifX86_32RequestDiscard>(
                blkif_request_as<BlkifRequestDiscard>(src)));
        case BlkifOp::indirect:
            return slot_of<BlkifX86_32Request>(copy_indirect<BlkifX86_32RequestIndirect>(
                blkif_request_as<BlkifRequestIndirect>(src), kBlkifMaxIndirectPagesPerRequest));
        default:
            // u.rw, which also carries any other operation's id where
            // u.other.id lies.
            return copy_rw<BlkifX86_32Request>(src, kBlkifMaxSegmentsPerRequest);
    }
}

BlkifX86_32Response blkif_x86_32_response(const BlkifResponse& rsp) noexcept {
    return copy_response<BlkifX86_32Response>(rsp);
}

BlkifResponse blkif_native_response(const BlkifX86_32Response& rsp) noexcept {
    return copy_response<BlkifResponse>(rsp);
}

}  // namespace pvsim::xen
