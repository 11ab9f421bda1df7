#include "hypervisor/protocol/hypercall.hpp"

namespace pvsim::hypervisor::wire {

const char* op_name(Op op) noexcept {
    switch (op) {
        case Op::welcome:
            return "welcome";
        case Op::domain_info:
            return "domain_info";
        case Op::grant_map:
            return "grant_map";
        case Op::grant_unmap:
            return "grant_unmap";
        case Op::grant_copy:
            return "grant_copy";
        case Op::grant_tables:
            return "grant_tables";
        case Op::foreign_map:
            return "foreign_map";
        case Op::evtchn_alloc_unbound:
            return "evtchn_alloc_unbound";
        case Op::evtchn_bind_interdomain:
            return "evtchn_bind_interdomain";
        case Op::evtchn_send:
            return "evtchn_send";
        case Op::evtchn_close:
            return "evtchn_close";
        case Op::evtchn_unmask:
            return "evtchn_unmask";
        case Op::evtchn_status:
            return "evtchn_status";
        case Op::evtchn_bind_virq:
            return "evtchn_bind_virq";
    }
    return "unknown";
}

}  // namespace pvsim::hypervisor::wire
