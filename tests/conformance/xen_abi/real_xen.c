/*
 * The real thing: Xen's public headers as Debian ships them, compiled as C,
 * without any of pvsim's own ABI code. The conformance tests hold pvsim's ABI
 * against what this file reports and against rings driven by these macros.
 */

/* The current interface, as a guest built today would ask for it. */
#define __XEN_INTERFACE_VERSION__ 0x00040e00

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * ring.h leaves the barriers to the includer at this interface version.
 * These are what x86 guests use: a locked operation for the full barrier,
 * compiler barriers for the read and write barriers (x86 keeps loads and
 * stores in order among themselves).
 */
#define xen_mb() __sync_synchronize()
#define xen_rmb() __asm__ __volatile__("" ::: "memory")
#define xen_wmb() __asm__ __volatile__("" ::: "memory")

#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/io/blkif.h>
#include <xen/io/protocols.h>
#include <xen/io/ring.h>
#include <xen/xen.h>

#include "real_xen.h"

#define TYPE_ROW(name, type) \
    { name, "", sizeof(type), 0 }
#define FIELD_ROW(name, type, field) \
    { name, #field, sizeof(((type*)0)->field), offsetof(type, field) }

static const struct real_xen_layout layouts[] = {
    TYPE_ROW("RING_IDX", RING_IDX),
    TYPE_ROW("grant_ref_t", grant_ref_t),
    TYPE_ROW("grant_handle_t", grant_handle_t),
    TYPE_ROW("domid_t", domid_t),
    TYPE_ROW("evtchn_port_t", evtchn_port_t),
    TYPE_ROW("blkif_vdev_t", blkif_vdev_t),
    TYPE_ROW("blkif_sector_t", blkif_sector_t),

    FIELD_ROW("blkif_sring", struct blkif_sring, req_prod),
    FIELD_ROW("blkif_sring", struct blkif_sring, req_event),
    FIELD_ROW("blkif_sring", struct blkif_sring, rsp_prod),
    FIELD_ROW("blkif_sring", struct blkif_sring, rsp_event),
    FIELD_ROW("blkif_sring", struct blkif_sring, pvt),
    FIELD_ROW("blkif_sring", struct blkif_sring, __pad),
    FIELD_ROW("blkif_sring", struct blkif_sring, ring[0]),

    TYPE_ROW("blkif_sring_entry", union blkif_sring_entry),
    FIELD_ROW("blkif_sring_entry", union blkif_sring_entry, req),
    FIELD_ROW("blkif_sring_entry", union blkif_sring_entry, rsp),

    TYPE_ROW("blkif_request_segment", struct blkif_request_segment),
    FIELD_ROW("blkif_request_segment", struct blkif_request_segment, gref),
    FIELD_ROW("blkif_request_segment", struct blkif_request_segment, first_sect),
    FIELD_ROW("blkif_request_segment", struct blkif_request_segment, last_sect),

    TYPE_ROW("blkif_request", struct blkif_request),
    FIELD_ROW("blkif_request", struct blkif_request, operation),
    FIELD_ROW("blkif_request", struct blkif_request, nr_segments),
    FIELD_ROW("blkif_request", struct blkif_request, handle),
    FIELD_ROW("blkif_request", struct blkif_request, id),
    FIELD_ROW("blkif_request", struct blkif_request, sector_number),
    FIELD_ROW("blkif_request", struct blkif_request, seg),
    FIELD_ROW("blkif_request", struct blkif_request, seg[1]),

    TYPE_ROW("blkif_request_discard", struct blkif_request_discard),
    FIELD_ROW("blkif_request_discard", struct blkif_request_discard, operation),
    FIELD_ROW("blkif_request_discard", struct blkif_request_discard, flag),
    FIELD_ROW("blkif_request_discard", struct blkif_request_discard, handle),
    FIELD_ROW("blkif_request_discard", struct blkif_request_discard, id),
    FIELD_ROW("blkif_request_discard", struct blkif_request_discard, sector_number),
    FIELD_ROW("blkif_request_discard", struct blkif_request_discard, nr_sectors),

    TYPE_ROW("blkif_request_indirect", struct blkif_request_indirect),
    FIELD_ROW("blkif_request_indirect", struct blkif_request_indirect, operation),
    FIELD_ROW("blkif_request_indirect", struct blkif_request_indirect, indirect_op),
    FIELD_ROW("blkif_request_indirect", struct blkif_request_indirect, nr_segments),
    FIELD_ROW("blkif_request_indirect", struct blkif_request_indirect, id),
    FIELD_ROW("blkif_request_indirect", struct blkif_request_indirect, sector_number),
    FIELD_ROW("blkif_request_indirect", struct blkif_request_indirect, handle),
    FIELD_ROW("blkif_request_indirect", struct blkif_request_indirect, indirect_grefs),

    TYPE_ROW("blkif_response", struct blkif_response),
    FIELD_ROW("blkif_response", struct blkif_response, id),
    FIELD_ROW("blkif_response", struct blkif_response, operation),
    FIELD_ROW("blkif_response", struct blkif_response, status),

    TYPE_ROW("grant_entry_v1", struct grant_entry_v1),
    FIELD_ROW("grant_entry_v1", struct grant_entry_v1, flags),
    FIELD_ROW("grant_entry_v1", struct grant_entry_v1, domid),
    FIELD_ROW("grant_entry_v1", struct grant_entry_v1, frame),

    /* The argument structs pvsim's hypercall wire carries as they are. */
    TYPE_ROW("gnttab_map_grant_ref", struct gnttab_map_grant_ref),
    FIELD_ROW("gnttab_map_grant_ref", struct gnttab_map_grant_ref, host_addr),
    FIELD_ROW("gnttab_map_grant_ref", struct gnttab_map_grant_ref, flags),
    FIELD_ROW("gnttab_map_grant_ref", struct gnttab_map_grant_ref, ref),
    FIELD_ROW("gnttab_map_grant_ref", struct gnttab_map_grant_ref, dom),
    FIELD_ROW("gnttab_map_grant_ref", struct gnttab_map_grant_ref, status),
    FIELD_ROW("gnttab_map_grant_ref", struct gnttab_map_grant_ref, handle),
    FIELD_ROW("gnttab_map_grant_ref", struct gnttab_map_grant_ref, dev_bus_addr),
    TYPE_ROW("gnttab_unmap_grant_ref", struct gnttab_unmap_grant_ref),
    FIELD_ROW("gnttab_unmap_grant_ref", struct gnttab_unmap_grant_ref, host_addr),
    FIELD_ROW("gnttab_unmap_grant_ref", struct gnttab_unmap_grant_ref, dev_bus_addr),
    FIELD_ROW("gnttab_unmap_grant_ref", struct gnttab_unmap_grant_ref, handle),
    FIELD_ROW("gnttab_unmap_grant_ref", struct gnttab_unmap_grant_ref, status),
    TYPE_ROW("gnttab_copy", struct gnttab_copy),
    FIELD_ROW("gnttab_copy", struct gnttab_copy, source.u),
    FIELD_ROW("gnttab_copy", struct gnttab_copy, source.domid),
    FIELD_ROW("gnttab_copy", struct gnttab_copy, source.offset),
    FIELD_ROW("gnttab_copy", struct gnttab_copy, dest.u),
    FIELD_ROW("gnttab_copy", struct gnttab_copy, dest.domid),
    FIELD_ROW("gnttab_copy", struct gnttab_copy, dest.offset),
    FIELD_ROW("gnttab_copy", struct gnttab_copy, len),
    FIELD_ROW("gnttab_copy", struct gnttab_copy, flags),
    FIELD_ROW("gnttab_copy", struct gnttab_copy, status),
    /* Where a guest finds its event channel bits. */
    FIELD_ROW("shared_info", struct shared_info, evtchn_pending),
    FIELD_ROW("shared_info", struct shared_info, evtchn_mask),
};

size_t real_xen_layouts(const struct real_xen_layout** table) {
    *table = layouts;
    return sizeof layouts / sizeof layouts[0];
}

#define CONSTANT(name) \
    { #name, (long long)(name) }

static const struct real_xen_constant constants[] = {
    CONSTANT(XEN_PAGE_SHIFT),

    CONSTANT(BLKIF_OP_READ),
    CONSTANT(BLKIF_OP_WRITE),
    CONSTANT(BLKIF_OP_WRITE_BARRIER),
    CONSTANT(BLKIF_OP_FLUSH_DISKCACHE),
    CONSTANT(BLKIF_OP_RESERVED_1),
    CONSTANT(BLKIF_OP_DISCARD),
    CONSTANT(BLKIF_OP_INDIRECT),
    CONSTANT(BLKIF_MAX_SEGMENTS_PER_REQUEST),
    CONSTANT(BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST),
    CONSTANT(BLKIF_DISCARD_SECURE),
    CONSTANT(BLKIF_RSP_EOPNOTSUPP),
    CONSTANT(BLKIF_RSP_ERROR),
    CONSTANT(BLKIF_RSP_OKAY),
    CONSTANT(VDISK_CDROM),
    CONSTANT(VDISK_REMOVABLE),
    CONSTANT(VDISK_READONLY),
    /* The header's formula for segments per indirect frame. */
    {"segments per indirect frame",
     (long long)((1 << XEN_PAGE_SHIFT) / sizeof(struct blkif_request_segment))},

    CONSTANT(DOMID_FIRST_RESERVED),
    CONSTANT(DOMID_SELF),
    CONSTANT(DOMID_IO),
    CONSTANT(DOMID_XEN),
    CONSTANT(DOMID_COW),
    CONSTANT(DOMID_INVALID),
    CONSTANT(DOMID_IDLE),
    CONSTANT(DOMID_MASK),

    CONSTANT(GNTTAB_NR_RESERVED_ENTRIES),
    CONSTANT(GNTTAB_RESERVED_CONSOLE),
    CONSTANT(GNTTAB_RESERVED_XENSTORE),
    {"grant entries per frame", (long long)((1 << XEN_PAGE_SHIFT) / sizeof(grant_entry_v1_t))},
    CONSTANT(GTF_invalid),
    CONSTANT(GTF_permit_access),
    CONSTANT(GTF_accept_transfer),
    CONSTANT(GTF_transitive),
    CONSTANT(GTF_type_mask),
    CONSTANT(GTF_readonly),
    CONSTANT(GTF_reading),
    CONSTANT(GTF_writing),
    CONSTANT(GTF_PWT),
    CONSTANT(GTF_PCD),
    CONSTANT(GTF_PAT),
    CONSTANT(GTF_sub_page),
    CONSTANT(GTF_transfer_committed),
    CONSTANT(GTF_transfer_completed),
    CONSTANT(GNTMAP_device_map),
    CONSTANT(GNTMAP_host_map),
    CONSTANT(GNTMAP_readonly),
    CONSTANT(GNTMAP_application_map),
    CONSTANT(GNTMAP_contains_pte),
    CONSTANT(GNTMAP_guest_avail_mask),
    CONSTANT(GNTCOPY_source_gref),
    CONSTANT(GNTCOPY_dest_gref),
    CONSTANT(GNTST_okay),
    CONSTANT(GNTST_general_error),
    CONSTANT(GNTST_bad_domain),
    CONSTANT(GNTST_bad_gntref),
    CONSTANT(GNTST_bad_handle),
    CONSTANT(GNTST_bad_virt_addr),
    CONSTANT(GNTST_bad_dev_addr),
    CONSTANT(GNTST_no_device_space),
    CONSTANT(GNTST_permission_denied),
    CONSTANT(GNTST_bad_page),
    CONSTANT(GNTST_bad_copy_arg),
    CONSTANT(GNTST_address_too_big),
    CONSTANT(GNTST_eagain),
    CONSTANT(GNTST_no_space),

    CONSTANT(EVTCHN_2L_NR_CHANNELS),
    CONSTANT(EVTCHN_FIFO_NR_CHANNELS),
    CONSTANT(EVTCHNSTAT_closed),
    CONSTANT(EVTCHNSTAT_unbound),
    CONSTANT(EVTCHNSTAT_interdomain),
    CONSTANT(EVTCHNSTAT_pirq),
    CONSTANT(EVTCHNSTAT_virq),
    CONSTANT(EVTCHNSTAT_ipi),
};

size_t real_xen_constants(const struct real_xen_constant** table) {
    *table = constants;
    return sizeof constants / sizeof constants[0];
}

static const char* const gnttab_error_msgs[] = GNTTABOP_error_msgs;

size_t real_xen_gnttab_error_msgs(const char* const** messages) {
    *messages = gnttab_error_msgs;
    return sizeof gnttab_error_msgs / sizeof gnttab_error_msgs[0];
}

const char* real_xen_proto_abi_native(void) {
    return XEN_IO_PROTO_ABI_NATIVE;
}

uint32_t real_xen_blkif_const_ring_size(size_t bytes) {
    return __CONST_RING_SIZE(blkif, bytes);
}

/* Front end. */

struct real_xen_front {
    blkif_front_ring_t ring;
};

real_xen_front* real_xen_front_init_shared(void* area, size_t bytes) {
    real_xen_front* front = malloc(sizeof *front);
    if (front) {
        XEN_FRONT_RING_INIT(&front->ring, (blkif_sring_t*)area, bytes);
    }
    return front;
}

real_xen_front* real_xen_front_attach(void* area, size_t bytes, uint32_t index) {
    real_xen_front* front = malloc(sizeof *front);
    if (front) {
        FRONT_RING_ATTACH(&front->ring, (blkif_sring_t*)area, index, bytes);
    }
    return front;
}

void real_xen_front_free(real_xen_front* front) {
    free(front);
}

uint32_t real_xen_front_size(const real_xen_front* front) {
    return RING_SIZE(&front->ring);
}

uint32_t real_xen_front_req_prod_pvt(const real_xen_front* front) {
    return front->ring.req_prod_pvt;
}

uint32_t real_xen_front_rsp_cons(const real_xen_front* front) {
    return front->ring.rsp_cons;
}

uint32_t real_xen_front_free_requests(const real_xen_front* front) {
    return RING_FREE_REQUESTS(&front->ring);
}

int real_xen_front_full(const real_xen_front* front) {
    return RING_FULL(&front->ring);
}

uint32_t real_xen_front_unconsumed_responses(const real_xen_front* front) {
    return XEN_RING_NR_UNCONSUMED_RESPONSES(&front->ring);
}

void real_xen_front_produce_request(real_xen_front* front, const void* request) {
    memcpy(RING_GET_REQUEST(&front->ring, front->ring.req_prod_pvt), request,
           sizeof(struct blkif_request));
    front->ring.req_prod_pvt++;
}

void real_xen_front_push_requests(real_xen_front* front) {
    RING_PUSH_REQUESTS(&front->ring);
}

int real_xen_front_push_requests_and_check_notify(real_xen_front* front) {
    int notify;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&front->ring, notify);
    return notify;
}

void real_xen_front_consume_response(real_xen_front* front, void* response) {
    struct blkif_response copy;
    RING_COPY_RESPONSE(&front->ring, front->ring.rsp_cons, &copy);
    front->ring.rsp_cons++;
    memcpy(response, &copy, sizeof copy);
}

int real_xen_front_final_check_for_responses(real_xen_front* front) {
    int work_to_do;
    RING_FINAL_CHECK_FOR_RESPONSES(&front->ring, work_to_do);
    return work_to_do != 0;
}

int real_xen_front_response_prod_overflow(const real_xen_front* front, uint32_t prod) {
    return RING_RESPONSE_PROD_OVERFLOW(&front->ring, prod);
}

/* Back end. */

struct real_xen_back {
    blkif_back_ring_t ring;
};

real_xen_back* real_xen_back_attach(void* area, size_t bytes, uint32_t index) {
    real_xen_back* back = malloc(sizeof *back);
    if (back) {
        BACK_RING_ATTACH(&back->ring, (blkif_sring_t*)area, index, bytes);
    }
    return back;
}

void real_xen_back_free(real_xen_back* back) {
    free(back);
}

uint32_t real_xen_back_size(const real_xen_back* back) {
    return RING_SIZE(&back->ring);
}

uint32_t real_xen_back_rsp_prod_pvt(const real_xen_back* back) {
    return back->ring.rsp_prod_pvt;
}

uint32_t real_xen_back_req_cons(const real_xen_back* back) {
    return back->ring.req_cons;
}

uint32_t real_xen_back_unconsumed_requests(const real_xen_back* back) {
    return XEN_RING_NR_UNCONSUMED_REQUESTS(&back->ring);
}

void real_xen_back_consume_request(real_xen_back* back, void* request) {
    struct blkif_request copy;
    RING_COPY_REQUEST(&back->ring, back->ring.req_cons, &copy);
    back->ring.req_cons++;
    memcpy(request, &copy, sizeof copy);
}

void real_xen_back_produce_response(real_xen_back* back, const void* response) {
    memcpy(RING_GET_RESPONSE(&back->ring, back->ring.rsp_prod_pvt), response,
           sizeof(struct blkif_response));
    back->ring.rsp_prod_pvt++;
}

void real_xen_back_push_responses(real_xen_back* back) {
    RING_PUSH_RESPONSES(&back->ring);
}

int real_xen_back_push_responses_and_check_notify(real_xen_back* back) {
    int notify;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&back->ring, notify);
    return notify;
}

int real_xen_back_final_check_for_requests(real_xen_back* back) {
    int work_to_do;
    RING_FINAL_CHECK_FOR_REQUESTS(&back->ring, work_to_do);
    return work_to_do != 0;
}

int real_xen_back_request_cons_overflow(const real_xen_back* back, uint32_t cons) {
    return RING_REQUEST_CONS_OVERFLOW(&back->ring, cons);
}

int real_xen_back_request_prod_overflow(const real_xen_back* back, uint32_t prod) {
    return RING_REQUEST_PROD_OVERFLOW(&back->ring, prod);
}
